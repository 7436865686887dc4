"""SQLAlchemy 2 models of the warehouse, derived from the registry (no hand-kept column lists).

One Table per registry table (several registry entries may feed one table: their columns are
unioned in registry order), plus ``sync_state`` (per-object high-water marks) and ``sync_runs``
(one row per load, for monitoring). Alembic compares these models with the migrations
(``alembic check``), so a registry change without a migration fails the test suite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from salesforce_elt.engine import registry, types

SCHEMA = registry.warehouse_schema()

# Names stay stable (and readable in migrations) whatever order objects are added in.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

# Written by the loader on every synced table, after the Salesforce columns.
SYNC_METADATA_COLUMNS = ("sync_run_id", "synced_at", "sf_deleted_at")


class Base(DeclarativeBase):
    metadata = sa.MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


def _object_columns(specs: tuple[registry.SObjectSpec, ...]) -> list[sa.Column[Any]]:
    """The union of the entries' columns: key first, then fields and constants in registry order."""
    first = specs[0]
    columns: dict[str, sa.Column[Any]] = {
        first.key_column: sa.Column(
            first.key_column,
            sa.String(types.SALESFORCE_ID_LENGTH),
            primary_key=True,
            comment=f"Salesforce {first.primary_key} (18 characters)",
        )
    }
    for spec in specs:
        if spec.key_column != first.key_column:
            raise ValueError(f"{spec.name}: table {spec.table} already keyed on {first.key_column}")
        for f in spec.fields:
            column = sa.Column(
                f.column,
                types.column_type(f),
                nullable=f.nullable,
                index=f.index or None,
                comment=f"{spec.name}.{f.sf_name}" + (" (formula: may go stale)" if f.calculated else ""),
            )
            _add(columns, column, spec)
        for d in spec.derived:
            column = sa.Column(
                d.column,
                types.column_type(d.as_field()),
                index=d.index or None,
                comment=f"derived: {d.description}" if d.description else "derived in the transform",
            )
            _add(columns, column, spec)
        for name, _value in spec.constants:
            _add(columns, sa.Column(name, sa.Text(), nullable=False), spec)
    columns["sync_run_id"] = sa.Column("sync_run_id", sa.Text(), comment="Airflow run_id of the last write")
    columns["synced_at"] = sa.Column("synced_at", sa.DateTime(timezone=True), comment="time of the last write")
    columns["sf_deleted_at"] = sa.Column(
        "sf_deleted_at",
        sa.DateTime(timezone=True),
        comment="deletedDate from the /deleted feed (hard or soft delete)",
    )
    return list(columns.values())


def _add(columns: dict[str, sa.Column[Any]], column: sa.Column[Any], spec: registry.SObjectSpec) -> None:
    existing = columns.get(column.name)
    if existing is None:
        columns[column.name] = column
    elif repr(existing.type) != repr(column.type) or existing.nullable != column.nullable:
        raise ValueError(
            f"{spec.name}: column {spec.table}.{column.name} is {column.type} but another entry "
            f"feeding the table declares {existing.type}"
        )
    elif column.comment and column.comment not in (existing.comment or ""):
        existing.comment = f"{existing.comment}; {column.comment}"  # "Event.WhoId; Task.WhoId"


def _build_tables() -> dict[str, sa.Table]:
    tables = {}
    for table_name, specs in registry.tables().items():
        names = ", ".join(s.name for s in specs)
        tables[table_name] = sa.Table(
            table_name,
            Base.metadata,
            *_object_columns(specs),
            comment=f"Salesforce {names}, synced by salesforce_elt",
        )
    return tables


TABLES: dict[str, sa.Table] = _build_tables()


def _model_class(table: sa.Table) -> type[Base]:
    """A declarative class mapped to a registry table: sf_contacts -> SfContacts."""
    name = "".join(part.capitalize() for part in table.name.split("_"))
    return type(name, (Base,), {"__table__": table, "__doc__": table.comment})


# ORM access for ad-hoc scripts and tests; the loader itself works set-based in SQL.
MODELS: dict[str, type[Base]] = {name: _model_class(table) for name, table in TABLES.items()}


def table_for(spec: registry.SObjectSpec) -> sa.Table:
    return TABLES[spec.table]


def data_columns(table: sa.Table) -> list[str]:
    """Columns the transform writes (everything but the loader's sync metadata)."""
    return [c.name for c in table.columns if c.name not in SYNC_METADATA_COLUMNS]


class SyncState(Base):
    """The high-water mark of each synced object (the end of the last loaded window)."""

    __tablename__ = "sync_state"

    object_name: Mapped[str] = mapped_column(sa.Text(), primary_key=True)
    high_water_mark: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_run_id: Mapped[str | None] = mapped_column(sa.Text())
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


class SyncRun(Base):
    """One load of one object: what was read, written, how long it took, how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (sa.Index("ix_sync_runs_object_name_started_at", "object_name", "started_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger(), sa.Identity(always=False), primary_key=True)
    dag_id: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    run_id: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    object_name: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    window_start: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    api: Mapped[str | None] = mapped_column(sa.Text())
    job_ids: Mapped[list[str] | None] = mapped_column(pg.ARRAY(sa.Text()))
    rows_extracted: Mapped[int | None] = mapped_column(sa.BigInteger())
    rows_rejected: Mapped[int | None] = mapped_column(sa.BigInteger())
    new_records: Mapped[int | None] = mapped_column(sa.BigInteger())
    updated_records: Mapped[int | None] = mapped_column(sa.BigInteger())
    deleted_records: Mapped[int | None] = mapped_column(sa.BigInteger())
    seconds_extract: Mapped[float | None] = mapped_column(sa.Double())
    seconds_transform: Mapped[float | None] = mapped_column(sa.Double())
    seconds_load: Mapped[float | None] = mapped_column(sa.Double())
    api_calls: Mapped[int | None] = mapped_column(sa.Integer())
    api_usage_before: Mapped[str | None] = mapped_column(sa.Text())
    api_usage_after: Mapped[str | None] = mapped_column(sa.Text())
    status: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    error_message: Mapped[str | None] = mapped_column(sa.Text())
    records_cleaned: Mapped[int | None] = mapped_column(
        sa.BigInteger(), comment="records whose text values had NUL bytes removed by the transform"
    )
    deletes_reconciled: Mapped[str | None] = mapped_column(
        sa.Text(), comment="why deletes were found by comparing Ids instead of the /deleted feed; NULL if not"
    )
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


class ApiCallLog(Base):
    """One Salesforce API request made by an extract (no query string, no secrets): for quota audits."""

    __tablename__ = "api_call_log"
    __table_args__ = (sa.Index("ix_api_call_log_called_at", "called_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger(), sa.Identity(always=False), primary_key=True)
    called_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    dag_id: Mapped[str | None] = mapped_column(sa.Text())
    run_id: Mapped[str | None] = mapped_column(sa.Text())
    task_id: Mapped[str | None] = mapped_column(sa.Text())
    object_name: Mapped[str | None] = mapped_column(sa.Text())
    method: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    path: Mapped[str] = mapped_column(sa.Text(), nullable=False, comment="URL path only, never the query string")
    status: Mapped[int | None] = mapped_column(sa.Integer(), comment="HTTP status; NULL when no answer arrived")
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer())
    api_usage: Mapped[str | None] = mapped_column(sa.Text(), comment="Sforce-Limit-Info api-usage after the call")


class SchemaAudit(Base):
    """One drift check of one registered object by the daily schema-audit DAG."""

    __tablename__ = "schema_audit"
    __table_args__ = (sa.Index("ix_schema_audit_object_name_checked_at", "object_name", "checked_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger(), sa.Identity(always=False), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    run_id: Mapped[str | None] = mapped_column(sa.Text())
    object_name: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    drifted: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False)
    drift: Mapped[dict[str, Any]] = mapped_column(
        pg.JSONB(), nullable=False, comment="added / removed / changed fields (schema diff --json)"
    )
