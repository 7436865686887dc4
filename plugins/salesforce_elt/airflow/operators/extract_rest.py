"""The REST side of the extract: query/queryAll paging into staged CSV parts, on the worker.

A window whose query times out (QUERY_TIMEOUT) is halved by its cursor and each half read in
turn; the delete strategy (deletes.py) then takes its extra step, or reads the object its own
way (relation objects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.operators.extract_base import ExtractOperatorBase
from salesforce_elt.engine.contract import ExtractResult, IdReconcile, WindowPiece
from salesforce_elt.engine.deletes import read_id_list_rest, strategy_for
from salesforce_elt.engine.extract_plan import ExtractPlan, dropped_fields, piece_statement, soql_summary

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook


class RestExtractMixin(ExtractOperatorBase):
    """``_extract_rest``: the whole extract through REST (also the Bulk path's fallback)."""

    def _extract_rest(self, hook: SalesforceApiHook, plan: ExtractPlan, attempt: ObjectStoragePath) -> ExtractResult:
        from salesforce_elt.engine.staging import CsvPartWriter

        strategy = strategy_for(plan.spec)
        own = strategy.read_rest(hook, plan, attempt, self.log)
        if own is not None:
            return own
        spec = plan.spec
        statements = plan.statements("rest", self._soql_limit("rest"))
        raw = attempt / "raw"
        files: list[str] = []
        records = 0
        if not statements:  # an empty id list: a header-only part, so readers see the columns
            with CsvPartWriter(raw, spec.soql_fields) as writer:
                pass
            files = writer.files
        pieces = plan.pieces()
        queue: list[str | WindowPiece] = list(statements) if pieces is None else list(pieces)
        sent: list[str] = []
        while queue:
            item = queue.pop(0)
            statement = item if isinstance(item, str) else piece_statement(spec, item, self.soql_where)
            try:
                new_files, new_records = hook.query_to_csv(
                    statement,
                    spec.soql_fields,
                    raw,
                    include_deleted=plan.window.query_all,
                    start_part=len(files),
                )
            except SalesforceApiError as exc:
                if exc.error_code != "QUERY_TIMEOUT" or isinstance(item, str):
                    raise
                queue[:0] = self._halve(hook, spec, item, plan.window, str(exc))
                continue
            sent.append(statement)
            files += new_files
            records += new_records
        window = plan.window
        deleted: tuple[str | None, int] = (None, 0)
        reconcile: IdReconcile | None = None
        if strategy.reads_feed(plan):
            outcome = strategy.read_feed(hook, spec, window, attempt, self.log)
            window, deleted = outcome.window, (outcome.deleted_uri, outcome.deleted_records)
            if outcome.id_reconcile is not None:
                reconcile = read_id_list_rest(hook, spec, attempt, outcome.id_reconcile)
        return ExtractResult(
            object_name=spec.name,
            api="rest",
            soql=soql_summary(sent),
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
            id_reconcile=reconcile,
        )
