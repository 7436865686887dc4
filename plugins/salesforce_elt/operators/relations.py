"""Extract a relation object that has no queryAll and no deleted feed (TaskWhoRelation).

Salesforce removes a TaskWhoRelation for real when a contact is taken off a task, and the object
answers neither queryAll, /deleted nor Bulk 2.0. A removal does bump the task's SystemModstamp,
so an incremental run:

1. lists the parents (tasks) changed in the window — REST queryAll, so deleted and archived
   tasks are included — plus the parents in the parent's /deleted feed (purged tasks);
2. reads the relations changed in the window by their own SystemModstamp, and the full current
   relation set of every changed parent (``TaskId IN (...)``, ids chunked under the REST
   statement limit);
3. hands the parent id files to the load as the relation scope: a stored relation of a listed
   parent that step 2 did not return is marked deleted (load.py, sql/mark_removed_relations.sql).

A full read (first run, ``full_refresh``) reads every relation; its scope is the whole table. So
does an incremental run whose parent /deleted feed cannot cover the window (a purged delete log):
the purged parents are unknown, so every relation is re-read (``sync_runs.deletes_reconciled``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from airflow.sdk import ObjectStoragePath

from salesforce_elt.operators.extract import REST_SOQL_MAX_CHARS, SalesforceRestExtractOperator, _soql_summary
from salesforce_elt.registry import SObjectSpec, get_object
from salesforce_elt.soql import build_select, build_spec_select, chunk_ids_for_soql


def _parent_ids(files: list[ObjectStoragePath]) -> Iterator[str]:
    """The Id column of the staged parent lists (one at a time: the files may be large)."""
    for path in files:
        with io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="") as source:
            reader = csv.reader(source)
            next(reader, None)
            for row in reader:
                if row and row[0]:
                    yield row[0]


class SalesforceRelationsExtractOperator(SalesforceRestExtractOperator):
    """REST extract of a ``delete_handling="relations"`` object plus the scope its load needs.

    The XCom is the extract contract's plus ``relation_scope``:
    ``{"complete": bool, "parent_uris": [...CSV files with the parent Id first...]}``.
    """

    ui_color = "#e0f0e0"

    def _extract_rest(self, hook: Any, plan: Any, attempt: ObjectStoragePath) -> dict[str, Any]:
        from salesforce_elt.hooks.salesforce import DeletedFeedUnavailable

        spec: SObjectSpec = plan.spec
        window = plan.window
        raw = attempt / "raw"
        parent_files: list[ObjectStoragePath] = []
        reread = None  # why an incremental window re-reads every relation
        if window.incremental and not plan.targeted:
            try:
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
            statements = [
                build_spec_select(spec, start=window.start, end=window.end),
                *chunk_ids_for_soql(
                    base,
                    _parent_ids(parent_files),
                    REST_SOQL_MAX_CHARS,
                    field=field,
                    prefix=get_object(parent_name).key_prefix,
                ),
            ]
        else:
            statements = self._statements(plan, "rest")
        files: list[str] = []
        records = 0
        for statement in statements:
            new_files, new_records = hook.query_to_csv(
                statement, spec.soql_fields, raw, include_deleted=False, start_part=len(files)
            )
            files += new_files
            records += new_records
        self.log.info(
            "%s: %d relation row(s) from %d statement(s) (%d parent list file(s))",
            spec.name,
            records,
            len(statements),
            len(parent_files),
        )
        xcom = self._xcom(
            spec=spec,
            api="rest",
            soql=_soql_summary(statements),
            raw=raw,
            files=files,
            records=records,
            job_ids=[],
            deleted=(None, 0),
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
