"""Extract one Salesforce object's window into staged CSV files (Bulk API 2.0, deferrable, or REST).

Both operators compute the window (windows.py), build the SOQL (soql.py), write Bulk-2.0-format
CSV parts into this attempt's staging folder and return the contract's XCom dict (see
.local/SYNC-ENGINE-CONTRACT.md). The API actually used can be chosen per run with the ``api``
param ("auto" | "bulk" | "rest"); a Bulk job that Salesforce refuses (INVALIDENTITY, compound
fields, ...) falls back to REST by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from airflow.sdk import BaseOperator, ObjectStoragePath

from salesforce_elt import settings
from salesforce_elt.registry import SObjectSpec, get_object
from salesforce_elt.soql import build_spec_select, chunk_ids_for_soql
from salesforce_elt.windows import SyncWindow, compute_window, targeted_window

ApiChoice = Literal["auto", "bulk", "rest"]
API_CHOICES: tuple[str, ...] = ("auto", "bulk", "rest")
REST_SOQL_MAX_CHARS = 10_000  # REST sends SOQL in the URL (~16,000 characters once encoded)
BULK_SOQL_MAX_CHARS = 100_000
DEFERRAL_GRACE = timedelta(minutes=5)  # the trigger reports "timeout" itself; this is only a backstop
HighWaterMarkGetter = Callable[[str], "datetime | None"]


def _default_high_water_mark_getter() -> HighWaterMarkGetter | None:
    try:
        from salesforce_elt.state import get_high_water_mark
    except ImportError:
        return None
    return get_high_water_mark


def _parse_ids(ids: Any) -> list[str] | None:
    """``ids`` as a list: templates render lists to strings (JSON or comma separated)."""
    if ids is None:
        return None
    if isinstance(ids, str):
        text = ids.strip()
        if text.startswith("["):
            return [str(v) for v in json.loads(text)]
        return [part for part in text.replace(",", " ").split() if part]
    return [str(v) for v in ids]


@dataclass(frozen=True)
class _Plan:
    spec: SObjectSpec
    window: SyncWindow
    targeted: bool
    ids: list[str] | None


class SalesforceExtractOperator(BaseOperator):
    """Common logic; use ``SalesforceBulkExtractOperator`` or ``SalesforceRestExtractOperator``."""

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
        max_api_usage: float | None = 0.9,
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
        self._job_ids: list[str] = []

    # ---- planning ------------------------------------------------------------------------------
    def _resolve_api(self, context: Any, spec: SObjectSpec) -> str:
        requested = (context.get("params") or {}).get("api") or "auto"
        if requested not in API_CHOICES:
            raise ValueError(f"param 'api'={requested!r} must be one of {', '.join(API_CHOICES)}")
        for choice in (requested, self.api):
            if choice != "auto":
                return choice
        return spec.api

    def _high_water_mark(self, spec: SObjectSpec) -> datetime | None:
        getter = self.high_water_mark_getter or _default_high_water_mark_getter()
        if getter is None:
            self.log.warning(
                "%s: no high-water mark source (salesforce_elt.state); treating as a first load", spec.name
            )
            return None
        return getter(spec.name)

    def _plan(self, context: Any) -> _Plan:
        spec = get_object(self.object_name)
        ids = _parse_ids(self.ids)
        targeted = ids is not None or bool(self.soql_where)
        window = (
            targeted_window(spec) if targeted else compute_window(context, spec, self._high_water_mark(spec))
        )
        self.log.info("%s window: %s", spec.name, window.as_dict())
        return _Plan(spec, window, targeted, ids)

    def _statements(self, plan: _Plan, api: str) -> list[str]:
        spec, window = plan.spec, plan.window
        if plan.ids is not None:
            where = f"({self.soql_where}) AND " if self.soql_where else ""
            base = f"{build_spec_select(spec)} WHERE {where}"
            limit = BULK_SOQL_MAX_CHARS if api == "bulk" else REST_SOQL_MAX_CHARS
            prefix = spec.key_prefix if self.id_field == spec.primary_key else None
            return list(chunk_ids_for_soql(base, plan.ids, limit, field=self.id_field, prefix=prefix))
        if window.full_refresh or plan.targeted:
            return [build_spec_select(spec, where=self.soql_where)]
        return [build_spec_select(spec, start=window.start, end=window.end, where=self.soql_where)]

    def _check_api_quota(self, hook: Any, spec: SObjectSpec) -> None:
        """Refuse to start when the org's daily API allowance is nearly spent.

        A sync that drains the quota breaks every other integration of the org (peers.md #6);
        one ``/limits`` call per run is a cheap guard.
        """
        from airflow.exceptions import AirflowException

        if self.max_api_usage is None:
            return
        daily = hook.limits().get("DailyApiRequests") or {}
        maximum, remaining = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
        if maximum and (maximum - remaining) / maximum >= self.max_api_usage:
            raise AirflowException(
                f"{spec.name}: not extracting, Salesforce daily API requests {maximum - remaining}/{maximum} "
                f"are at or above max_api_usage={self.max_api_usage:.0%}"
            )

    # ---- execution ---------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        from salesforce_elt.hooks.bulk2 import SalesforceBulk2Hook
        from salesforce_elt.hooks.errors import BulkQueryNotSupportedError
        from salesforce_elt.staging import attempt_dir

        plan = self._plan(context)
        api = self._resolve_api(context, plan.spec)
        attempt = attempt_dir(context, plan.spec.name)
        hook = SalesforceBulk2Hook(self.conn_id)
        self._check_api_quota(hook, plan.spec)
        if api == "rest":
            return self._extract_rest(hook, plan, attempt)
        statements = self._statements(plan, "bulk")
        if not statements:
            return self._extract_rest(hook, plan, attempt)  # nothing to ask: writes the empty result
        operation = "queryAll" if plan.window.query_all else "query"
        # A fresh list per execution: dag.test() runs the same operator object again.
        self._job_ids = []
        try:
            for statement in statements:
                self._job_ids.append(hook.create_query_job(statement, operation)["id"])
        except BulkQueryNotSupportedError as exc:
            self.log.warning(
                "%s: Bulk API 2.0 refused the query (%s); extracting through REST", plan.spec.name, exc
            )
            return self._extract_rest(hook, plan, attempt)
        state = {
            "object": plan.spec.name,
            "soql": _soql_summary(statements),
            "job_ids": self._job_ids,
            "index": 0,
            "window": plan.window.as_dict(),
            "incremental_deletes": self._wants_deleted_feed(plan),
            "attempt_uri": str(attempt),
            "deadline": time.time() + self.job_timeout.total_seconds(),
            "api_usage_before": hook.api_usage_first,
            "api_calls": hook.api_calls,
        }
        self._defer_on(state)

    def _defer_on(self, state: dict[str, Any]) -> None:
        from salesforce_elt.triggers.bulk2 import Bulk2QueryJobTrigger

        job_id = state["job_ids"][state["index"]]
        trigger = Bulk2QueryJobTrigger(
            job_id=job_id,
            conn_id=self.conn_id,
            poll_interval=self.poll_interval,
            deadline=state["deadline"],
            carry=state,
        )
        remaining = max(0.0, state["deadline"] - time.time())
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining) + DEFERRAL_GRACE,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.exceptions import AirflowException

        from salesforce_elt.hooks.bulk2 import SalesforceBulk2Hook

        state = (event or {}).get("carry")
        if not state:
            raise AirflowException(f"{self.task_id}: resumed without a Bulk 2.0 trigger event: {event!r}")
        hook = SalesforceBulk2Hook(self.conn_id)
        job_ids: list[str] = state["job_ids"]
        self._job_ids = job_ids[state["index"] :]
        if event.get("status") != "success":
            if event.get("status") in ("timeout", "error"):
                self._abort_jobs(hook)
            raise AirflowException(
                f"Bulk API 2.0 query job {event.get('job_id')} for {state['object']} ended "
                f"{event.get('status')} (state {event.get('state')}): {event.get('message')}"
            )
        # Salesforce's own count per job, checked against the rows downloaded below.
        expected = [*state.get("job_records", []), event.get("records")]
        if state["index"] + 1 < len(job_ids):
            self._defer_on({**state, "index": state["index"] + 1, "job_records": expected})
        spec = get_object(state["object"])
        attempt = ObjectStoragePath(state["attempt_uri"])
        raw = attempt / "raw"
        files: list[str] = []
        records = 0
        for job_id, job_records in zip(job_ids, expected, strict=True):
            new_files, new_records = hook.download_results(
                job_id, raw, self.max_records, start_part=len(files), header=spec.soql_fields
            )
            if job_records is not None and new_records != job_records:
                raise AirflowException(
                    f"Bulk API 2.0 job {job_id} for {spec.name}: downloaded {new_records} rows, "
                    f"Salesforce processed {job_records}"
                )
            files += new_files
            records += new_records
        self._job_ids = []
        window = state["window"]
        deleted_uri, deleted_records = None, 0
        if state["incremental_deletes"]:
            deleted_uri, deleted_records = self._deleted_feed(hook, spec, window, attempt)
        for job_id in job_ids:
            self._delete_job_quietly(hook, job_id)
        return self._xcom(
            spec=spec,
            api="bulk",
            soql=state["soql"],
            raw=raw,
            files=files,
            records=records,
            job_ids=job_ids,
            deleted=(deleted_uri, deleted_records),
            window=window,
            usage_before=state["api_usage_before"] or hook.api_usage_first,
            usage_after=hook.api_usage,
            api_calls=state["api_calls"] + hook.api_calls,
        )

    def _extract_rest(self, hook: Any, plan: _Plan, attempt: ObjectStoragePath) -> dict[str, Any]:
        from salesforce_elt.staging import CsvPartWriter

        spec = plan.spec
        statements = self._statements(plan, "rest")
        raw = attempt / "raw"
        files: list[str] = []
        records = 0
        if not statements:  # an empty id list: a header-only part, so readers see the columns
            with CsvPartWriter(raw, spec.soql_fields) as writer:
                pass
            files = writer.files
        for statement in statements:
            new_files, new_records = hook.query_to_csv(
                statement, spec.soql_fields, raw, include_deleted=plan.window.query_all, start_part=len(files)
            )
            files += new_files
            records += new_records
        window = plan.window.as_dict()
        deleted: tuple[str | None, int] = (None, 0)
        if self._wants_deleted_feed(plan):
            deleted = self._deleted_feed(hook, spec, window, attempt)
        return self._xcom(
            spec=spec,
            api="rest",
            soql=_soql_summary(statements),
            raw=raw,
            files=files,
            records=records,
            job_ids=[],
            deleted=deleted,
            window=window,
            usage_before=hook.api_usage_first,
            usage_after=hook.api_usage,
            api_calls=hook.api_calls,
        )

    # ---- deletes, cleanup, XCom ---------------------------------------------------------------
    @staticmethod
    def _wants_deleted_feed(plan: _Plan) -> bool:
        return plan.spec.delete_handling == "soft_and_hard" and plan.window.incremental and not plan.targeted

    def _deleted_feed(
        self, hook: Any, spec: SObjectSpec, window: dict[str, Any], attempt: ObjectStoragePath
    ) -> tuple[str, int]:
        dest = attempt / "deleted.csv"
        rows, _start = hook.deleted(
            spec.name, datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]), dest
        )
        self.log.info("%s: %d hard-deleted record(s) in the window", spec.name, rows)
        return str(dest), rows

    def _abort_jobs(self, hook: Any) -> None:
        for job_id in self._job_ids:
            try:
                hook.abort_job(job_id)
                self.log.warning("Aborted Bulk API 2.0 job %s", job_id)
            except Exception as exc:  # already finished or gone: nothing left to stop
                self.log.info("Bulk API 2.0 job %s not aborted: %s", job_id, exc)

    def _delete_job_quietly(self, hook: Any, job_id: str) -> None:
        try:
            hook.delete_job(job_id)
        except Exception as exc:  # Salesforce deletes finished jobs after 7 days anyway
            self.log.info("Bulk API 2.0 job %s not deleted: %s", job_id, exc)

    def on_kill(self) -> None:
        if self._job_ids:
            from salesforce_elt.hooks.bulk2 import SalesforceBulk2Hook

            self._abort_jobs(SalesforceBulk2Hook(self.conn_id))

    @staticmethod
    def _xcom(
        *,
        spec: SObjectSpec,
        api: str,
        soql: str,
        raw: ObjectStoragePath,
        files: list[str],
        records: int,
        job_ids: list[str],
        deleted: tuple[str | None, int],
        window: dict[str, Any],
        usage_before: str | None,
        usage_after: str | None,
        api_calls: int,
    ) -> dict[str, Any]:
        return {
            "object": spec.name,
            "api": api,
            "soql": soql,
            "fields": list(spec.soql_fields),
            "raw_uri": str(raw),
            "files": files,
            "records": records,
            "job_ids": job_ids,
            "deleted_uri": deleted[0],
            "deleted_records": deleted[1],
            "window": window,
            "api_usage": {"before": usage_before, "after": usage_after},
            "api_calls": api_calls,
        }


def _soql_summary(statements: list[str], limit: int = 4000) -> str:
    """The SOQL for the XCom: in full unless a long id list would bloat it."""
    text = ";\n".join(statements)
    if len(text) <= limit:
        return text
    return f"{statements[0][:1000]}... [{len(statements)} statement(s), {len(text)} characters]"


class SalesforceBulkExtractOperator(SalesforceExtractOperator):
    """Extract through a Bulk API 2.0 query job; waits for it in the triggerer (deferrable)."""

    default_api: ClassVar[ApiChoice] = "bulk"
    ui_color = "#cfe8fc"


class SalesforceRestExtractOperator(SalesforceExtractOperator):
    """Extract through REST query/queryAll paging (objects Bulk 2.0 rejects, small objects)."""

    default_api: ClassVar[ApiChoice] = "rest"
    ui_color = "#e8f4e8"
