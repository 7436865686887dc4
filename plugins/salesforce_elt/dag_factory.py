"""One Airflow DAG per warehouse table, built from the registry.

``dags/salesforce_sync.py`` calls ``build_object_dags()`` and exposes the result as module
globals. Building touches no database and no network: operators create their hooks in
``execute()``. Several registry entries may feed one table (Task + Event -> sf_activities):
each gets its own extract -> transform -> load chain in a task group named after the object, and
the loads of one table serialize on the loader's advisory lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup

from salesforce_elt import alerts, settings
from salesforce_elt.operators.extract import SalesforceBulkExtractOperator, SalesforceRestExtractOperator
from salesforce_elt.operators.load import PostgresUpsertOperator
from salesforce_elt.operators.transform import SalesforceTransformOperator
from salesforce_elt.registry import SObjectSpec, tables, validate, warehouse_schema

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

OWNER = "data-platform"
# Only bounds how far back a backfill can reach; catchup is off, so nothing runs from it by itself.
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def _params() -> dict[str, Param]:
    return {
        "full_refresh": Param(
            False,
            type="boolean",
            description="Re-read every record (queryAll, no SystemModstamp filter) and upsert it. "
            "Use after a schema change or to repair drift; unchanged rows are not rewritten.",
        ),
        "start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Extract exactly [start, end) by SystemModstamp (UTC), ignoring the data interval "
            "and the high-water mark. Empty: the scheduled window.",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="End of the explicit window (exclusive). Empty with a start: now.",
        ),
        "api": Param(
            "auto",
            type="string",
            enum=["auto", "bulk", "rest"],
            description="Salesforce API: auto = the registry's choice (Bulk API 2.0 falls back to REST "
            "when Salesforce refuses the query); bulk or rest to force one.",
        ),
    }


def _doc_md(table: str, specs: tuple[SObjectSpec, ...], dag_id: str) -> str:
    schema = warehouse_schema()
    objects = ", ".join(f"`{s.name}`" for s in specs)
    lines = [
        f"# Salesforce {objects} → `{schema}.{table}`",
        "",
        *(f"- **{s.name}**: {s.description or 'see the registry'} API: {s.api} (param `api` overrides); "
          f"cursor `{s.cursor_field}`, lookback {int(s.lookback.total_seconds() // 60)} min; "
          f"deletes: {s.delete_handling}." for s in specs),
        "",
        f"**Schedule** `{specs[0].schedule}` (UTC). Each run extracts its data interval by "
        "`SystemModstamp`, starting `lookback` earlier so records committed late are not missed, "
        "and reaching back to the high-water mark (`sync_state`) when an earlier run failed. "
        "A manual run without dates extracts from the high-water mark to now; the first run "
        "(empty table) extracts everything.",
        "",
        "**Tasks** extract (staged CSV) → transform (typed CSV, bad rows to `rejects.csv`) → load "
        "(one transaction: COPY, upsert that never lets an older version overwrite a newer one, "
        "hard deletes from the `/deleted` feed, high-water mark, a `sync_runs` row).",
        "",
        "**Backfill** a range: `airflow backfill create --dag-id "
        f"{dag_id} --from-date 2026-03-01 --to-date 2026-03-05` (check with `--dry-run`), or "
        "trigger with the `start`/`end` params. **Repair** everything: trigger with "
        "`full_refresh` = true. Re-running any window is safe: unchanged rows are not rewritten.",
        "",
        f"**Monitor**: table `{schema}.sync_runs`, newest first (counts, timings, API usage, "
        "errors); rejected rows are listed in the transform log. Connections: "
        f"`{settings.SALESFORCE_CONN_ID}` (Salesforce), `{settings.WAREHOUSE_CONN_ID}` (warehouse).",
    ]
    return "\n".join(lines)


def _extract_operator(spec: SObjectSpec, task_id: str) -> BaseOperator:
    operator = SalesforceBulkExtractOperator if spec.api == "bulk" else SalesforceRestExtractOperator
    return operator(
        task_id=task_id,
        object_name=spec.name,
        doc_md=f"Extract changed `{spec.name}` records ({spec.api} API; param `api` overrides) into "
        "this attempt's staging folder as CSV, plus the `/deleted` feed for hard deletes.",
    )


def _chain(spec: SObjectSpec) -> None:
    extract = _extract_operator(spec, "extract")
    transform = SalesforceTransformOperator(
        task_id="transform",
        extract=extract.output,
        doc_md=f"Convert the raw `{spec.name}` CSV into typed CSV for COPY; rows that cannot be "
        "converted go to `rejects.csv` (the task fails above SALESFORCE_ELT_REJECT_THRESHOLD).",
    )
    load = PostgresUpsertOperator(
        task_id="load",
        transformed=transform.output,
        doc_md=f"Merge the typed rows into `{warehouse_schema()}.{spec.table}` in one transaction "
        "and record the run in `sync_runs`.",
    )
    extract >> transform >> load


def build_dag(table: str, specs: tuple[SObjectSpec, ...]) -> DAG:
    """The DAG syncing ``table`` from its registry entries (one schedule: the first entry's)."""
    first = specs[0]
    dag_id = first.resolved_dag_id
    callbacks = alerts.failure_callbacks()
    dag = DAG(
        dag_id=dag_id,
        description=f"Salesforce {', '.join(s.name for s in specs)} -> {warehouse_schema()}.{table}",
        schedule=CronDataIntervalTimetable(first.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=6),
        default_args={
            "owner": OWNER,
            "retries": 2,
            "retry_delay": timedelta(minutes=2),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=30),
            "on_failure_callback": callbacks or None,
        },
        on_failure_callback=callbacks or None,
        tags=["salesforce", *(s.name for s in specs)],
        doc_md=_doc_md(table, specs, dag_id),
        params=_params(),
    )
    with dag:
        if len(specs) == 1:
            _chain(first)
        else:
            for spec in specs:
                with TaskGroup(group_id=spec.name.lower()):
                    _chain(spec)
    return dag


def build_object_dags() -> dict[str, DAG]:
    """dag_id -> DAG for every registry table, in a stable (sorted) order."""
    validate()
    dags = {}
    for table, specs in tables().items():
        dag = build_dag(table, specs)
        dags[dag.dag_id] = dag
    return dict(sorted(dags.items()))
