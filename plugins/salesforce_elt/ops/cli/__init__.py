"""The command line: one module per command group, each exposing ``register(subparsers)``.

A command's handler returns the process exit code; a ``CliError`` becomes one line on stderr
naming what to fix (never a stack trace).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys

from salesforce_elt import settings


class CliError(Exception):
    """A problem the person at the terminal can fix; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m salesforce_elt",
        description="Salesforce -> PostgreSQL ELT: schema tools, usage summary, preflight checks.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def conn_id_help(what: str = "Salesforce connection id") -> str:
    """Help for ``--conn-id``: its default is read when the command runs, not when --help prints."""
    setting = settings.SETTINGS["salesforce_conn_id"]
    return f"{what} (default: ${setting.env} or [{settings.SECTION}] {setting.key}, else {setting.default})"


def warehouse_conn_id_help() -> str:
    setting = settings.SETTINGS["warehouse_conn_id"]
    return (
        f"warehouse connection (default: ${settings.WAREHOUSE_URL_ENV}, else the connection named by "
        f"${setting.env} or [{settings.SECTION}] {setting.key}, else {setting.default})"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "conn_id", "") is None:
        # Reading a setting may load Airflow's configuration, which can log: a command's stdout
        # is its result (--json is parsed by scripts), so that goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            args.conn_id = settings.salesforce_conn_id()
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
