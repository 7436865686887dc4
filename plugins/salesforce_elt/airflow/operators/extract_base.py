"""What the Bulk and the REST extract share: settings, the run's plan, budget and drift checks,
halving a failed query's window, Bulk job cleanup (see operators/extract.py for the operators)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseOperator

from salesforce_elt import settings
from salesforce_elt.engine.extract_plan import (
    API_CHOICES,
    ApiChoice,
    ExtractPlan,
    WindowSplitError,
    earliest_cursor_soql,
    halve,
    parse_ids,
    resolve_api,
)
from salesforce_elt.engine.registry import SObjectSpec, get_object
from salesforce_elt.engine.windows import (
    SyncWindow,
    compute_window,
    parse_salesforce_datetime,
    targeted_window,
)

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine.contract import ExtractResult, WindowPiece

HighWaterMarkGetter = Callable[[str], "datetime | None"]


def _default_high_water_mark_getter() -> HighWaterMarkGetter | None:
    try:
        from salesforce_elt.engine.state import get_high_water_mark
    except ImportError:
        return None
    return get_high_water_mark


class ExtractOperatorBase(BaseOperator):
    """Common state and steps; the operators are in operators/extract.py."""

    template_fields: Sequence[str] = ("object_name", "soql_where", "ids")
    default_api: ClassVar[ApiChoice] = "auto"

    def __init__(
        self,
        *,
        object_name: str,
        conn_id: str = settings.SALESFORCE_CONN_ID,
        api: ApiChoice | None = None,
        max_records: int = 50_000,
        poll_interval: float = 10.0,
        job_timeout: timedelta = timedelta(hours=2),
        soql_where: str | None = None,
        ids: list[str] | str | None = None,
        id_field: str = "Id",
        high_water_mark_getter: HighWaterMarkGetter | None = None,
        max_api_usage: float | None = None,
        max_split_depth: int = 4,
        brief_wait: timedelta = timedelta(seconds=4),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        api = api or self.default_api
        if api not in API_CHOICES:
            raise ValueError(f"{self.task_id}: api={api!r} must be one of {', '.join(API_CHOICES)}")
        self.object_name = object_name
        self.conn_id = conn_id
        self.api = api
        self.max_records = max_records
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.soql_where = soql_where
        self.ids = ids
        self.id_field = id_field
        self.high_water_mark_getter = high_water_mark_getter
        self.max_api_usage = max_api_usage
        # A window whose query fails (Bulk job Failed, REST QUERY_TIMEOUT) is halved by the cursor,
        # at most this many times in a row (2**depth pieces) before the task fails.
        self.max_split_depth = max_split_depth
        # How long the worker polls a new Bulk job itself before deferring (see _brief_wait).
        self.brief_wait = brief_wait
        self._job_ids: list[str] = []

    # ---- planning ------------------------------------------------------------------------------
    def _resolve_api(self, context: Context, spec: SObjectSpec) -> str:
        return resolve_api(context.get("params"), self.api, spec)

    def _high_water_mark(self, spec: SObjectSpec) -> datetime | None:
        getter = self.high_water_mark_getter or _default_high_water_mark_getter()
        if getter is None:
            self.log.warning(
                "%s: no high-water mark source (salesforce_elt.engine.state); treating as a first load", spec.name
            )
            return None
        return getter(spec.name)

    def _plan(self, context: Context) -> ExtractPlan:
        spec = get_object(self.object_name)
        ids = parse_ids(self.ids)
        targeted = ids is not None or bool(self.soql_where)
        window = (
            targeted_window(spec) if targeted else compute_window(context, spec, self._high_water_mark(spec))
        )
        self.log.info("%s window: %s", spec.name, window.to_json())
        return ExtractPlan.build(spec, window, ids, self.soql_where, self.id_field)

    @staticmethod
    def _soql_limit(api: str) -> int:
        """The statement length limit of ``api``, as operators/extract.py defines it when the run starts."""
        from salesforce_elt.airflow.operators import extract

        return extract.BULK_SOQL_MAX_CHARS if api == "bulk" else extract.REST_SOQL_MAX_CHARS

    def _guard_drift(self, context: Context, hook: SalesforceApiHook, plan: ExtractPlan) -> ExtractPlan:
        """Drop fields Salesforce no longer has from the SOQL; report new ones (salesforce_elt.ops.drift)."""
        from salesforce_elt.ops import drift

        if not drift.enabled():
            return plan
        spec, report = drift.guard(plan.spec, hook.describe(plan.spec.name))
        if report["dropped_fields"] or report["new_fields"] or report["changed_fields"]:
            drift.record(context, plan.spec.name, report)
        return replace(plan, spec=spec)

    def _check_api_quota(self, hook: SalesforceApiHook, spec: SObjectSpec, api: str) -> None:
        """Refuse to start when the org's daily API requests (or Bulk jobs) are under the reserve.

        A sync that drains the quota breaks every other integration of the org; one ``/limits``
        call per run is a cheap guard. Raises budget.BudgetExhausted, which
        monitoring.extract_attempt turns into a skip or a failure (SALESFORCE_ELT_BUDGET_ACTION).
        ``max_api_usage`` (a share of the allowance this sync may use up) overrides the reserve.
        """
        from salesforce_elt.ops import budget

        reserve = budget.api_reserve() if self.max_api_usage is None else 1.0 - self.max_api_usage
        hook.api_reserve = reserve
        for allowance in budget.check_limits(hook.limits(), reserve, api, what=f"extract {spec.name}"):
            self.log.info("%s: API budget %s (reserve %.0f%%)", spec.name, allowance, 100 * reserve)

    def _skip(self, context: Context, hook: SalesforceApiHook, reason: str) -> NoReturn:
        """End skipped (with a ``skipped`` sync_runs row): the org has no such object."""
        from airflow.sdk.exceptions import AirflowSkipException

        from salesforce_elt.ops import monitoring

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

    def _extract_rest(
        self, hook: SalesforceApiHook, plan: ExtractPlan, attempt: ObjectStoragePath
    ) -> ExtractResult:  # pragma: no cover - operators/extract_rest.py
        raise NotImplementedError

    # ---- splitting a window too large for one query -------------------------------------------
    def _halve(
        self, hook: SalesforceApiHook, spec: SObjectSpec, piece: WindowPiece, window: SyncWindow, reason: str
    ) -> tuple[WindowPiece, WindowPiece]:
        """The two halves of a failed piece's cursor window, or a clear error past the depth limit."""
        from airflow.sdk.exceptions import AirflowException

        earliest = None
        if piece.start is None and piece.depth < self.max_split_depth:
            earliest = self._earliest_cursor(hook, spec, window)
        try:
            halves = halve(
                spec, piece, window.end, earliest=earliest, max_split_depth=self.max_split_depth, reason=reason
            )
        except WindowSplitError as exc:
            raise AirflowException(str(exc)) from None
        middle = halves[0].end
        self.log.warning(
            "%s: query for %s window %s failed (%s); splitting it at %s (split %d of at most %d)",
            spec.name, spec.cursor_field, piece.label, reason, middle.isoformat() if middle else None,
            piece.depth + 1, self.max_split_depth,
        )  # fmt: skip
        return halves

    def _earliest_cursor(self, hook: SalesforceApiHook, spec: SObjectSpec, window: SyncWindow) -> datetime | None:
        """The oldest cursor value (whole second) of the rows an unbounded window reads; None if none."""
        cursor = spec.cursor_field
        soql = earliest_cursor_soql(spec, self.soql_where)
        answer = hook.get_json("queryAll" if window.query_all else "query", params={"q": soql})
        for record in answer.get("records") or []:
            value = next(v for k, v in record.items() if k.lower() == cursor.lower())
            return parse_salesforce_datetime(value).replace(microsecond=0)
        return None

    # ---- Bulk job cleanup -----------------------------------------------------------------------
    def _abort_jobs(self, hook: SalesforceBulk2Hook) -> None:
        for job_id in self._job_ids:
            try:
                hook.abort_job(job_id)
                self.log.warning("Aborted Bulk API 2.0 job %s", job_id)
            except Exception as exc:  # already finished or gone: nothing left to stop
                self.log.info("Bulk API 2.0 job %s not aborted: %s", job_id, exc)

    def _delete_job_quietly(self, hook: SalesforceBulk2Hook, job_id: str) -> None:
        try:
            hook.delete_job(job_id)
        except Exception as exc:  # Salesforce deletes finished jobs after 7 days anyway
            self.log.info("Bulk API 2.0 job %s not deleted: %s", job_id, exc)

    def on_kill(self) -> None:
        if self._job_ids:
            from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook

            self._abort_jobs(SalesforceBulk2Hook(self.conn_id))
