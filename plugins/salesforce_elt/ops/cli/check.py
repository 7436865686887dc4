"""`check`: the preflight from a shell — Salesforce login, describes, API budget; warehouse
reachable and migrated. One line per finding; exit 1 when something must be fixed."""

from __future__ import annotations

import argparse

from salesforce_elt.engine import registry
from salesforce_elt.ops.cli import CliError, conn_id_help, warehouse_conn_id_help
from salesforce_elt.ops.cli.schema import logs_to_stderr


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("check", help="verify the Salesforce and warehouse connections")
    parser.add_argument("--conn-id", default=None, help=conn_id_help("Salesforce connection"))
    parser.add_argument("--warehouse-conn-id", default=None, help=warehouse_conn_id_help())
    parser.add_argument("--object", action="append", help="registered object to describe (default: all)")
    parser.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from salesforce_elt.ops import preflight

    try:
        objects = (
            [registry.get_object(n).name for n in args.object] if args.object else list(registry.REGISTRY)
        )
    except KeyError as exc:
        raise CliError(exc.args[0]) from None
    with logs_to_stderr():
        findings = [
            *preflight.check_settings(),
            *preflight.check_salesforce(args.conn_id, objects),
            *preflight.check_warehouse(args.warehouse_conn_id),
        ]
    print(preflight.verdict(findings))
    return 1 if preflight.problems(findings) else 0
