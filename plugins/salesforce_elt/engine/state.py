"""High-water marks: where each object's last successful load ended (``<schema>.sync_state``).

The loader advances the mark in the same transaction that writes the rows, so the mark never
runs ahead of the data. It only moves forward: loading an older interval again (a backfill)
leaves it where it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from psycopg import sql

from salesforce_elt import settings
from salesforce_elt.engine import warehouse
from salesforce_elt.engine.registry import warehouse_schema

if TYPE_CHECKING:
    import psycopg


def _table() -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(warehouse_schema()), sql.Identifier("sync_state"))


def get_high_water_mark(
    object_name: str, *, conn: psycopg.Connection | None = None, conn_id: str | None = None
) -> datetime | None:
    """The end of the last loaded window for ``object_name``, or None before the first load.

    Reads through ``conn`` when given, else the Airflow connection (``conn_id``, default
    settings.WAREHOUSE_CONN_ID): the same one the load task writes the mark through.
    """
    query = sql.SQL("SELECT high_water_mark FROM {} WHERE object_name = %s").format(_table())
    if conn is not None:
        row = conn.execute(query, (object_name,)).fetchone()
    else:
        with warehouse.connect(conn_id or settings.WAREHOUSE_CONN_ID) as own:
            row = own.execute(query, (object_name,)).fetchone()
    return row[0] if row else None


def set_high_water_mark(
    conn: psycopg.Connection, object_name: str, high_water_mark: datetime, run_id: str | None
) -> datetime:
    """Advance the mark (never backwards) inside the caller's transaction; return the stored mark."""
    if high_water_mark.tzinfo is None:
        raise ValueError(f"high-water mark for {object_name} must be timezone-aware, got {high_water_mark!r}")
    query = sql.SQL(
        """
        INSERT INTO {table} AS s (object_name, high_water_mark, last_run_id, updated_at)
        VALUES (%(object)s, %(mark)s, %(run_id)s, now())
        ON CONFLICT (object_name) DO UPDATE
        SET high_water_mark = GREATEST(s.high_water_mark, EXCLUDED.high_water_mark),
            last_run_id = EXCLUDED.last_run_id,
            updated_at = EXCLUDED.updated_at
        RETURNING high_water_mark
        """
    ).format(table=_table())
    cursor = conn.execute(query, {"object": object_name, "mark": high_water_mark, "run_id": run_id})
    mark: datetime = warehouse.one_row(cursor, f"the {object_name} high-water mark")[0]
    return mark
