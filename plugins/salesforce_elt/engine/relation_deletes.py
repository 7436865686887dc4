"""Deletions of a who relation object (TaskWhoRelation, EventWhoRelation): the "relations" strategy.

Salesforce removes a TaskWhoRelation for real when a contact is taken off a task, and the object
answers neither queryAll, /deleted nor Bulk 2.0. It is a read-only view of TaskRelation (same
ids), and TaskRelation has a /deleted feed listing removed relations (Object Reference: use
getDeleted() to detect deleted relation records); EventWhoRelation is the same over
EventRelation. Whether a removal bumps the task's SystemModstamp is not documented. So an
incremental run (REST only, no queryAll):

1. reads the relation object's ``relation_feed`` /deleted feed (TaskRelation): the removed
   relations, with their deletion date, marked deleted by the load like any hard delete. For
   EventWhoRelation also the EventRelation records changed in the window with IsParent false
   (``relation_left_where``): a contact taken off an event but still invited keeps its one
   EventRelation record, so it leaves EventWhoRelation without a /deleted entry; its
   SystemModstamp is taken as the removal date;
2. lists the parents (tasks) changed in the window — REST queryAll, so deleted and archived
   tasks are included — plus the parents in the parent's /deleted feed (purged tasks);
3. reads the relations changed in the window by their own SystemModstamp, and the full current
   relation set of every changed parent (``TaskId IN (...)``, ids chunked under the REST
   statement limit);
4. hands the parent id files to the load as the relation scope (contract.RelationScope), a
   second net: a stored relation of a listed parent that step 3 did not return is marked deleted
   (load.py, sql/mark_removed_relations.sql).

A full read (first run, ``full_refresh``) reads every relation; its scope is the whole table. So
does an incremental run whose parent or relation /deleted feed cannot cover the window (a purged
delete log): the purged parents or relations are unknown, so every relation is re-read
(``sync_runs.deletes_reconciled``).
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from salesforce_elt.engine.contract import ExtractResult, RelationScope
from salesforce_elt.engine.deletes import (
    MARK_DELETED,
    MARK_MISSING_DELETED,
    MARK_REMOVED_RELATIONS,
    DeleteStrategy,
    LoadScope,
    TaskLog,
)
from salesforce_elt.engine.extract_plan import REST_SOQL_MAX_CHARS, ExtractPlan, dropped_fields, soql_summary
from salesforce_elt.engine.registry import get_object
from salesforce_elt.engine.soql import build_select, build_spec_select, chunk_ids_for_soql

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine.contract import TransformResult
    from salesforce_elt.engine.registry import SObjectSpec
    from salesforce_elt.engine.windows import SyncWindow

SUMMARY_STATEMENTS = 3  # statements quoted in the XCom's soql summary (the rest are counted)


def parent_ids(files: Iterable[ObjectStoragePath]) -> Iterator[str]:
    """The Id column of the staged parent lists (one at a time: the files may be large)."""
    for path in files:
        with io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="") as source:
            reader = csv.reader(source)
            next(reader, None)
            for row in reader:
                if row and row[0]:
                    yield row[0]


def concatenate(dest: ObjectStoragePath, sources: list[ObjectStoragePath], *, header: bytes) -> None:
    """One CSV from files of the same two columns: ``header``, then each file without its own."""
    with dest.open("wb") as out:
        out.write(header)
        for path in sources:
            with path.open("rb") as source:
                source.readline()
                shutil.copyfileobj(source, out)


class RelationDeletes(DeleteStrategy):
    """Removals from ``relation_feed``'s /deleted feed plus a re-read of the changed parents' relations."""

    handling = "relations"
    templates = (MARK_DELETED, MARK_REMOVED_RELATIONS, MARK_MISSING_DELETED)

    def read_rest(
        self, hook: SalesforceApiHook, plan: ExtractPlan, attempt: ObjectStoragePath, log: TaskLog
    ) -> ExtractResult:
        from salesforce_elt.airflow.hooks.deleted_feed import DeletedFeedUnavailable

        spec, window = plan.spec, plan.window
        raw = attempt / "raw"
        parent_files: list[ObjectStoragePath] = []
        deleted: tuple[str | None, int] = (None, 0)
        reread = None  # why an incremental window re-reads every relation
        incremental = window.incremental and not plan.targeted
        if incremental:
            try:
                deleted = self._removed_relations(hook, spec, window, attempt, log)
                parent_files = self._changed_parents(hook, spec, window, attempt, log)
            except DeletedFeedUnavailable as exc:
                # The purged parents are unknown: re-read every relation; the load flags the stored
                # ones missing from it (the full read's scope).
                reread = f"{exc.object_name} {exc.reason}"
                log.warning("%s: %s; re-reading every relation", spec.name, reread)
        statements: Iterable[str]
        if reread is not None:
            statements = [build_spec_select(spec)]
        elif incremental:
            field, parent_name = _parent(spec)
            base = f"{build_spec_select(spec)} WHERE "
            prefix = get_object(parent_name).key_prefix
            # Built lazily, one parent list file at a time: a file's ids are the most in memory.
            statements = itertools.chain(
                [build_spec_select(spec, start=window.start, end=window.end)],
                itertools.chain.from_iterable(
                    chunk_ids_for_soql(base, parent_ids([path]), REST_SOQL_MAX_CHARS, field=field, prefix=prefix)
                    for path in parent_files
                ),
            )
        else:
            statements = plan.statements("rest")
        files: list[str] = []
        records = 0
        sent: list[str] = []  # the first statements, for the XCom summary
        count = 0
        for statement in statements:
            new_files, new_records = hook.query_to_csv(
                statement, spec.soql_fields, raw, include_deleted=False, start_part=len(files)
            )
            files += new_files
            records += new_records
            count += 1
            if len(sent) < SUMMARY_STATEMENTS:
                sent.append(statement)
        log.info(
            "%s: %d relation row(s) from %d statement(s) (%d parent list file(s))",
            spec.name, records, count, len(parent_files),
        )  # fmt: skip
        summary = soql_summary(sent) + (f" [{count} statements in all]" if count > len(sent) else "")
        complete = (window.start is None and not plan.targeted) or reread is not None
        if reread is not None:
            deleted = (None, 0)
        return ExtractResult(
            object_name=spec.name,
            api="rest",
            soql=summary,
            fields=spec.soql_fields,
            dropped_fields=tuple(dropped_fields(spec)),
            raw_uri=str(raw),
            files=tuple(files),
            records=records,
            job_ids=(),
            deleted_uri=deleted[0],
            deleted_records=deleted[1],
            window=window,
            api_usage_before=hook.api_usage_first,
            api_usage_after=hook.api_usage,
            api_calls=hook.api_calls,
            relation_scope=RelationScope(complete, tuple(str(p) for p in parent_files), reread),
        )

    def _removed_relations(
        self, hook: SalesforceApiHook, spec: SObjectSpec, window: SyncWindow, attempt: ObjectStoragePath,
        log: TaskLog,
    ) -> tuple[str | None, int]:  # fmt: skip
        """The relation_feed's /deleted feed for the window (the same ids as the relation view)."""
        if spec.relation_feed is None or window.start is None:
            return None, 0
        dest = attempt / "deleted.csv"
        feed = attempt / "relation-feed.csv" if spec.relation_left_where else dest
        rows, _start = hook.deleted(spec.relation_feed, window.start, window.end, feed)
        log.info("%s: %d relation(s) removed in the window (%s /deleted feed)", spec.name, rows, spec.relation_feed)
        if not spec.relation_left_where:
            return str(dest), rows
        soql = build_select(
            spec.relation_feed, ["Id", "SystemModstamp"], start=window.start, end=window.end,
            where=spec.relation_left_where,
        )  # fmt: skip
        left_dir = attempt / "relations-left"
        names, left = hook.query_to_csv(soql, ["Id", "SystemModstamp"], left_dir, include_deleted=False)
        log.info("%s: %d %s record(s) left the relation in the window (%s)", spec.name, left,
                 spec.relation_feed, spec.relation_left_where)  # fmt: skip
        concatenate(dest, [feed, *(left_dir / name for name in names)], header=b"Id,deletedDate\n")
        return str(dest), rows + left

    def _changed_parents(
        self, hook: SalesforceApiHook, spec: SObjectSpec, window: SyncWindow, attempt: ObjectStoragePath,
        log: TaskLog,
    ) -> list[ObjectStoragePath]:  # fmt: skip
        """Parents changed in the window (queryAll: deleted, archived too) and purged ones."""
        _field, parent_name = _parent(spec)
        parent = get_object(parent_name)
        start = window.start
        if start is None:
            return []
        soql = build_select(
            parent.name, [parent.primary_key], cursor_field=parent.cursor_field, start=start, end=window.end
        )
        changed_dir = attempt / "parents"
        names, changed = hook.query_to_csv(soql, [parent.primary_key], changed_dir, include_deleted=True)
        deleted = attempt / "parents-deleted.csv"
        purged, _start = hook.deleted(parent.name, start, window.end, deleted)
        log.info(
            "%s: %d %s record(s) changed and %d purged in [%s, %s): their relation sets are re-read",
            spec.name, changed, parent.name, purged, start.isoformat(), window.end.isoformat(),
        )  # fmt: skip
        return [*(changed_dir / name for name in names), deleted]

    def load_scope(self, spec: SObjectSpec, result: TransformResult) -> LoadScope:
        """The parents whose relation sets the batch holds in full (none after a rejected row)."""
        from airflow.sdk import ObjectStoragePath

        from salesforce_elt.engine import load

        scope = result.extract.relation_scope
        if scope is None or result.rejects:
            return LoadScope()  # a rejected row would look removed: leave removals to the next clean run
        return LoadScope(
            relation_scope=load.RelationScope(
                parent_column=spec.relation_parent_column,
                parent_prefix=get_object(_parent(spec)[1]).key_prefix,
                complete=scope.complete,
                parent_files=[ObjectStoragePath(uri) for uri in scope.parent_uris],
            )
        )


def _parent(spec: SObjectSpec) -> tuple[str, str]:
    if spec.relation_parent is None:
        raise ValueError(f"{spec.name}: delete_handling 'relations' needs relation_parent")
    return spec.relation_parent
