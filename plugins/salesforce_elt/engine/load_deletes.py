"""How the load marks deleted rows (step 4 of load.py), one function per source of deletions.

- the /deleted feed (``deleted.csv``): ``sql/mark_deleted.sql``;
- a complete read (full refresh, or every current Id when the feed could not cover the window):
  ``sql/mark_missing_deleted.sql`` flags the stored rows missing from it, and
  ``sql/date_soft_deletes.sql`` dates the soft deletes of an Id list;
- relations (delete_handling "relations"): ``sql/mark_removed_relations.sql`` flags the rows of
  re-read parents that the re-read lacks.

Rows are flagged (is_deleted = true, sf_deleted_at), never deleted, like every delete in the warehouse.
Which of these a run applies follows from the object's delete strategy (deletes.py, which names
the templates).
"""

from __future__ import annotations

import csv
import io
import logging
from typing import TYPE_CHECKING, Any

from psycopg import sql

from salesforce_elt.engine import types
from salesforce_elt.engine.deletes import (
    DATE_SOFT_DELETES,
    MARK_DELETED,
    MARK_MISSING_DELETED,
    MARK_REMOVED_RELATIONS,
)
from salesforce_elt.engine.load_types import (
    DELETED_HEADER,
    ID_LIST_HEADER,
    IdReconcile,
    LoadError,
    LoadRequest,
    RelationScope,
    qualified,
    template,
)
from salesforce_elt.engine.warehouse import one_row

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("salesforce_elt.engine.load.deletes")  # under the load's logger: its log settings apply


def _count(cur: psycopg.Cursor[Any]) -> int:
    """The one count a marking statement returns."""
    return int(one_row(cur, "a marking statement's count")[0])


def copy_deleted(cur: psycopg.Cursor, staging: str, request: LoadRequest, deleted_file: Any) -> int:
    """deleted.csv (Id,deletedDate as Salesforce prints them) -> temp table, validated row by row."""
    spec = request.spec
    key = types.key_converter(spec.name, spec.key_prefix)
    deleted_date = types.required(types.datetime_text)
    copy_sql = sql.SQL("COPY {} (salesforce_id, deleted_at) FROM STDIN").format(sql.Identifier(staging))
    rows = 0
    with (
        io.TextIOWrapper(deleted_file.open("rb"), encoding="utf-8", newline="") as source,
        cur.copy(copy_sql) as copy,
    ):
        reader = csv.reader(source, strict=True)
        header = next(reader, None)
        if header is None or [h.lower() for h in header] != [h.lower() for h in DELETED_HEADER]:
            raise LoadError(f"{spec.name}: {deleted_file} header is {header}, expected {DELETED_HEADER}")
        for row in reader:
            try:
                record_id, deleted_at = key(row[0]), deleted_date(row[1])
            except (IndexError, types.ConversionError) as exc:
                raise LoadError(
                    f"{spec.name}: bad row {reader.line_num} in {deleted_file}: {row!r} ({exc})"
                ) from exc
            copy.write_row((record_id, deleted_at))
            rows += 1
    return rows


def mark_missing_deleted(cur: psycopg.Cursor, staging: str, request: LoadRequest) -> int:
    spec = request.spec
    # Statistics let the planner pick a hash anti-join over the whole refresh, not a nested loop.
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(staging)))
    cur.execute(
        template(MARK_MISSING_DELETED).format(
            target=qualified(spec.table),
            key=sql.Identifier(spec.key_column),
            cursor=sql.Identifier(spec.cursor_column),
            staging=sql.Identifier(staging),
        ),
        {"window_end": request.window_end, "sync_run_id": request.sync_run_id, "key_prefix": spec.key_prefix},
    )
    purged = _count(cur)
    log.info("%s: %d row(s) missing from the complete read marked deleted (purged in Salesforce)", spec.name, purged)
    return purged


def copy_parent_ids(cur: psycopg.Cursor, staging: str, request: LoadRequest, scope: RelationScope) -> int:
    """The scope's parent ids (first column of each file, header skipped) -> temp table."""
    key = types.key_converter(f"{request.spec.name} parent", scope.parent_prefix)
    copy_sql = sql.SQL("COPY {} (parent_id) FROM STDIN").format(sql.Identifier(staging))
    rows = 0
    for path in scope.parent_files:
        with (
            io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="") as source,
            cur.copy(copy_sql) as copy,
        ):
            reader = csv.reader(source, strict=True)
            header = next(reader, None)
            if not header or header[0].lower() != "id":
                raise LoadError(f"{request.spec.name}: {path} header is {header}, expected Id first")
            for row in reader:
                try:
                    copy.write_row((key(row[0] if row else ""),))
                except types.ConversionError as exc:
                    raise LoadError(f"{request.spec.name}: bad row {reader.line_num} in {path}: {exc}") from exc
                rows += 1
    return rows


def reconcile_ids(
    cur: psycopg.Cursor, staging: str, request: LoadRequest, reconcile: IdReconcile
) -> tuple[int, str]:
    """Flag the stored rows missing from the object's current Ids; returns (rows marked, the sync_runs note)."""
    spec = request.spec
    key = types.key_converter(spec.name, spec.key_prefix)
    is_deleted = types.required(types.converter(next(f for f in spec.fields if f.sf_name == "IsDeleted")))
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {} ({} varchar(18) NOT NULL, is_deleted boolean) ON COMMIT DROP").format(
            sql.Identifier(staging), sql.Identifier(spec.key_column)
        )
    )
    copy_sql = sql.SQL("COPY {} ({}, is_deleted) FROM STDIN").format(
        sql.Identifier(staging), sql.Identifier(spec.key_column)
    )
    ids = 0
    for name in reconcile.files:
        path = reconcile.ids_dir / name
        if not path.exists():
            raise LoadError(f"{spec.name}: Id list file {path} does not exist")
        with (
            io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="") as source,
            cur.copy(copy_sql) as copy,
        ):
            reader = csv.reader(source, strict=True)
            header = next(reader, None)
            if [h.lower() for h in header or ()] != [h.lower() for h in ID_LIST_HEADER]:
                raise LoadError(f"{spec.name}: {path} header is {header}, expected {ID_LIST_HEADER}")
            for row in reader:
                try:
                    copy.write_row((key(row[0] if row else ""), is_deleted(row[1] if len(row) > 1 else "")))
                except types.ConversionError as exc:
                    raise LoadError(f"{spec.name}: bad row {reader.line_num} in {path}: {exc}") from exc
                ids += 1
    marked = mark_missing_deleted(cur, staging, request)
    cur.execute(
        template(DATE_SOFT_DELETES).format(
            target=qualified(spec.table),
            key=sql.Identifier(spec.key_column),
            cursor=sql.Identifier(spec.cursor_column),
            ids=sql.Identifier(staging),
        ),
        {"sync_run_id": request.sync_run_id},
    )
    dated = _count(cur)
    log.info("%s: %d soft delete(s) of the window dated by their SystemModstamp", spec.name, dated)
    available = (
        f" (earliestDateAvailable {reconcile.earliest_available})"
        if reconcile.earliest_available and reconcile.earliest_available[:16] not in reconcile.reason
        else ""
    )
    note = (
        f"/deleted feed not usable: {reconcile.reason}{available}; {ids} current Id(s) compared, "
        f"{marked} stored row(s) missing from them marked deleted"
    )
    log.warning("%s: %s", spec.name, note)
    return marked, note


def mark_removed_relations(cur: psycopg.Cursor, staging: str, request: LoadRequest, scope: RelationScope) -> int:
    """Relations of re-read parents that the re-read no longer returns: removed in Salesforce."""
    spec = request.spec
    if scope.complete:
        return mark_missing_deleted(cur, staging, request)
    parents = f"_parents_{spec.table}"
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {} (parent_id varchar(18) NOT NULL) ON COMMIT DROP").format(
            sql.Identifier(parents)
        )
    )
    count = copy_parent_ids(cur, parents, request, scope)
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(parents)))
    cur.execute(
        template(MARK_REMOVED_RELATIONS).format(
            target=qualified(spec.table),
            key=sql.Identifier(spec.key_column),
            cursor=sql.Identifier(spec.cursor_column),
            parent=sql.Identifier(scope.parent_column),
            parents=sql.Identifier(parents),
            staging=sql.Identifier(staging),
        ),
        {"window_end": request.window_end, "sync_run_id": request.sync_run_id},
    )
    removed = _count(cur)
    log.info("%s: relation sets of %d parent id(s) re-read, %d removed relation(s) marked deleted",
             spec.name, count, removed)
    return removed


def mark_feed_deleted(cur: psycopg.Cursor, deleted_staging: str, request: LoadRequest) -> int:
    """The /deleted feed (deleted.csv) -> rows marked deleted, unless a newer version was loaded."""
    spec = request.spec
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (salesforce_id varchar(18) NOT NULL, deleted_at timestamptz NOT NULL)"
            " ON COMMIT DROP"
        ).format(sql.Identifier(deleted_staging))
    )
    feed_rows = copy_deleted(cur, deleted_staging, request, request.deleted_file)
    cur.execute(
        template(MARK_DELETED).format(
            target=qualified(spec.table),
            key=sql.Identifier(spec.key_column),
            cursor=sql.Identifier(spec.cursor_column),
            deleted=sql.Identifier(deleted_staging),
        ),
        {"sync_run_id": request.sync_run_id},
    )
    newly_deleted = _count(cur)
    log.info(
        "%s: %d id(s) in the /deleted feed, %d row(s) newly deleted",
        spec.name,
        feed_rows,
        newly_deleted,
    )
    return newly_deleted
