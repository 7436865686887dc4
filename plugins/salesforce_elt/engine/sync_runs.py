"""The one writer of ``sync_runs`` rows (one row per object per run attempt).

Two callers, one statement (sql/insert_sync_run.sql): the loader, inside the load's transaction
(``success``; ``failed`` when the load itself fails), and ``monitoring.record_run`` for the
outcomes the loader never sees (``skipped``, ``failed`` before the load), on a connection of its
own. Both hand over a dict of column values; this module fills the rest with NULL, caps the error
message and stamps ``finished_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from salesforce_elt.engine.load_types import qualified, template
from salesforce_elt.engine.warehouse import one_row

if TYPE_CHECKING:
    import psycopg

ERROR_LIMIT = 4000  # characters of an error message kept
STATUSES = ("success", "failed", "skipped")
COLUMNS = (
    "dag_id",
    "run_id",
    "object_name",
    "window_start",
    "window_end",
    "api",
    "job_ids",
    "rows_extracted",
    "rows_rejected",
    "records_cleaned",
    "new_records",
    "updated_records",
    "deleted_records",
    "seconds_extract",
    "seconds_transform",
    "seconds_load",
    "api_calls",
    "api_usage_before",
    "api_usage_after",
    "status",
    "error_message",
    "deletes_reconciled",
    "started_at",
)


def row(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of the statement: the given values, NULL for the rest, the error capped."""
    unknown = sorted(set(values) - set(COLUMNS))
    if unknown:
        raise TypeError(f"sync_runs has no column {', '.join(unknown)}")
    if values.get("status") not in STATUSES:
        raise ValueError(f"sync_runs status {values.get('status')!r} is not one of {', '.join(STATUSES)}")
    result = {column: values.get(column) for column in COLUMNS}
    if result["error_message"]:
        result["error_message"] = str(result["error_message"])[:ERROR_LIMIT]
    return result


def insert(conn: psycopg.Connection[Any], values: Mapping[str, Any]) -> int:
    """Insert one row on ``conn`` (in its current transaction); returns the row's id."""
    statement = template("insert_sync_run.sql").format(sync_runs=qualified("sync_runs"))
    return int(one_row(conn.execute(statement, row(values)), "the sync_runs insert")[0])
