"""Extract a who relation object (TaskWhoRelation, EventWhoRelation): REST only, no queryAll.

Salesforce removes a TaskWhoRelation for real when a contact is taken off a task, and the object
answers neither queryAll, /deleted nor Bulk 2.0. It is a read-only view of TaskRelation (same
ids), and TaskRelation has a /deleted feed listing removed relations (Object Reference: use
getDeleted() to detect deleted relation records); EventWhoRelation is the same over
EventRelation. Whether a removal bumps the task's SystemModstamp is not documented. So an
incremental run:

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
4. hands the parent id files to the load as the relation scope, a second net: a stored relation
   of a listed parent that step 3 did not return is marked deleted (load.py,
   sql/mark_removed_relations.sql).

In an org without Shared Activities the relation objects do not exist (describe NOT_FOUND, SOQL
INVALID_TYPE): the extract ends skipped with that reason (and a ``skipped`` sync_runs row), so
its transform and load are skipped too and the DAG run stays green.

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
from typing import Any, NoReturn

from airflow.sdk import ObjectStoragePath

from salesforce_elt.hooks.errors import SalesforceApiError
from salesforce_elt.operators.extract import REST_SOQL_MAX_CHARS, SalesforceRestExtractOperator, _soql_summary
from salesforce_elt.registry import SObjectSpec, get_object, missing_in_org
from salesforce_elt.soql import build_select, build_spec_select, chunk_ids_for_soql

SUMMARY_STATEMENTS = 3  # statements quoted in the XCom's soql summary (the rest are counted)


def _parent_ids(files: list[ObjectStoragePath]) -> Iterator[str]:
    """The Id column of the staged parent lists (one at a time: the files may be large)."""
    for path in files:
        with io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="") as source:
            reader = csv.reader(source)
            next(reader, None)
            for row in reader:
                if row and row[0]:
                    yield row[0]


def _concatenate(dest: ObjectStoragePath, sources: list[ObjectStoragePath], *, header: bytes) -> None:
    """One CSV from files of the same two columns: ``header``, then each file without its own."""
    with dest.open("wb") as out:
        out.write(header)
        for path in sources:
            with path.open("rb") as source:
                source.readline()
                shutil.copyfileobj(source, out)


class SalesforceRelationsExtractOperator(SalesforceRestExtractOperator):
    """REST extract of a ``delete_handling="relations"`` object plus the scope its load needs.

    The XCom is the extract contract's plus ``relation_scope``:
    ``{"complete": bool, "parent_uris": [...CSV files with the parent Id first...]}``.
    """

    ui_color = "#e0f0e0"

    def _start(self, context: Any, hook: Any) -> dict[str, Any]:
        """The extract, or a skip when the org has no such object (no Shared Activities)."""
        try:
            return super()._start(context, hook)
        except SalesforceApiError as exc:
            reason = missing_in_org(get_object(self.object_name), exc.error_code)
            if reason is None:
                raise
            self._skip(context, hook, reason)

    def _skip(self, context: Any, hook: Any, reason: str) -> NoReturn:
        from airflow.sdk.exceptions import AirflowSkipException

        from salesforce_elt import monitoring

        self.log.warning("%s", reason)
        monitoring._quietly(
            "record the skip in sync_runs",
            monitoring.record_run,
            "skipped",
            **monitoring._run_keys(context),
            object_name=self.object_name,
            error_message=reason,
            api_calls=hook.api_calls,
            api_usage_before=hook.api_usage_first,
            api_usage_after=hook.api_usage,
        )
        raise AirflowSkipException(reason)

    def _extract_rest(self, hook: Any, plan: Any, attempt: ObjectStoragePath) -> dict[str, Any]:
        from salesforce_elt.hooks.salesforce import DeletedFeedUnavailable

        spec: SObjectSpec = plan.spec
        window = plan.window
        raw = attempt / "raw"
        parent_files: list[ObjectStoragePath] = []
        deleted: tuple[str | None, int] = (None, 0)
        reread = None  # why an incremental window re-reads every relation
        if window.incremental and not plan.targeted:
            try:
                deleted = self._removed_relations(hook, spec, window, attempt)
                parent_files = self._changed_parents(hook, spec, window, attempt)
            except DeletedFeedUnavailable as exc:
                # The purged parents are unknown: re-read every relation; the load flags the stored
                # ones missing from it (the full read's scope).
                reread = f"{exc.object_name} {exc.reason}"
                self.log.warning("%s: %s; re-reading every relation", spec.name, reread)
        if reread is not None:
            statements = [build_spec_select(spec)]
        elif window.incremental and not plan.targeted:
            field, parent_name = spec.relation_parent
            base = f"{build_spec_select(spec)} WHERE "
            prefix = get_object(parent_name).key_prefix
            # Built lazily, one parent list file at a time: a file's ids are the most in memory.
            statements: Iterable[str] = itertools.chain(
                [build_spec_select(spec, start=window.start, end=window.end)],
                itertools.chain.from_iterable(
                    chunk_ids_for_soql(base, _parent_ids([path]), REST_SOQL_MAX_CHARS, field=field, prefix=prefix)
                    for path in parent_files
                ),
            )
        else:
            statements = self._statements(plan, "rest")
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
        self.log.info(
            "%s: %d relation row(s) from %d statement(s) (%d parent list file(s))",
            spec.name,
            records,
            count,
            len(parent_files),
        )
        summary = _soql_summary(sent) + (f" [{count} statements in all]" if count > len(sent) else "")
        xcom = self._xcom(
            spec=spec,
            api="rest",
            soql=summary,
            raw=raw,
            files=files,
            records=records,
            job_ids=[],
            deleted=deleted if reread is None else (None, 0),
            window=window.as_dict(),
            usage_before=hook.api_usage_first,
            usage_after=hook.api_usage,
            api_calls=hook.api_calls,
        )
        complete = (window.start is None and not plan.targeted) or reread is not None
        xcom["relation_scope"] = {
            "complete": complete,
            "parent_uris": [str(p) for p in parent_files],
            "reason": reread,
        }
        return xcom

    def _removed_relations(
        self, hook: Any, spec: SObjectSpec, window: Any, attempt: ObjectStoragePath
    ) -> tuple[str | None, int]:
        """The relation_feed's /deleted feed for the window (the same ids as the relation view)."""
        if spec.relation_feed is None:
            return None, 0
        dest = attempt / "deleted.csv"
        feed = attempt / "relation-feed.csv" if spec.relation_left_where else dest
        rows, _start = hook.deleted(spec.relation_feed, window.start, window.end, feed)
        self.log.info("%s: %d relation(s) removed in the window (%s /deleted feed)", spec.name, rows,
                      spec.relation_feed)
        if not spec.relation_left_where:
            return str(dest), rows
        soql = build_select(
            spec.relation_feed, ["Id", "SystemModstamp"], start=window.start, end=window.end,
            where=spec.relation_left_where,
        )  # fmt: skip
        left_dir = attempt / "relations-left"
        names, left = hook.query_to_csv(soql, ["Id", "SystemModstamp"], left_dir, include_deleted=False)
        self.log.info("%s: %d %s record(s) left the relation in the window (%s)", spec.name, left,
                      spec.relation_feed, spec.relation_left_where)
        _concatenate(dest, [feed, *(left_dir / name for name in names)], header=b"Id,deletedDate\n")
        return str(dest), rows + left

    def _changed_parents(
        self, hook: Any, spec: SObjectSpec, window: Any, attempt: ObjectStoragePath
    ) -> list[ObjectStoragePath]:
        """Parents changed in the window (queryAll: deleted, archived too) and purged ones."""
        _field, parent_name = spec.relation_parent
        parent = get_object(parent_name)
        soql = build_select(
            parent.name,
            [parent.primary_key],
            cursor_field=parent.cursor_field,
            start=window.start,
            end=window.end,
        )
        changed_dir = attempt / "parents"
        names, changed = hook.query_to_csv(soql, [parent.primary_key], changed_dir, include_deleted=True)
        deleted = attempt / "parents-deleted.csv"
        purged, _start = hook.deleted(parent.name, window.start, window.end, deleted)
        self.log.info(
            "%s: %d %s record(s) changed and %d purged in [%s, %s): their relation sets are re-read",
            spec.name,
            changed,
            parent.name,
            purged,
            window.start.isoformat(),
            window.end.isoformat(),
        )
        return [*(changed_dir / name for name in names), deleted]
