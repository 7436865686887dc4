"""The daily schema-audit DAG: drift per registered object, the storage report, formula refresh.

- Drift: a live describe of every registered object compared with the registry
  (``schema.diff.compare``); each check is recorded in ``schema_audit`` and drift is logged as a
  warning. With SALESFORCE_ELT_DRIFT_FAILS=true the task fails on drift, which sends the failure
  alert email (the "optional alert").
- Storage: rows and bytes per synced table, projected to the whole org (``schema.storage``).
- Formula refresh (off by default; SALESFORCE_ELT_FORMULA_REFRESH=true): a formula change does not
  bump SystemModstamp, so incremental windows never see it. The audit triggers a ``full_refresh``
  run of every DAG whose table has calculated fields; the upsert rewrites only rows whose values
  changed. It costs one Bulk job (or REST read) per object per day.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, task

from salesforce_elt import settings
from salesforce_elt.airflow import alerts
from salesforce_elt.engine.registry import REGISTRY, tables, warehouse_schema

log = logging.getLogger(__name__)

DAG_ID = "salesforce_schema_audit"


def formula_dag_ids() -> list[str]:
    """DAGs whose tables hold formula (calculated) fields, in registry order."""
    ids: list[str] = []
    for specs in tables().values():
        if any(f.calculated for spec in specs for f in spec.fields):
            ids.append(specs[0].resolved_dag_id)
    return ids


def check_drift(run_id: str) -> dict[str, Any]:
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine.warehouse import connect
    from salesforce_elt.ops.schema.diff import compare

    hook = SalesforceApiHook(settings.SALESFORCE_CONN_ID)
    report = {}
    for name, spec in sorted(REGISTRY.items()):
        drift = compare(spec, hook.describe(name))
        report[name] = drift.to_dict()
        if drift.drifted:
            log.warning("schema drift on %s: %s", name, json.dumps(drift.to_dict()))
    with connect() as conn:
        schema = warehouse_schema()
        with conn.cursor() as cur:
            cur.executemany(
                f'INSERT INTO "{schema}".schema_audit (run_id, object_name, drifted, drift) '  # noqa: S608
                "VALUES (%s, %s, %s, %s::jsonb)",
                [(run_id, name, bool(_drifted(d)), json.dumps(d)) for name, d in report.items()],
            )
    drifted = sorted(name for name, d in report.items() if _drifted(d))
    if drifted and settings.drift_fails():
        raise RuntimeError(
            f"schema drift on {', '.join(drifted)}: run `python -m salesforce_elt schema diff` and "
            "`schema add-fields` for new fields (SALESFORCE_ELT_DRIFT_FAILS=true made this a failure)"
        )
    return {"drifted": drifted, "checked": sorted(report)}


def _drifted(drift: dict[str, Any]) -> bool:
    return bool(drift.get("drifted"))


def storage() -> list[dict[str, Any]]:
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine.warehouse import connect
    from salesforce_elt.ops.schema.storage import render_text, storage_report

    counts = SalesforceApiHook(settings.SALESFORCE_CONN_ID).record_counts(sorted(REGISTRY))
    with connect() as conn:
        report = storage_report(conn, counts)
    log.info("storage report\n%s", render_text(report))
    return report


DOC = f"""# Salesforce schema audit (daily)

1. **check_drift** describes every registered object and compares it with the registry: fields
   added in Salesforce (run `python -m salesforce_elt schema add-fields`), removed (the sync drops
   them from its SOQL with a warning and leaves the column, null from then on) and changed (type,
   length). Each check lands in `{warehouse_schema()}.schema_audit`. Set `SALESFORCE_ELT_DRIFT_FAILS=true`
   to turn drift into a failure alert.
2. **storage** reports rows, table / index / TOAST bytes and bytes per row of every synced table and
   projects them to the whole org from `/limits/recordCount`.
3. **refresh_formulas** (only with `SALESFORCE_ELT_FORMULA_REFRESH=true`) triggers a `full_refresh`
   run of each DAG whose table has formula fields, because formula changes do not bump
   SystemModstamp and incremental runs never see them.
"""


def build_audit_dag() -> DAG:
    callbacks = alerts.failure_callbacks()
    with DAG(
        dag_id=DAG_ID,
        description="Daily schema drift check, storage report and optional formula refresh",
        schedule=CronTriggerTimetable("30 4 * * *", timezone="UTC"),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": "data-platform",
            "retries": 1,
            "retry_delay": timedelta(minutes=5),
            "on_failure_callback": callbacks,
        },
        on_failure_callback=callbacks,
        tags=["salesforce", "audit"],
        doc_md=DOC,
    ) as dag:

        @task(task_id="check_drift", doc_md="Describe each registered object and record drift.")
        def check_drift_task(**context: Any) -> dict[str, Any]:
            return check_drift(context["run_id"])

        @task(task_id="storage", doc_md="Rows and bytes per synced table, projected to the org.")
        def storage_task() -> list[dict[str, Any]]:
            return storage()

        @task(task_id="formula_dags", doc_md="DAGs to fully refresh for formula fields (empty when off).")
        def formula_dags_task() -> list[str]:
            return formula_dag_ids() if settings.formula_refresh() else []

        from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

        refresh = TriggerDagRunOperator.partial(
            task_id="refresh_formulas",
            conf={"full_refresh": True},
            wait_for_completion=False,
            doc_md="Trigger a full_refresh run of each DAG with formula fields.",
        ).expand(trigger_dag_id=formula_dags_task())
        check_drift_task() >> storage_task() >> refresh
    return dag
