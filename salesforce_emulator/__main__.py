"""CLI: `python -m salesforce_emulator serve|mutate|add-field|remove-field --data-dir DIR ...`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path


def _open_org(args):
    from salesforce_emulator.store import Org

    # attach() opens the org whatever (contacts, seed) it was generated with, so mutate works
    # beside a running server without knowing how it was started.
    return Org.attach(args.data_dir)


def _serve(args) -> int:
    from salesforce_emulator.faults import parse_cli_faults
    from salesforce_emulator.server import EmulatorServer
    from salesforce_emulator.wire import WireFormat

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = EmulatorServer(
        args.data_dir,
        host=args.host,
        port=args.port,
        contacts=args.contacts,
        seed=args.seed,
        token_lifetime=args.token_lifetime,
        daily_api_limit=args.daily_api_limit,
        bulk_delay=args.bulk_delay,
        faults=parse_cli_faults(args.fault),
        jwt_cert=args.jwt_cert,
        wire=WireFormat.parse(args.wire),
        shared_activities=args.shared_activities,
        org_kind=args.org_kind,
    )
    with server:
        print(json.dumps(server.connection_info), flush=True)
        stop.wait()
    return 0


def _mutate(args) -> int:
    org = _open_org(args)
    result = org.mutate(
        args.object,
        update=args.update,
        create=args.create,
        delete=args.delete,
        hard_delete=args.hard_delete,
        late_share=args.late_share,
        bump_parent=args.bump_parent,
    )
    out = {key: len(ids) for key, ids in result.items()}
    if args.purge_delete_log:
        # After the changes, so the hard deletes just made are among the entries purged.
        out["earliestDateAvailable"] = org.purge_delete_log(args.object)[org.sobject(args.object).name]
    print(json.dumps(out), flush=True)
    return 0


def _add_field(args) -> int:
    attrs = json.loads(args.attributes) if args.attributes else {}
    _open_org(args).add_field(args.object, args.field, args.type, **attrs)
    return 0


def _remove_field(args) -> int:
    _open_org(args).remove_field(args.object, args.field)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m salesforce_emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, required=True)

    serve = sub.add_parser("serve", help="serve the org over HTTPS until SIGTERM/SIGINT")
    common(serve)
    serve.add_argument("--contacts", type=int, default=2000)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--token-lifetime", type=float, default=7200)
    serve.add_argument("--daily-api-limit", type=int, default=15000)
    serve.add_argument("--bulk-delay", type=float, default=1.0)
    serve.add_argument("--jwt-cert", type=Path, default=None, help="PEM cert verifying JWT bearer assertions")
    serve.add_argument(
        "--org-kind",
        choices=("production", "sandbox"),
        default="production",
        help="the JWT bearer audience the org accepts: https://login.salesforce.com (production) "
        "or https://test.salesforce.com (sandbox)",
    )
    serve.add_argument("--fault", action="append", default=[], metavar="KEY=VALUE")
    serve.add_argument("--wire", default="", metavar="OPTIONS",
                       help="wire-format variations: 'realistic' (all), or a comma list of quote_all, "
                            "java_doubles, short_pages, max_page=N (default: none; see salesforce_emulator.wire)")
    serve.add_argument("--no-shared-activities", dest="shared_activities", action="store_false",
                       help="an org without Shared Activities: no TaskRelation, TaskWhoRelation or "
                            "EventWhoRelation (INVALID_TYPE), one WhoId per activity")
    serve.set_defaults(func=_serve)

    mutate = sub.add_parser("mutate", help="update/create/delete records in the store")
    common(mutate)
    mutate.add_argument("--object", default="Contact")
    for name in ("update", "create", "delete", "hard-delete"):
        mutate.add_argument(f"--{name}", type=int, default=0)
    mutate.add_argument("--late-share", type=float, default=0.0)
    mutate.add_argument("--bump-parent", action="store_true",
                        help="relations: also bump the parent Task/Event's SystemModstamp (default: not)")
    mutate.add_argument(
        "--purge-delete-log",
        action="store_true",
        help="then trim the object's delete log up to now, as Salesforce does when it grows large: "
        "/deleted refuses earlier starts (INVALID_REPLICATION_DATE)",
    )
    mutate.set_defaults(func=_mutate)

    add = sub.add_parser("add-field", help="add a field to an object (schema drift)")
    common(add)
    add.add_argument("--object", required=True)
    add.add_argument("--field", required=True)
    add.add_argument("--type", default="string")
    add.add_argument("--attributes", help="JSON object of extra describe attributes")
    add.set_defaults(func=_add_field)

    remove = sub.add_parser("remove-field", help="remove a field from an object (schema drift)")
    common(remove)
    remove.add_argument("--object", required=True)
    remove.add_argument("--field", required=True)
    remove.set_defaults(func=_remove_field)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
