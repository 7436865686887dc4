"""`storage`: warehouse table sizes, bytes per row and the projected size of the whole org."""

from __future__ import annotations

import argparse
import json

from salesforce_elt.engine import registry
from salesforce_elt.ops.cli import CliError, conn_id_help
from salesforce_elt.ops.cli.schema import logs_to_stderr, salesforce_hook


def _record_counts(conn_id: str) -> dict[str, int]:
    from salesforce_elt.airflow.hooks.errors import SalesforceApiError

    try:
        return salesforce_hook(conn_id).record_counts(sorted(registry.REGISTRY))
    except SalesforceApiError as exc:
        raise CliError(f"/limits/recordCount: {exc}") from None


def _storage(args: argparse.Namespace) -> int:
    import psycopg

    from salesforce_elt.engine import warehouse
    from salesforce_elt.ops.schema.storage import render_text, storage_report

    try:
        with logs_to_stderr():
            counts = None if args.no_projection else _record_counts(args.conn_id)
            with warehouse.connect() as conn:
                report = storage_report(conn, counts)
    except LookupError as exc:
        raise CliError(str(exc)) from None
    except psycopg.Error as exc:
        raise CliError(f"warehouse: {exc}") from None
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    storage = subparsers.add_parser(
        "storage",
        help="rows, table/index/TOAST bytes and bytes per row per synced table; whole-org projection",
    )
    storage.add_argument("--json", action="store_true", help="machine-readable output")
    storage.add_argument("--conn-id", default=None, help=conn_id_help())
    storage.add_argument(
        "--no-projection", action="store_true", help="skip /limits/recordCount (no Salesforce call)"
    )
    storage.set_defaults(handler=_storage)
