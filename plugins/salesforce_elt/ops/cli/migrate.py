"""`migrate`: bring the warehouse schema to the migrations' head (Alembic), or print the DDL for a DBA.

The warehouse is the one every other command uses ($SALESFORCE_ELT_WAREHOUSE_URL, else the Airflow
connection ``salesforce_warehouse``). Alembic keeps its own version table in the target schema
(``alembic_version_salesforce_elt``), so Airflow's metadata tables are never touched, even in the
same database.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import TYPE_CHECKING

from salesforce_elt import settings
from salesforce_elt.ops.cli import CliError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.config import Config

CONNECT_TIMEOUT_S = 10


def _alembic_config(url: object | None = None) -> Config:
    from alembic.config import Config

    from salesforce_elt.ops.preflight import REPO_ROOT

    config = Config(str(REPO_ROOT / "alembic.ini"))
    # The CLI keeps its own logging: Alembic's INFO lines would drown the one-line summary.
    config.attributes["configure_logger"] = False
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    return config


def _warehouse_name() -> str:
    if settings.warehouse_url():
        return settings.WAREHOUSE_URL_ENV
    return f"connection {settings.WAREHOUSE_CONN_ID}"


def _current_revisions(url: str | sa.URL) -> tuple[str, ...]:
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext

    from salesforce_elt.engine.registry import warehouse_schema
    from salesforce_elt.ops.preflight import VERSION_TABLE

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"version_table": VERSION_TABLE, "version_table_schema": warehouse_schema()},
            )
            return tuple(context.get_current_heads())
    finally:
        engine.dispose()


def _label(revisions: tuple[str, ...] | set[str]) -> str:
    return ", ".join(sorted(revisions)) or "an empty schema"


def _migrate(args: argparse.Namespace) -> int:
    import logging

    import sqlalchemy as sa
    from alembic import command

    # Reading an Airflow connection sets up Airflow's logging, which would print Alembic's INFO lines;
    # the command says what it did in one line of its own.
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from salesforce_elt.engine import warehouse
    from salesforce_elt.engine.registry import warehouse_schema
    from salesforce_elt.ops.preflight import alembic_heads

    heads = alembic_heads()
    if args.sql:
        start = args.from_revision
        config = _alembic_config(sa.URL.create("postgresql+psycopg"))
        output = io.StringIO()
        config.output_buffer = output
        if start in (None, "base"):
            print(f"CREATE SCHEMA IF NOT EXISTS {warehouse_schema()};\n")
        command.upgrade(config, f"{start}:head" if start not in (None, "base") else "head", sql=True)
        print(output.getvalue(), end="")
        return 0
    try:
        url = warehouse.sqlalchemy_url()
    except Exception as exc:  # no URL and no Airflow connection defined
        raise CliError(
            f"no warehouse configured ({exc}); set {settings.WAREHOUSE_URL_ENV} or the Airflow "
            f"connection {settings.WAREHOUSE_CONN_ID}"
        ) from None
    where = _warehouse_name()
    try:
        before = _current_revisions(url)
        if set(before) == heads:
            print(f"warehouse ({where}, schema {warehouse_schema()}): already at head ({_label(heads)})")
            return 0
        with contextlib.redirect_stdout(io.StringIO()):
            command.upgrade(_alembic_config(url), "head")
        after = _current_revisions(url)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise CliError(f"warehouse ({where}) unreachable: {reason}") from None
    print(
        f"warehouse ({where}, schema {warehouse_schema()}): migrated from {_label(before)} to {_label(after)}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = subparsers.add_parser(
        "migrate",
        help="create or upgrade the warehouse tables (Alembic upgrade head); --sql prints the DDL instead",
    )
    migrate.add_argument(
        "--sql",
        action="store_true",
        help="print the DDL (for a DBA to review and run) instead of applying it; no connection needed",
    )
    migrate.add_argument(
        "--from",
        dest="from_revision",
        default=None,
        metavar="REVISION",
        help="with --sql: the revision the warehouse is at (default: an empty schema)",
    )
    migrate.set_defaults(handler=_migrate)
