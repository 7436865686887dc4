"""Typed CSV parts -> the warehouse table (see salesforce_elt.load)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator

from salesforce_elt import settings


class PostgresUpsertOperator(BaseOperator):
    """COPY the transform's typed parts into a temp table and merge them into the target table.

    One transaction per run: advisory lock per table, COPY, one upsert statement, hard-delete
    marking from the /deleted feed (or, when the extract could not use it, from the object's
    current Ids), high-water mark, ``sync_runs`` row. A failure rolls all of
    it back and records a ``failed`` row in ``sync_runs``. ``transformed`` is the transform
    task's XCom (pass ``transform_task.output``). Returns the stats in the original system's
    shape: total_retrieved, total_processed, new_records, updated_records, deleted_records, errors.
    Every asset in ``outlets`` (the table's Asset, see salesforce_elt.assets) gets an event whose
    extra is those stats, for downstream DAGs scheduled on the table.
    """

    template_fields: Sequence[str] = ("transformed",)
    ui_color = "#dcd3f5"
    records_sync_runs = True  # its failures are recorded here, not by the failure callback

    def __init__(self, *, transformed: Any, conn_id: str = settings.WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transformed = transformed
        self.conn_id = conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        from salesforce_elt import load, warehouse
        from salesforce_elt.registry import get_object

        xcom = self.transformed
        if not isinstance(xcom, dict):
            raise TypeError(f"{self.task_id}: expected the transform task's XCom dict, got {type(xcom).__name__}")
        spec = get_object(xcom["object"])
        window = xcom.get("window") or {}
        request = load.LoadRequest(
            spec=spec,
            typed_dir=ObjectStoragePath(xcom["typed_uri"]),
            typed_files=list(xcom["typed_files"]),
            columns=list(xcom["columns"]),
            expected_rows=int(xcom["rows"]),
            sync_run_id=context["run_id"],
            window_end=_parse(window.get("end")),
            deletes_covered_to=_parse(window.get("deletes_covered_to")),
            deleted_file=ObjectStoragePath(xcom["deleted_uri"]) if xcom.get("deleted_uri") else None,
            run=_run_info(context, xcom),
            reconcile_missing=bool(
                window.get("full_refresh") and window.get("query_all") and not int(xcom.get("rejects", 0))
            ),
            advance_high_water_mark=window.get("advances_high_water_mark", True),
            relation_scope=_relation_scope(spec, xcom),
            id_reconcile=_id_reconcile(xcom),
        )
        try:
            with warehouse.connect(self.conn_id) as conn:
                stats = load.load(conn, request)
                health = load.table_health(conn, spec)
        except Exception as exc:
            self._record_failure(request, exc)
            raise
        result = {
            "object": spec.name,
            "total_retrieved": int(xcom.get("records", 0)),
            "total_processed": stats.copied_rows,
            "new_records": stats.new_records,
            "updated_records": stats.updated_records,
            "deleted_records": stats.deleted_records,
            "errors": int(xcom.get("rejects", 0)),
            "window": window,
            "api": xcom.get("api"),
            "seconds": {**(xcom.get("seconds") or {}), "load": round(stats.seconds, 3)},
        }
        self.log.info("%s sync stats: %s", spec.name, result)
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {**result, "run_id": context["run_id"], "table": spec.table}
        self.log.info("%s.%s now: %s", spec.name, spec.table, health)
        return result

    def _record_failure(self, request: Any, exc: Exception) -> None:
        from salesforce_elt import load, warehouse

        try:
            with warehouse.connect(self.conn_id) as conn:
                load.record_run(conn, request, None, status="failed", error=f"{type(exc).__name__}: {exc}")
        except Exception as record_exc:  # the warehouse itself may be what failed
            self.log.warning("Could not record the failed run in sync_runs: %s", record_exc)


def _relation_scope(spec: Any, xcom: dict[str, Any]) -> Any:
    """delete_handling "relations": the parents whose relation sets the batch holds in full."""
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt import load
    from salesforce_elt.registry import get_object

    scope = xcom.get("relation_scope")
    if scope is None or int(xcom.get("rejects", 0)):
        return None  # a rejected row would look removed: leave removals to the next clean run
    return load.RelationScope(
        parent_column=spec.relation_parent_column,
        parent_prefix=get_object(spec.relation_parent[1]).key_prefix,
        complete=bool(scope["complete"]),
        parent_files=[ObjectStoragePath(uri) for uri in scope["parent_uris"]],
    )


def _id_reconcile(xcom: dict[str, Any]) -> Any:
    """The extract's Id list, read because the /deleted feed could not cover the window (or None)."""
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt import load

    reconcile = xcom.get("id_reconcile")
    if not reconcile:
        return None
    return load.IdReconcile(
        ids_dir=ObjectStoragePath(reconcile["uri"]),
        files=list(reconcile["files"]),
        reason=reconcile["reason"],
        earliest_available=reconcile.get("earliest_available"),
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _run_info(context: Any, xcom: dict[str, Any]) -> dict[str, Any]:
    window = xcom.get("window") or {}
    usage = xcom.get("api_usage") or {}
    seconds = xcom.get("seconds") or {}
    dag_run = context.get("dag_run")
    return {
        "dag_id": context["dag"].dag_id,
        "window_start": _parse(window.get("start")),
        "api": xcom.get("api"),
        "job_ids": xcom.get("job_ids") or None,
        "rows_extracted": xcom.get("records"),
        "rows_rejected": xcom.get("rejects"),
        "records_cleaned": xcom.get("cleaned"),
        # Why deletes came from comparing Ids (or re-reading every relation), not the /deleted feed.
        "deletes_reconciled": (xcom.get("id_reconcile") or xcom.get("relation_scope") or {}).get("reason"),
        "seconds_extract": seconds.get("extract"),
        "seconds_transform": seconds.get("transform"),
        "api_calls": xcom.get("api_calls"),
        "api_usage_before": usage.get("before"),
        "api_usage_after": usage.get("after"),
        "started_at": getattr(dag_run, "start_date", None),
    }
