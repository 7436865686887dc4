"""Typed CSV parts -> the warehouse table (see salesforce_elt.engine.load)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from salesforce_elt import settings
from salesforce_elt.engine.contract import TransformResult

if TYPE_CHECKING:
    from airflow.sdk import Context

    from salesforce_elt.engine.load import LoadRequest


class PostgresUpsertOperator(BaseOperator):
    """COPY the transform's typed parts into a temp table and merge them into the target table.

    One transaction per run: advisory lock per table, COPY, one upsert statement, hard-delete
    marking from the /deleted feed (or, when the extract could not use it, from the object's
    current Ids), high-water mark, ``sync_runs`` row. A failure rolls all of
    it back and records a ``failed`` row in ``sync_runs``. ``transformed`` is the transform
    task's XCom (pass ``transform_task.output``). Returns the stats in the original system's
    shape: total_retrieved, total_processed, new_records, updated_records, deleted_records, errors.
    Every asset in ``outlets`` (the table's Asset, see salesforce_elt.airflow.assets) gets an event whose
    extra is those stats, for downstream DAGs scheduled on the table.
    """

    template_fields: Sequence[str] = ("transformed",)
    ui_color = "#dcd3f5"
    records_sync_runs = True  # its failures are recorded here, not by the failure callback

    def __init__(self, *, transformed: Any, conn_id: str = settings.WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transformed = transformed
        self.conn_id = conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        from salesforce_elt.engine import load, warehouse
        from salesforce_elt.engine.deletes import strategy_for
        from salesforce_elt.engine.registry import get_object

        xcom = self.transformed
        if not isinstance(xcom, dict):
            raise TypeError(f"{self.task_id}: expected the transform task's XCom dict, got {type(xcom).__name__}")
        result = TransformResult.from_json(xcom)
        extract, window = result.extract, result.extract.window
        spec = get_object(extract.object_name)
        # What the batch is compared with besides its rows: the object's delete strategy says.
        scope = strategy_for(spec).load_scope(spec, result)
        request = load.LoadRequest(
            spec=spec,
            typed_dir=ObjectStoragePath(result.typed_uri),
            typed_files=list(result.typed_files),
            columns=list(result.columns),
            expected_rows=result.rows,
            sync_run_id=context["run_id"],
            window_end=window.end,
            deletes_covered_to=window.deletes_covered_to,
            deleted_file=ObjectStoragePath(extract.deleted_uri) if extract.deleted_uri else None,
            run=_run_info(context, result),
            reconcile_missing=window.full_refresh and window.query_all and not result.rejects,
            advance_high_water_mark=window.advances_high_water_mark,
            relation_scope=scope.relation_scope,
            id_reconcile=scope.id_reconcile,
        )
        try:
            with warehouse.connect(self.conn_id) as conn:
                stats = load.load(conn, request)
                health = load.table_health(conn, spec)
        except Exception as exc:
            self._record_failure(request, exc)
            raise
        stats_json: dict[str, Any] = {
            "object": spec.name,
            "total_retrieved": extract.records,
            "total_processed": stats.copied_rows,
            "new_records": stats.new_records,
            "updated_records": stats.updated_records,
            "deleted_records": stats.deleted_records,
            "errors": result.rejects,
            "window": window.to_json(),
            "api": extract.api,
            "seconds": {**extract.seconds, "load": round(stats.seconds, 3)},
        }
        self.log.info("%s sync stats: %s", spec.name, stats_json)
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {**stats_json, "run_id": context["run_id"], "table": spec.table}
        self.log.info("%s.%s now: %s", spec.name, spec.table, health)
        return stats_json

    def _record_failure(self, request: LoadRequest, exc: Exception) -> None:
        from salesforce_elt.engine import load, warehouse

        try:
            with warehouse.connect(self.conn_id) as conn:
                load.record_run(conn, request, None, status="failed", error=f"{type(exc).__name__}: {exc}")
        except Exception as record_exc:  # the warehouse itself may be what failed
            self.log.warning("Could not record the failed run in sync_runs: %s", record_exc)


def _run_info(context: Context, result: TransformResult) -> dict[str, Any]:
    extract = result.extract
    dag_run = context.get("dag_run")
    reconciled = extract.id_reconcile or extract.relation_scope
    return {
        "dag_id": context["dag"].dag_id,
        "window_start": extract.window.start,
        "api": extract.api,
        "job_ids": list(extract.job_ids) or None,
        "rows_extracted": extract.records,
        "rows_rejected": result.rejects,
        "records_cleaned": result.cleaned,
        # Why deletes came from comparing Ids (or re-reading every relation), not the /deleted feed.
        "deletes_reconciled": reconciled.reason if reconciled is not None else None,
        "seconds_extract": extract.seconds.get("extract"),
        "seconds_transform": extract.seconds.get("transform"),
        "api_calls": extract.api_calls,
        "api_usage_before": extract.api_usage_before,
        "api_usage_after": extract.api_usage_after,
        "started_at": getattr(dag_run, "start_date", None),
    }
