"""Typed CSV -> the warehouse table, in one transaction, set-based (COPY + one upsert statement).

Steps (all or nothing):
1. ``pg_advisory_xact_lock(hashtext('salesforce_elt:<schema>.<table>'))``: two runs loading the
   same table (a backfill next to the hourly run) take turns instead of interleaving.
2. ``CREATE TEMP TABLE ... (LIKE target INCLUDING DEFAULTS) ON COMMIT DROP``; COPY every typed
   part into it, streamed in chunks (``COPY ... (FORMAT csv, HEADER match)`` also checks the
   columns); the COPYed row count must equal what the transform wrote.
3. ``sql/upsert.sql``: dedupe, insert new, update changed-and-not-older, count both.
   Fast path, for a target with no rows at all (a first load, a full refresh into an emptied
   table): COPY the typed parts straight into the target instead, the sync metadata the upsert
   would write appended to every CSV record as it streams by, the table's plain indexes dropped
   before and rebuilt after from the catalog's definitions, inside a savepoint; a duplicate Id
   in the batch (a unique violation) rolls the savepoint back and the batch takes steps 2-3.
   A table that held nothing has no row the batch lacks: step 4 then only applies the /deleted
   feed (the full-refresh and relation reconciliations would find nothing).
4. (load_deletes.py) ``sql/mark_deleted.sql`` for the /deleted feed (hard deletes); after a complete full refresh,
   ``sql/mark_missing_deleted.sql`` for rows purged longer ago than the feed remembers. The
   same rule against the object's current Ids when the extract could not use the /deleted feed
   (purged delete log, window older than 15 days): ``sync_runs.deletes_reconciled`` says why.
   Relations (TaskWhoRelation: no queryAll, no feed): ``sql/mark_removed_relations.sql`` flags
   the rows of re-read parents that the re-read lacks (is_deleted = true, sf_deleted_at = the
   window end) rather than deleting them, like every other delete in the warehouse.
5. Advance the high-water mark to the window end (unless the read does not start at or before
   it), insert the ``sync_runs`` row.
Nothing is inserted row by row.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from psycopg import errors, sql
from psycopg.pq import TransactionStatus

from salesforce_elt.engine import load_deletes, models, state
from salesforce_elt.engine.load_types import (
    DELETED_HEADER,
    ID_LIST_HEADER,
    SQL_DIR,
    IdReconcile,
    LoadError,
    LoadRequest,
    LoadStats,
    RelationScope,
    qualified,
    template,
)
from salesforce_elt.engine.registry import SObjectSpec, warehouse_schema
from salesforce_elt.engine.warehouse import one_row

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import psycopg

__all__ = [
    "DELETED_HEADER",
    "ID_LIST_HEADER",
    "SQL_DIR",
    "IdReconcile",
    "LoadError",
    "LoadRequest",
    "LoadStats",
    "RelationScope",
    "load",
    "qualified",
    "record_run",
    "table_health",
    "template",
    "upsert_statement",
]

log = logging.getLogger(__name__)

COPY_CHUNK = 1024 * 1024


def _names(columns: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def upsert_statement(spec: SObjectSpec, columns: list[str], staging: str) -> sql.Composed:
    key, cursor = spec.key_column, spec.cursor_column
    non_key = [c for c in columns if c != key]
    has_deleted = "is_deleted" in columns
    return template("upsert.sql").format(
        target=qualified(spec.table),
        staging=sql.Identifier(staging),
        key=sql.Identifier(key),
        cursor=sql.Identifier(cursor),
        columns=_names(columns),
        updates=sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in non_key
        ),
        target_row=sql.SQL("ROW({})").format(
            sql.SQL(", ").join(sql.SQL("target.{}").format(sql.Identifier(c)) for c in non_key)
        ),
        excluded_row=sql.SQL("ROW({})").format(
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in non_key)
        ),
        deleted_at=sql.SQL(
            ",\n        sf_deleted_at = CASE WHEN EXCLUDED.is_deleted THEN target.sf_deleted_at END"
            if has_deleted
            else ""
        ),
        deleted_flag=sql.SQL("is_deleted" if has_deleted else "false"),
    )


def _check_columns(request: LoadRequest) -> None:
    table = models.table_for(request.spec)
    known = set(models.data_columns(table))
    unknown = [c for c in request.columns if c not in known]
    if unknown or request.spec.key_column not in request.columns:
        raise LoadError(
            f"{request.spec.name}: typed columns {unknown} are not in {request.spec.table} "
            f"(or the key {request.spec.key_column} is missing): migrate the warehouse (alembic upgrade head)"
        )


def _csv_field(value: str) -> bytes:
    return ('"' + value.replace('"', '""') + '"').encode()


def _append_fields(chunks: Iterable[bytes], header: bytes, row: bytes) -> Iterator[bytes]:
    """The CSV in ``chunks`` with ``header`` appended to its first record and ``row`` to every other.

    A record ends at a newline outside quotes. Every quote toggles "inside quotes" (an escaped
    ``""`` toggles twice), which is how PostgreSQL's CSV reader finds record ends too. Streams:
    only the unfinished last line of a chunk is held back for the next one.
    """
    suffix, quoted, pending = header, False, b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for i, line in enumerate(lines):
            if line.count(b'"') % 2:
                quoted = not quoted
            if not quoted:  # the record ends here: the fields go before its "\n" or "\r\n"
                lines[i] = line[:-1] + suffix + b"\r" if line.endswith(b"\r") else line + suffix
                suffix = row
        if lines:
            lines.append(b"")
            yield b"\n".join(lines)
    if pending:  # a last record without a line terminator
        yield pending + suffix


def _copy_typed(
    cur: psycopg.Cursor, table: sql.Composable, request: LoadRequest, metadata: dict[str, str] | None = None
) -> int:
    """COPY every typed part into ``table``; ``metadata`` (column: value) is appended to each row."""
    columns = [*request.columns, *(metadata or ())]
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER match)").format(table, _names(columns))
    total = 0
    for name in request.typed_files:
        path = request.typed_dir / name
        if not path.exists():
            raise LoadError(f"{request.spec.name}: typed file {path} does not exist")
        with path.open("rb") as source, cur.copy(copy_sql) as copy:
            chunks = iter(partial(source.read, COPY_CHUNK), b"")
            if metadata:
                chunks = _append_fields(
                    chunks,
                    b"".join(b"," + _csv_field(c) for c in metadata),
                    b"".join(b"," + _csv_field(v) for v in metadata.values()),
                )
            for chunk in chunks:
                copy.write(chunk)
        total += cur.rowcount
    if total != request.expected_rows:
        raise LoadError(
            f"{request.spec.name}: COPY loaded {total} rows but the transform wrote {request.expected_rows}"
        )
    return total


def _copy_direct(conn: psycopg.Connection, cur: psycopg.Cursor, request: LoadRequest) -> tuple[int | None, str]:
    """A first load: COPY straight into the empty target, writing what the upsert's INSERT would.

    Returns (rows copied, "") or (None, why the staged upsert must run instead). A batch holding
    an Id twice is one (the upsert keeps the newest): its savepoint is rolled back, so nothing of
    the attempt remains.
    """
    table = qualified(request.spec.table)
    cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(table))
    if not one_row(cur, f"{request.spec.table} emptiness")[0]:
        return None, "the table has rows"
    (now,) = one_row(cur.execute("SELECT now()"), "now()")  # the upsert's synced_at: the transaction's start
    metadata = {"sync_run_id": request.sync_run_id, "synced_at": now.isoformat()}
    try:
        with conn.transaction():  # a savepoint: a rollback also brings back the dropped indexes
            indexes = cur.execute(template("secondary_indexes.sql"),
                                  {"schema": warehouse_schema(), "table": request.spec.table}).fetchall()
            # Building an index once over the loaded rows is several times cheaper than updating
            # it row by row (the primary key stays: it catches a duplicate Id). Readers of the
            # empty table wait for the commit (DROP INDEX locks it) rather than see it half-loaded.
            for name, _definition in indexes:
                cur.execute(sql.SQL("DROP INDEX {}").format(qualified(name)))
            copied = _copy_typed(cur, table, request, metadata)
            for _name, definition in indexes:
                cur.execute(definition)  # pg_get_indexdef's own text: the exact index Alembic made
            return copied, ""
    except errors.UniqueViolation as exc:
        return None, f"a duplicate Id in the batch made the direct COPY fail: {exc.diag.message_detail}"


def load(conn: psycopg.Connection, request: LoadRequest) -> LoadStats:
    """Run the whole load in one transaction on ``conn`` (committed on success, rolled back on error)."""
    started = time.monotonic()
    spec = request.spec
    if conn.info.transaction_status != TransactionStatus.IDLE:
        # Inside an open transaction ours would only be a savepoint: nothing committed, the lock
        # and temp tables held until the caller's commit.
        raise LoadError(f"{spec.name}: load() needs a connection outside any transaction (it commits its own)")
    _check_columns(request)
    stats = LoadStats()
    staging, deleted_staging = f"_stage_{spec.table}", f"_deleted_{spec.table}"
    target = qualified(spec.table)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"salesforce_elt:{warehouse_schema()}.{spec.table}",)
        )
        direct, staged_because = (
            _copy_direct(conn, cur, request) if request.allow_direct_copy else (None, "direct COPY not allowed")
        )
        if direct is not None:
            # Every row is new (one first seen deleted counts as new, as in the upsert), and a
            # table that held nothing has no row the batch could lack: nothing to reconcile.
            stats.copied_rows = stats.new_records = direct
            log.info("%s: %d row(s) COPYed straight into the empty %s", spec.name, direct, spec.table)
        else:
            cur.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    sql.Identifier(staging), target
                )
            )
            stats.copied_rows = _copy_typed(cur, sql.Identifier(staging), request)
            cur.execute(upsert_statement(spec, request.columns, staging), {"sync_run_id": request.sync_run_id})
            stats.new_records, stats.updated_records, stats.deleted_records = one_row(cur, f"the {spec.name} upsert")
            log.info("%s: %d row(s) staged and upserted into %s (%s)",
                     spec.name, stats.copied_rows, spec.table, staged_because)
            if request.reconcile_missing and spec.has_is_deleted and request.window_end is not None:
                stats.deleted_records += load_deletes.mark_missing_deleted(cur, staging, request)
            if request.relation_scope is not None and request.window_end is not None:
                stats.deleted_records += load_deletes.mark_removed_relations(
                    cur, staging, request, request.relation_scope
                )
        if request.id_reconcile is not None and spec.has_is_deleted and request.window_end is not None:
            marked, stats.deletes_reconciled = load_deletes.reconcile_ids(
                cur, f"_ids_{spec.table}", request, request.id_reconcile
            )
            stats.deleted_records += marked
        if request.deleted_file is not None and spec.has_is_deleted:
            stats.deleted_records += load_deletes.mark_feed_deleted(cur, deleted_staging, request)
        if request.window_end is not None and request.advance_high_water_mark:
            mark = request.window_end
            if request.deletes_covered_to is not None and request.deletes_covered_to < mark:
                mark = request.deletes_covered_to
                log.info("%s: high-water mark held at the /deleted feed's latestDateCovered %s", spec.name, mark)
            stats.high_water_mark = state.set_high_water_mark(conn, spec.name, mark, request.sync_run_id)
        stats.seconds = time.monotonic() - started
        record_run(conn, request, stats, status="success")
    return stats


def _run_row(request: LoadRequest, stats: LoadStats | None, status: str, error: str | None) -> dict[str, Any]:
    run = request.run
    row = {
        "dag_id": run.get("dag_id", ""),
        "run_id": request.sync_run_id,
        "object_name": request.spec.name,
        "window_start": run.get("window_start"),
        "window_end": request.window_end,
        "api": run.get("api"),
        "job_ids": run.get("job_ids"),
        "rows_extracted": run.get("rows_extracted"),
        "rows_rejected": run.get("rows_rejected"),
        "records_cleaned": run.get("records_cleaned"),
        "deletes_reconciled": run.get("deletes_reconciled"),
        "new_records": None,
        "updated_records": None,
        "deleted_records": None,
        "seconds_extract": run.get("seconds_extract"),
        "seconds_transform": run.get("seconds_transform"),
        "seconds_load": None,
        "api_calls": run.get("api_calls"),
        "api_usage_before": run.get("api_usage_before"),
        "api_usage_after": run.get("api_usage_after"),
        "status": status,
        "error_message": error[:4000] if error else None,
        "started_at": run.get("started_at"),
    }
    if stats is not None:
        row.update(
            new_records=stats.new_records,
            updated_records=stats.updated_records,
            deleted_records=stats.deleted_records,
            seconds_load=round(stats.seconds, 3),
            deletes_reconciled=stats.deletes_reconciled or row["deletes_reconciled"],
        )
    return row


def record_run(
    conn: psycopg.Connection, request: LoadRequest, stats: LoadStats | None, *, status: str,
    error: str | None = None,
) -> int:
    """Insert the ``sync_runs`` row (inside the load's transaction, or alone for a failure)."""
    from salesforce_elt.engine import sync_runs  # the one writer of sync_runs rows

    return sync_runs.insert(conn, _run_row(request, stats, status, error))


def table_health(conn: psycopg.Connection, spec: SObjectSpec) -> dict[str, Any]:
    statement = template("check_table.sql").format(
        target=qualified(spec.table),
        cursor=sql.Identifier(spec.cursor_column),
        is_deleted=sql.Identifier("is_deleted") if spec.has_is_deleted else sql.SQL("false"),
    )
    cur = conn.execute(statement)
    names = [d.name for d in cur.description or ()]
    return dict(zip(names, one_row(cur, f"{spec.table} health"), strict=True))
