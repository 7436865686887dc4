"""Extract one Salesforce object's window into staged CSV files (Bulk API 2.0, deferrable, or REST).

Both operators compute the window (windows.py), plan the SOQL (extract_plan.py), write
Bulk-2.0-format CSV parts into this attempt's staging folder and return the extract result of
the stage contract (contract.ExtractResult, as JSON in the XCom). The API actually used can be
chosen per run with the ``api`` param ("auto" | "bulk" | "rest"); a Bulk job that Salesforce
refuses (INVALIDENTITY, compound fields, ...) falls back to REST by itself. Deletions are read
as the object's delete strategy says (deletes.py).

The steps live beside this module: extract_base.py (settings, plan, budget, window halving),
extract_bulk.py (jobs, deferral, resumption) and extract_rest.py (paging).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.operators.extract_base import ExtractOperatorBase, HighWaterMarkGetter
from salesforce_elt.airflow.operators.extract_bulk import (
    DEFERRAL_GRACE,
    SETTLE_AFTER_DEFER,
    BulkExtractMixin,
    JobEnded,
)
from salesforce_elt.airflow.operators.extract_rest import RestExtractMixin
from salesforce_elt.engine.contract import ExtractResult, JobEvent
from salesforce_elt.engine.extract_plan import (
    API_CHOICES,
    BULK_SOQL_MAX_CHARS,
    ID_FIELDS,
    REST_SOQL_MAX_CHARS,
    ApiChoice,
)
from salesforce_elt.engine.registry import get_object, missing_in_org

if TYPE_CHECKING:
    from airflow.sdk import Context

    from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook

__all__ = [
    "API_CHOICES",
    "BULK_SOQL_MAX_CHARS",
    "DEFERRAL_GRACE",
    "ID_FIELDS",
    "REST_SOQL_MAX_CHARS",
    "SETTLE_AFTER_DEFER",
    "ApiChoice",
    "ExtractOperatorBase",
    "HighWaterMarkGetter",
    "SalesforceBulkExtractOperator",
    "SalesforceExtractOperator",
    "SalesforceRestExtractOperator",
]


class SalesforceExtractOperator(BulkExtractMixin, RestExtractMixin):
    """Common logic; use ``SalesforceBulkExtractOperator`` or ``SalesforceRestExtractOperator``."""

    def execute(self, context: Context) -> dict[str, Any]:
        from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
        from salesforce_elt.ops import monitoring

        hook = SalesforceBulk2Hook(self.conn_id)
        # Budget stops become a skip/fail; the call log is saved even when the task defers or fails.
        with monitoring.extract_attempt(context, hook, self.object_name):
            result = self._until_deferred(hook, lambda: self._start(context, hook), calls_before=0)
            xcom: dict[str, Any] = monitoring.with_extract_seconds(result.to_json(), context)
            return xcom

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException

        from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
        from salesforce_elt.ops import monitoring

        hook = SalesforceBulk2Hook(self.conn_id)
        with monitoring.extract_attempt(context, hook, self.object_name):
            # The triggerer's polls join this hook's call log (saved when the attempt ends) and count.
            hook.absorb_calls((event or {}).get("calls"), int((event or {}).get("calls_dropped") or 0))
            job_event = JobEvent.from_json(event or {})
            carry = job_event.carry
            if carry is None:
                raise AirflowException(f"{self.task_id}: resumed without a Bulk 2.0 trigger event: {event!r}")
            result = self._until_deferred(
                hook, lambda: self._finish(job_event, carry, hook), calls_before=carry.api_calls
            )
            xcom: dict[str, Any] = monitoring.with_extract_seconds(result.to_json(), context)
            return xcom

    def _until_deferred(
        self, hook: SalesforceBulk2Hook, step: Callable[[], ExtractResult], *, calls_before: int
    ) -> ExtractResult:
        """Run ``step``; a job that ended during ``_defer_on``'s brief wait resumes here, not in the triggerer.

        ``calls_before``: API calls of the hooks before this one (a resumed task's earlier attempts at
        the job): a resumption on the same hook must not count this hook's calls twice.
        """
        self._hook = hook
        self._calls_before_hook = calls_before
        while True:
            try:
                return step()
            except JobEnded as ended:
                if ended.event.carry is None:
                    raise
                step = partial(self._finish, ended.event, ended.event.carry, hook)

    def _start(self, context: Context, hook: SalesforceBulk2Hook) -> ExtractResult:
        """The extract, or a skip when the org has no such object (no Shared Activities)."""
        try:
            return self._start_extract(context, hook)
        except SalesforceApiError as exc:
            reason = missing_in_org(get_object(self.object_name), exc.error_code)
            if reason is None:
                raise
            self._skip(context, hook, reason)

    def _start_extract(self, context: Context, hook: SalesforceBulk2Hook) -> ExtractResult:
        from salesforce_elt.engine.staging import attempt_dir

        plan = self._guard_drift(context, hook, self._plan(context))
        api = self._resolve_api(context, plan.spec)
        attempt = attempt_dir(context, plan.spec.name)
        self._check_api_quota(hook, plan.spec, api)
        if api == "rest":
            return self._extract_rest(hook, plan, attempt)
        return self._bulk_or_rest(hook, plan, attempt)


class SalesforceBulkExtractOperator(SalesforceExtractOperator):
    """Extract through a Bulk API 2.0 query job; waits for it in the triggerer (deferrable)."""

    default_api: ClassVar[ApiChoice] = "bulk"
    ui_color = "#cfe8fc"


class SalesforceRestExtractOperator(SalesforceExtractOperator):
    """Extract through REST query/queryAll paging (objects Bulk 2.0 rejects, small objects)."""

    default_api: ClassVar[ApiChoice] = "rest"
    ui_color = "#e8f4e8"
