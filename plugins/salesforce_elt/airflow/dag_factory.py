"""One Airflow DAG per warehouse table, built from the registry.

``dags/salesforce_sync.py`` calls ``build_object_dags()`` and exposes the result as module
globals. Building touches no database and no network: operators create their hooks in
``execute()``. Several registry entries may feed one table (Task + Event -> sf_activities):
each gets its own extract -> transform -> load chain in a task group named after the object, and
the loads of one table serialize on the loader's advisory lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, XComArg

from salesforce_elt import settings
from salesforce_elt.airflow import alerts
from salesforce_elt.airflow.operators.extract import (
    SalesforceBulkExtractOperator,
    SalesforceRestExtractOperator,
)
from salesforce_elt.airflow.operators.load import PostgresUpsertOperator
from salesforce_elt.airflow.operators.preflight import SyncPreflightOperator
from salesforce_elt.airflow.operators.relations import SalesforceRelationsExtractOperator
from salesforce_elt.airflow.operators.transform import SalesforceTransformOperator
from salesforce_elt.engine.registry import CONTACT, SObjectSpec, tables, validate, warehouse_schema

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
    if spec.delete_handling == "relations":
        assert spec.relation_parent is not None  # the registry refuses a relation without one
        parent_field, parent = spec.relation_parent
        return SalesforceRelationsExtractOperator(
            task_id=task_id,
            object_name=spec.name,
            doc_md=f"Extract `{spec.name}` through REST (no Bulk, queryAll or /deleted feed for it): the "
            f"rows changed in the window, the relations removed in it (the `/deleted` feed of "
            f"`{spec.relation_feed}`, same ids), and the full current set of every `{parent}` changed or "
            f"purged in the window (`{parent_field} IN (...)`), so the load can flag removed relations. "
            "In an org without Shared Activities the object does not exist: the task ends skipped.",
        )
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


def _sync_dag_defaults() -> dict[str, Any]:
    """What every sync DAG shares: start date, one run at a time, retries, failure alerts."""
    callbacks = alerts.failure_callbacks() or None
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": timedelta(hours=6),
        "default_args": {
            "owner": OWNER,
            "retries": 2,
            "retry_delay": timedelta(minutes=2),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=30),
            "on_failure_callback": callbacks,
        },
        "on_failure_callback": callbacks,
    }


def build_dag(table: str, specs: tuple[SObjectSpec, ...]) -> DAG:
    """The DAG syncing ``table`` from its registry entries (one schedule: the first entry's)."""
    first = specs[0]
    dag_id = first.resolved_dag_id
    dag = DAG(
        dag_id=dag_id,
        description=f"Salesforce {', '.join(s.name for s in specs)} -> {warehouse_schema()}.{table}",
        schedule=CronDataIntervalTimetable(first.schedule, timezone="UTC"),
        **_sync_dag_defaults(),
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
        _operating(dag, table, specs)  # preflight first, table asset on the loads
    return dag


# ---- operating: preflight task, table Asset, operator docs ---------------------------------------------
def _operating(dag: DAG, table: str, specs: tuple[SObjectSpec, ...]) -> None:
    """Put a ``preflight`` task before every chain and the table's Asset on every load task."""
    from salesforce_elt.airflow.assets import table_asset
    from salesforce_elt.ops import budget

    asset = table_asset(table)
    roots = [task for task in dag.tasks if not task.upstream_task_ids]
    preflight = SyncPreflightOperator(
        task_id="preflight",
        objects=[s.name for s in specs],
        doc_md="Checks before any API call is spent: the trigger params (end before start or in the "
        f"future fail here, without retries), the Salesforce connection `{settings.SALESFORCE_CONN_ID}` "
        "(login, describe of each object, API budget) and the warehouse connection "
        f"`{settings.WAREHOUSE_CONN_ID}` (reachable, migrations at head). The log names what to fix; "
        "the same checks run from a shell: `python -m salesforce_elt check`.",
    )
    preflight >> roots
    for task in dag.tasks:
        if isinstance(task, PostgresUpsertOperator):
            task.outlets = [asset]
    dag.doc_md = (dag.doc_md or "") + (
        "\n\n**Preflight** (first task): params, connections and migrations are checked before any "
        "extraction. **API budget**: the extract does not start (and REST paging stops) when the "
        f"org's remaining daily API requests or Bulk jobs fall under `{budget.RESERVE_ENV}` (default "
        f"20 %); with `{budget.ACTION_ENV}=skip` the run ends skipped and the next run covers the "
        "window. Usage and failures: `python -m salesforce_elt usage --days 7`; per-call log in "
        f"`{warehouse_schema()}.api_call_log`. **Asset** `{asset.name}` is updated by every load with "
        "the run's stats in the event's extra: schedule downstream DAGs on it."
    )


def build_object_dags() -> dict[str, DAG]:
    """dag_id -> DAG for every registry table, in a stable (sorted) order."""
    validate()
    dags = {}
    for table, specs in tables().items():
        dag = build_dag(table, specs)
        dags[dag.dag_id] = dag
    return dict(sorted(dags.items()))


TARGETED_DAG_ID = "salesforce_sync_targeted_contacts"


def build_targeted_contacts_dag(
    dag_id: str = TARGETED_DAG_ID, *, soql_max_chars: int | None = None, inline_max_ids: int | None = None
) -> DAG:
    """The targeted contact sync: contacts with activity in the window, one Bulk job per id chunk.

    discover (REST) -> extract / transform / load, each mapped over the id chunks (one Bulk 2.0
    job, one staging folder and one upsert per chunk: memory stays bounded whatever the
    discovery's size) -> mark. Rules in salesforce_elt.engine.targeted. ``soql_max_chars`` and
    ``inline_max_ids`` override the chunking limits (tests use small ones).
    """
    from salesforce_elt.airflow.operators.discover import (
        WINDOW_XCOM_KEY,
        SalesforceContactDiscoveryOperator,
        SalesforceIdChunkExtractOperator,
        TargetedMarkOperator,
    )
    from salesforce_elt.engine import targeted

    validate()
    spec = CONTACT
    schema = warehouse_schema()
    dag = DAG(
        dag_id=dag_id,
        description=f"Salesforce Contacts with activity in the window -> {schema}.{spec.table}",
        schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
        **_sync_dag_defaults(),
        tags=["salesforce", "Contact", "targeted"],
        doc_md=(
            f"# Targeted Contact sync → `{schema}.{spec.table}`\n\n"
            "Fetches exactly the contacts that Tasks, Events, TaskWhoRelations and EventWhoRelations "
            "changed in the window point at, and every contact of every activity changed in it (WhoId / "
            "RelationId with the Contact prefix `003`; WhoId alone in an org without Shared Activities), "
            "with the same transform and "
            "upsert as the Contact DAG. **discover** (REST) lists and validates the ids and splits them "
            "into chunks whose SOQL stays under Salesforce's 100,000 characters; **extract**, "
            "**transform** and **load** are mapped over the chunks (one Bulk API 2.0 job each); "
            f"**mark** advances this sync's own high-water mark (`sync_state` row `{targeted.MARK_NAME}`). "
            "Windows follow the usual rules (data interval minus lookback; manual runs from the mark; "
            "`start`/`end` params; `full_refresh` = every activity). The Contact DAG's own mark is "
            "never moved by this DAG."
        ),
        params={k: v for k, v in _params().items() if k != "api"},
    )
    limits: dict[str, Any] = {"soql_max_chars": soql_max_chars} if soql_max_chars else {}
    with dag:
        discover = SalesforceContactDiscoveryOperator(
            task_id="discover",
            **limits,
            inline_max_ids=inline_max_ids,
            doc_md="REST: the contact ids with activity in the window, validated, de-duplicated and chunked.",
        )
        extract = SalesforceIdChunkExtractOperator.partial(
            task_id="extract",
            object_name=spec.name,
            doc_md="One Bulk API 2.0 job fetching one chunk of discovered contacts.",
        ).expand(chunk=discover.output)
        transform = SalesforceTransformOperator.partial(
            task_id="transform", doc_md="Typed CSV of one chunk, as in the Contact DAG."
        ).expand(extract=extract.output)
        load = PostgresUpsertOperator.partial(
            task_id="load", doc_md=f"Upsert one chunk into `{schema}.{spec.table}` (newest SystemModstamp wins)."
        ).expand(transformed=transform.output)
        mark = TargetedMarkOperator(
            task_id="mark",
            window=XComArg(discover, key=WINDOW_XCOM_KEY),
            trigger_rule="none_failed",  # an empty discovery skips the mapped tasks; the window still counts
            doc_md="Advance this sync's high-water mark to the window end once every chunk is loaded.",
        )
        load >> mark
    return dag
