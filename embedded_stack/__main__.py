"""`python -m embedded_stack demo | airflow | compose-check` — what the Make targets run."""

from __future__ import annotations

import argparse
import sys

from embedded_stack.stack import StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded_stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run every sync DAG once on the embedded stack and print the summary")
    airflow = sub.add_parser("airflow", help="the embedded stack plus `airflow standalone`")
    airflow.add_argument(
        "--executor", choices=("local", "celery"), default="local",
        help="celery: Redis, an S3-compatible staging store and two Celery workers instead of standalone",
    )
    sub.add_parser("compose-check", help="validate docker-compose.yaml and the Dockerfile offline")
    sub.add_parser("down", help="stop a stack left running by an interrupted command")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from embedded_stack.demo import run_demo

            return run_demo()
        if args.command == "airflow" and args.executor == "celery":
            from embedded_stack.celery_cluster import run_celery_airflow

            return run_celery_airflow()
        if args.command == "airflow":
            from embedded_stack.standalone import run_standalone

            return run_standalone()
        if args.command == "compose-check":
            from embedded_stack.deploy_check import check_deployment_files

            return check_deployment_files()
        if args.command == "down":
            from embedded_stack.stack import stop_leftovers

            return stop_leftovers()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
