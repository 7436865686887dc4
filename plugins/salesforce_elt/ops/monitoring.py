"""Monitoring rows in the warehouse: ``sync_runs`` outcomes besides the loader's, and ``api_call_log``.

Every ``sync_runs`` row, the loader's included, is written by ``sync_runs.insert``.

- The loader writes the ``success`` row (and a ``failed`` one when the load itself fails).
- A failed extract/transform/preflight leaves a ``failed`` row through the task failure callback
  (``record_task_failure``), once the task has no retries left.
- An extract stopped by the API budget guard leaves a ``skipped`` row with the reason.
- Every extract attempt saves the hook's per-call log (method, path without query string,
  status, latency, usage) in one ``executemany`` at the end of the attempt, deferral included.

Monitoring never breaks a sync: a warehouse error here is logged as a warning and swallowed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from salesforce_elt import settings
from salesforce_elt.engine import registry, sync_runs
from salesforce_elt.ops import budget

if TYPE_CHECKING:
    from salesforce_elt.airflow.hooks.calls import ApiCall
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook

log = logging.getLogger(__name__)

ERROR_LIMIT = sync_runs.ERROR_LIMIT
RUN_COLUMNS = sync_runs.COLUMNS
CALL_COLUMNS = (
    "called_at",
    "dag_id",
    "run_id",
    "task_id",
    "object_name",
    "method",
    "path",
    "status",
    "latency_ms",
    "api_usage",
)


def _table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(registry.warehouse_schema()), sql.Identifier(name))


def _insert(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        _table(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
    )


def save_api_calls(
    calls: Sequence[ApiCall],
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    object_name: str | None,
    conn_id: str | None = None,
) -> int:
    """Insert the calls into ``api_call_log`` in one round trip; returns how many."""
    if not calls:
        return 0
    from salesforce_elt.engine import warehouse

    rows = [
        {
            "called_at": c.at,
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "object_name": object_name,
            "method": c.method,
            "path": c.path,
            "status": c.status,
            "latency_ms": c.latency_ms,
            "api_usage": c.api_usage,
        }
        for c in calls
    ]
    with warehouse.connect(conn_id or settings.WAREHOUSE_CONN_ID) as conn, conn.cursor() as cur:
        cur.executemany(_insert("api_call_log", CALL_COLUMNS), rows)
    return len(rows)


def record_run(status: str, *, conn_id: str | None = None, **values: Any) -> None:
    """Insert a ``sync_runs`` row for an outcome the loader never sees (skipped, failed before load)."""
    from salesforce_elt.engine import warehouse

    with warehouse.connect(conn_id or settings.WAREHOUSE_CONN_ID) as conn:
        sync_runs.insert(conn, {**values, "status": status})


def _quietly(what: str, func: Any, *args: Any, **kwargs: Any) -> None:
    try:
        func(*args, **kwargs)
    except Exception as exc:  # the warehouse may be what is down; the sync's own error matters more
        log.warning("Could not %s: %s: %s", what, type(exc).__name__, exc)


def _run_keys(context: Any) -> dict[str, Any]:
    ti = context["ti"]
    dag_run = context.get("dag_run")
    return {"dag_id": ti.dag_id, "run_id": ti.run_id, "started_at": getattr(dag_run, "start_date", None)}


@contextlib.contextmanager
def extract_attempt(context: Any, hook: SalesforceApiHook, object_name: str) -> Iterator[None]:
    """Wraps one extract attempt (``execute`` or ``execute_complete``).

    Arms the hook's REST budget guard, turns ``BudgetExhausted`` into the configured outcome
    (skip or fail, with a ``skipped``/``failed`` sync_runs row) and saves the call log at the
    end, whether the attempt returns, defers or raises.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    hook.api_reserve = budget.api_reserve()
    try:
        yield
    except budget.BudgetExhausted as exc:
        message = f"{object_name}: {exc}"
        if budget.budget_action() == "fail":  # the failure callback records the failed row
            raise AirflowFailException(message) from exc
        _quietly(
            "record the budget stop in sync_runs",
            record_run,
            "skipped",
            **_run_keys(context),
            object_name=object_name,
            error_message=message,
            api_calls=hook.api_calls,
            api_usage_before=hook.api_usage_first,
            api_usage_after=hook.api_usage,
        )
        raise AirflowSkipException(message) from exc
    finally:
        ti = context["ti"]
        _quietly(
            "save the API call log",
            save_api_calls,
            hook.take_call_log(),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            object_name=object_name,
        )


def with_extract_seconds(result: Any, context: Any) -> Any:
    """The extract XCom plus ``seconds.extract``: since the task instance started, deferral included."""
    started = getattr(context["ti"], "start_date", None)
    if not isinstance(result, dict) or started is None:
        return result
    elapsed = (datetime.now(UTC) - started).total_seconds()
    return {**result, "seconds": {**(result.get("seconds") or {}), "extract": round(elapsed, 3)}}


def object_for_task(dag_id: str, task_id: str) -> str | None:
    """The registry object a sync task works on (a group ``contact.extract`` names it)."""
    specs = [s for s in registry.REGISTRY.values() if s.resolved_dag_id == dag_id]
    if len(specs) == 1:
        return specs[0].name
    group = task_id.rsplit(".", 1)[0].lower() if "." in task_id else None
    return next((s.name for s in specs if s.name.lower() == group), None)


def _extract_xcom(ti: Any, task_id: str) -> dict[str, Any]:
    extract_id = f"{task_id.rsplit('.', 1)[0]}.extract" if "." in task_id else "extract"
    try:
        value = ti.xcom_pull(task_ids=extract_id)
    except Exception:  # no XCom yet (the extract itself failed) or none readable
        return {}
    return value if isinstance(value, dict) else {}


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def record_task_failure(context: Any) -> None:
    """Failure callback body: a ``failed`` sync_runs row for a task that does not record its own."""
    ti, task = context.get("ti"), context.get("task")
    if ti is None or getattr(task, "records_sync_runs", False):
        return
    object_name = object_for_task(ti.dag_id, ti.task_id)
    if object_name is None:
        return
    error = context.get("exception")
    extracted = _extract_xcom(ti, ti.task_id)
    window = extracted.get("window") or {}
    usage = extracted.get("api_usage") or {}
    _quietly(
        "record the failed run in sync_runs",
        record_run,
        "failed",
        **_run_keys(context),
        object_name=object_name,
        error_message=f"{ti.task_id}: {type(error).__name__}: {error}" if error else ti.task_id,
        window_start=_parse(window.get("start")),
        window_end=_parse(window.get("end")),
        api=extracted.get("api"),
        job_ids=extracted.get("job_ids") or None,
        rows_extracted=extracted.get("records"),
        seconds_extract=(extracted.get("seconds") or {}).get("extract"),
        api_calls=extracted.get("api_calls"),
        api_usage_before=usage.get("before"),
        api_usage_after=usage.get("after"),
    )


# ---- the usage summary (python -m salesforce_elt usage) ------------------------------------------
def _rows(conn: Any, query: sql.Composable, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def usage_summary(conn: Any, days: int, *, limit: int = 10) -> dict[str, Any]:
    """API calls per day and object, runs per object, failures, slowest runs, last recorded usage."""
    params = {"days": days, "limit": limit}
    since = sql.SQL("now() - make_interval(days => %(days)s)")
    calls, runs = _table("api_call_log"), _table("sync_runs")
    seconds = sql.SQL(
        "coalesce(seconds_extract, 0) + coalesce(seconds_transform, 0) + coalesce(seconds_load, 0)"
    )
    return {
        "days": days,
        "calls_per_day": _rows(
            conn,
            sql.SQL(
                "SELECT (called_at AT TIME ZONE 'UTC')::date AS day, coalesce(object_name, '-') AS object_name,"
                " count(*) AS calls, count(*) FILTER (WHERE status IS NULL OR status >= 400) AS errors,"
                " round(avg(latency_ms))::int AS avg_latency_ms"
                " FROM {} WHERE called_at >= {} GROUP BY 1, 2 ORDER BY 1, 2"
            ).format(calls, since),
            params,
        ),
        "runs": _rows(
            conn,
            sql.SQL(
                "SELECT object_name, count(*) AS runs,"
                " count(*) FILTER (WHERE status = 'success') AS succeeded,"
                " count(*) FILTER (WHERE status = 'failed') AS failed,"
                " count(*) FILTER (WHERE status = 'skipped') AS skipped,"
                " round(avg(rows_extracted) FILTER (WHERE status = 'success'))::bigint AS avg_rows_extracted,"
                " coalesce(sum(new_records), 0) AS new_records, coalesce(sum(updated_records), 0) AS updated_records,"
                " coalesce(sum(deleted_records), 0) AS deleted_records, coalesce(sum(rows_rejected), 0) AS rejected,"
                " coalesce(sum(records_cleaned), 0) AS cleaned_of_nul,"
                " coalesce(sum(api_calls), 0) AS api_calls"
                " FROM {} WHERE finished_at >= {} GROUP BY 1 ORDER BY 1"
            ).format(runs, since),
            params,
        ),
        "failures": _rows(
            conn,
            sql.SQL(
                "SELECT finished_at, dag_id, run_id, object_name, status, left(error_message, 300) AS error_message"
                " FROM {} WHERE finished_at >= {} AND status <> 'success'"
                " ORDER BY finished_at DESC LIMIT %(limit)s"
            ).format(runs, since),
            params,
        ),
        "slowest_runs": _rows(
            conn,
            sql.SQL(
                "SELECT finished_at, dag_id, run_id, object_name, api, rows_extracted,"
                " round(({s})::numeric, 1)::float AS seconds, seconds_extract, seconds_transform, seconds_load"
                " FROM {t} WHERE finished_at >= {since} AND status = 'success'"
                " ORDER BY {s} DESC LIMIT 5"
            ).format(s=seconds, t=runs, since=since),
            params,
        ),
        "last_usage": _rows(
            conn,
            sql.SQL(
                "SELECT at, api_usage FROM ("
                " SELECT called_at AS at, api_usage FROM {} WHERE api_usage IS NOT NULL"
                " UNION ALL SELECT finished_at, api_usage_after FROM {} WHERE api_usage_after IS NOT NULL"
                ") AS u ORDER BY at DESC LIMIT 1"
            ).format(calls, runs),
            params,
        ),
    }
