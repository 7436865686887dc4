"""Extract one Salesforce object's window into staged CSV files (Bulk API 2.0, deferrable, or REST).

Both operators compute the window (windows.py), build the SOQL (soql.py), write Bulk-2.0-format
CSV parts into this attempt's staging folder and return the contract's XCom dict (see
docs/sync-contract.md). The API actually used can be chosen per run with the ``api``
param ("auto" | "bulk" | "rest"); a Bulk job that Salesforce refuses (INVALIDENTITY, compound
fields, ...) falls back to REST by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Literal

from airflow.sdk import BaseOperator, ObjectStoragePath

from salesforce_elt import settings
from salesforce_elt.drift import without_fields
from salesforce_elt.hooks.errors import SalesforceApiError
from salesforce_elt.registry import SObjectSpec, get_object
from salesforce_elt.soql import (
    build_select,
    build_spec_select,
    chunk_ids_for_soql,
    validate_field_name,
    validate_object_name,
)
from salesforce_elt.windows import (
    SyncWindow,
    compute_window,
    parse_salesforce_datetime,
    split_point,
    targeted_window,
)

ApiChoice = Literal["auto", "bulk", "rest"]
API_CHOICES: tuple[str, ...] = ("auto", "bulk", "rest")
REST_SOQL_MAX_CHARS = 10_000  # REST sends SOQL in the URL (~16,000 characters once encoded)
BULK_SOQL_MAX_CHARS = 100_000
ID_FIELDS = ("Id", "IsDeleted")  # the Id list read when the /deleted feed cannot cover a window
# A trigger answers no earlier than this after the deferral: the scheduler must first take in the
# deferring attempt's exit, or it may mistake it for the end of the resumed attempt (see _brief_wait).
SETTLE_AFTER_DEFER = timedelta(seconds=15)
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


class _JobEnded(Exception):
    """The Bulk job ended during the brief wait: carries the event the trigger would have sent."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(event.get("job_id"))
        self.event = event


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

    def _guard_drift(self, context: Any, hook: Any, plan: _Plan) -> _Plan:
        """Drop fields Salesforce no longer has from the SOQL; report new ones (salesforce_elt.drift)."""
        from salesforce_elt import drift

        if not drift.enabled():
            return plan
        spec, report = drift.guard(plan.spec, hook.describe(plan.spec.name))
        if report["dropped_fields"] or report["new_fields"] or report["changed_fields"]:
            drift.record(context, plan.spec.name, report)
        return replace(plan, spec=spec)

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

    def _check_api_quota(self, hook: Any, spec: SObjectSpec, api: str) -> None:
        """Refuse to start when the org's daily API requests (or Bulk jobs) are under the reserve.

        A sync that drains the quota breaks every other integration of the org (peers.md #6);
        one ``/limits`` call per run is a cheap guard. Raises budget.BudgetExhausted, which
        monitoring.extract_attempt turns into a skip or a failure (SALESFORCE_ELT_BUDGET_ACTION).
        ``max_api_usage`` (a share of the allowance this sync may use up) overrides the reserve.
        """
        from salesforce_elt import budget

        reserve = budget.api_reserve() if self.max_api_usage is None else 1.0 - self.max_api_usage
        hook.api_reserve = reserve
        for allowance in budget.check_limits(hook.limits(), reserve, api, what=f"extract {spec.name}"):
            self.log.info("%s: API budget %s (reserve %.0f%%)", spec.name, allowance, 100 * reserve)

    # ---- execution ---------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        from salesforce_elt import monitoring
        from salesforce_elt.hooks.bulk2 import SalesforceBulk2Hook

        hook = SalesforceBulk2Hook(self.conn_id)
        # Budget stops become a skip/fail; the call log is saved even when the task defers or fails.
        with monitoring.extract_attempt(context, hook, self.object_name):
            return monitoring.with_extract_seconds(
                self._until_deferred(context, hook, lambda: self._start(context, hook), calls_before=0), context
            )

    def _until_deferred(self, context: Any, hook: Any, step: Callable[[], Any], *, calls_before: int) -> Any:
        """Run ``step``; a job that ended during ``_defer_on``'s brief wait resumes here, not in the triggerer.

        ``calls_before``: API calls of the hooks before this one (a resumed task's earlier attempts at
        the job): a resumption on the same hook must not count this hook's calls twice.
        """
        self._hook = hook
        self._calls_before_hook = calls_before
        while True:
            try:
                return step()
            except _JobEnded as ended:
                step = partial(self._finish, context, ended.event, hook)

    def _start(self, context: Any, hook: Any) -> dict[str, Any]:
        from salesforce_elt.hooks.errors import BulkQueryNotSupportedError
        from salesforce_elt.staging import attempt_dir

        plan = self._guard_drift(context, hook, self._plan(context))
        api = self._resolve_api(context, plan.spec)
        attempt = attempt_dir(context, plan.spec.name)
        self._check_api_quota(hook, plan.spec, api)
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
            "dropped_fields": _dropped_fields(plan.spec),
            "soql": _soql_summary(statements),
            "job_ids": self._job_ids,
            "pieces": self._pieces(plan),
            "index": 0,
            "window": plan.window.as_dict(),
            "incremental_deletes": self._wants_deleted_feed(plan),
            "attempt_uri": str(attempt),
            "deadline": time.time() + self.job_timeout.total_seconds(),
            "api_usage_before": hook.api_usage_first,
            "api_calls": hook.api_calls,
        }
        self._defer_on(state)

    def _defer_on(self, state: dict[str, Any], job_id: str | None = None) -> None:
        from salesforce_elt.triggers.bulk2 import Bulk2QueryJobTrigger

        job_id = job_id or state["job_ids"][state["index"]]
        ended = self._brief_wait(job_id, state["deadline"])
        hook = getattr(self, "_hook", None)
        if ended is None and hook is not None:
            # Every call this hook made, the brief wait's polls included, travels with the deferral.
            state = {**state, "api_calls": self._calls_before_hook + hook.api_calls}
        if ended is not None:
            # The carry's count is of earlier hooks only: this hook goes on counting its own calls.
            raise _JobEnded({**ended, "carry": {**state, "api_calls": self._calls_before_hook}})
        trigger = Bulk2QueryJobTrigger(
            job_id=job_id,
            conn_id=self.conn_id,
            poll_interval=self.poll_interval,
            deadline=state["deadline"],
            carry=state,
            not_before=time.time() + SETTLE_AFTER_DEFER.total_seconds(),
        )
        remaining = max(0.0, state["deadline"] - time.time())
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining) + DEFERRAL_GRACE,
        )

    def _brief_wait(self, job_id: str, job_deadline: float) -> dict[str, Any] | None:
        """Poll the job on the worker for a few seconds; its trigger event if it ended, else None.

        The small jobs of an incremental window end within seconds, and a deferral that is
        answered at once races Airflow 3.3's scheduler (it can take the deferring attempt's exit
        for the end of the resumed one and retry the task). Waiting here avoids both the race and
        the round trip through the triggerer.
        """
        from salesforce_elt.triggers.bulk2 import TERMINAL_STATES

        hook = getattr(self, "_hook", None)
        # Never past the job's own deadline (job_timeout): the trigger reports that timeout.
        budget = min(self.brief_wait.total_seconds(), job_deadline - time.time())
        if hook is None or budget <= 0:
            return None
        deadline = time.monotonic() + budget
        delay = 0.25
        while True:
            info = hook.get_job(job_id)
            state = info.get("state")
            if state in TERMINAL_STATES:
                return {
                    "status": TERMINAL_STATES[state],
                    "job_id": job_id,
                    "state": state,
                    "message": info.get("errorMessage") or f"job {state}",
                    "records": info.get("numberRecordsProcessed"),
                }
            if time.monotonic() + delay > deadline:
                return None
            time.sleep(delay)
            delay *= 2

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from salesforce_elt import monitoring
        from salesforce_elt.hooks.bulk2 import SalesforceBulk2Hook

        hook = SalesforceBulk2Hook(self.conn_id)
        with monitoring.extract_attempt(context, hook, self.object_name):
            calls_before = ((event or {}).get("carry") or {}).get("api_calls", 0)
            return monitoring.with_extract_seconds(
                self._until_deferred(
                    context, hook, lambda: self._finish(context, event, hook), calls_before=calls_before
                ),
                context,
            )

    def _finish(self, context: Any, event: dict[str, Any] | None, hook: Any) -> dict[str, Any]:
        from airflow.exceptions import AirflowException

        state = (event or {}).get("carry")
        if not state:
            raise AirflowException(f"{self.task_id}: resumed without a Bulk 2.0 trigger event: {event!r}")
        job_ids: list[str] = state["job_ids"]
        reconcile = state.get("id_reconcile")
        if reconcile is not None:  # resumed from the job reading every Id; the window's jobs are done
            self._job_ids = [reconcile["job_id"]]
            reconcile = self._id_job_done(hook, state, event)
            expected = state["job_records"]
        else:
            self._job_ids = job_ids[state["index"] :]
            pieces = state.get("pieces")
            if (
                event.get("status") == "failed"
                and pieces
                and pieces[state["index"]]["depth"] < self.max_split_depth
            ):
                self._defer_on(self._split_failed_job(hook, state, event))
            if event.get("status") != "success":
                if event.get("status") not in ("timeout", "error"):
                    # This job has ended; stop the ones after it.
                    self._job_ids = job_ids[state["index"] + 1 :]
                self._abort_jobs(hook)
                raise AirflowException(
                    f"Bulk API 2.0 query job {event.get('job_id')} for {state['object']} ended "
                    f"{event.get('status')} (state {event.get('state')}): {event.get('message')}"
                    f"{_window_note(state, self.max_split_depth)}"
                )
            # Salesforce's own count per job, checked against the rows downloaded below.
            expected = [*state.get("job_records", []), event.get("records")]
            if state["index"] + 1 < len(job_ids):
                self._defer_on({**state, "index": state["index"] + 1, "job_records": expected})
        spec = without_fields(get_object(state["object"]), state.get("dropped_fields", []))
        attempt = ObjectStoragePath(state["attempt_uri"])
        window = state["window"]
        deleted: tuple[str | None, int] = (None, 0)
        if state["incremental_deletes"] and reconcile is None:
            deleted, reconcile = self._deletes(hook, spec, window, attempt)
            if reconcile is not None:
                self._read_ids_bulk(hook, spec, attempt, {**state, "job_records": expected}, reconcile)
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
        if reconcile is not None and reconcile.get("job_id"):
            reconcile = self._download_ids(hook, spec, attempt, reconcile)
        self._job_ids = []
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
            deleted=deleted,
            window=window,
            usage_before=state["api_usage_before"] or hook.api_usage_first,
            usage_after=hook.api_usage,
            api_calls=state["api_calls"] + hook.api_calls,
            id_reconcile=reconcile,
        )

    def _extract_rest(self, hook: Any, plan: _Plan, attempt: ObjectStoragePath) -> dict[str, Any]:
        from salesforce_elt.staging import CsvPartWriter

        spec = plan.spec
        statements = self._statements(plan, "rest")
        raw = attempt / "raw"
        files: list[str] = []
        records = 0
        window = plan.window.as_dict()
        if not statements:  # an empty id list: a header-only part, so readers see the columns
            with CsvPartWriter(raw, spec.soql_fields) as writer:
                pass
            files = writer.files
        pieces = self._pieces(plan)
        queue: list[Any] = list(statements) if pieces is None else pieces
        statements = []
        while queue:
            item = queue.pop(0)
            statement = item if isinstance(item, str) else self._piece_statement(spec, item)
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
                queue[:0] = self._halve(hook, spec, item, window, str(exc))
                continue
            statements.append(statement)
            files += new_files
            records += new_records
        deleted: tuple[str | None, int] = (None, 0)
        reconcile = None
        if self._wants_deleted_feed(plan):
            deleted, reconcile = self._deletes(hook, spec, window, attempt)
            if reconcile is not None:
                reconcile = self._read_ids_rest(hook, spec, attempt, reconcile)
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
            id_reconcile=reconcile,
        )

    # ---- splitting a window too large for one query -------------------------------------------
    def _pieces(self, plan: _Plan) -> list[dict[str, Any]] | None:
        """The cursor window of the one window statement (to split on failure); None for id lists."""
        if plan.ids is not None:
            return None
        window = plan.window
        bounded = window.incremental and not plan.targeted
        return [
            {
                "start": window.start.isoformat() if bounded else None,
                "end": window.end.isoformat() if bounded else None,
                "depth": 0,
            }
        ]

    def _piece_statement(self, spec: SObjectSpec, piece: dict[str, Any]) -> str:
        start, end = (datetime.fromisoformat(piece[k]) if piece[k] else None for k in ("start", "end"))
        return build_spec_select(spec, start=start, end=end, where=self.soql_where)

    def _halve(
        self, hook: Any, spec: SObjectSpec, piece: dict[str, Any], window: dict[str, Any], reason: str
    ) -> list[dict[str, Any]]:
        """The two halves of a failed piece's cursor window, or a clear error past the depth limit."""
        from airflow.exceptions import AirflowException

        depth = piece["depth"]
        label = _window_label(piece)
        if depth >= self.max_split_depth:
            raise AirflowException(
                f"{spec.name}: the query for {spec.cursor_field} window {label} failed after {depth} split(s) "
                f"(max_split_depth={self.max_split_depth}): {reason}. The task's retry runs it again; if it "
                "keeps failing, sync smaller windows with the start/end params"
            )
        end = datetime.fromisoformat(piece["end"] or window["end"])
        start = (
            datetime.fromisoformat(piece["start"])
            if piece["start"]
            else self._earliest_cursor(hook, spec, window)
        )
        middle = split_point(start, end) if start is not None else None
        if middle is None:
            raise AirflowException(
                f"{spec.name}: the query for {spec.cursor_field} window {label} failed and the window "
                f"cannot be split further: {reason}"
            )
        self.log.warning(
            "%s: query for %s window %s failed (%s); splitting it at %s (split %d of at most %d)",
            spec.name, spec.cursor_field, label, reason, middle.isoformat(), depth + 1, self.max_split_depth,
        )  # fmt: skip
        # An unbounded edge stays unbounded, so the halves read exactly what the piece read
        # (a full refresh also gets the rows changed since the window's end was computed).
        return [
            {"start": piece["start"], "end": middle.isoformat(), "depth": depth + 1},
            {"start": middle.isoformat(), "end": piece["end"], "depth": depth + 1},
        ]

    def _earliest_cursor(self, hook: Any, spec: SObjectSpec, window: dict[str, Any]) -> datetime | None:
        """The oldest cursor value (whole second) of the rows an unbounded window reads; None if none."""
        cursor = validate_field_name(spec.cursor_field)
        where = f" WHERE ({self.soql_where})" if self.soql_where else ""
        soql = f"SELECT {cursor} FROM {validate_object_name(spec.name)}{where} ORDER BY {cursor} ASC LIMIT 1"  # noqa: S608
        answer = hook.get_json("queryAll" if window["query_all"] else "query", params={"q": soql})
        for record in answer.get("records") or []:
            value = next(v for k, v in record.items() if k.lower() == cursor.lower())
            return parse_salesforce_datetime(value).replace(microsecond=0)
        return None

    def _split_failed_job(self, hook: Any, state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        """Replace the failed job by two jobs over the halves of its window; the state to defer on."""
        from airflow.exceptions import AirflowException

        spec = without_fields(get_object(state["object"]), state.get("dropped_fields", []))
        index, pieces = state["index"], state["pieces"]
        reason = f"Bulk API 2.0 job {event.get('job_id')} ended {event.get('state')}: {event.get('message')}"
        try:
            halves = self._halve(hook, spec, pieces[index], state["window"], reason)
        except AirflowException:
            self._abort_jobs(hook)
            raise
        operation = "queryAll" if state["window"]["query_all"] else "query"
        new_ids = [hook.create_query_job(self._piece_statement(spec, p), operation)["id"] for p in halves]
        self._delete_job_quietly(hook, event["job_id"])
        pieces = [*pieces[:index], *halves, *pieces[index + 1 :]]
        self._job_ids = [*new_ids, *state["job_ids"][index + 1 :]]
        return {
            **state,
            "job_ids": [*state["job_ids"][:index], *self._job_ids],
            "pieces": pieces,
            "soql": _soql_summary([self._piece_statement(spec, p) for p in pieces]),
            "api_calls": state["api_calls"] + hook.api_calls,
        }

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
        covered = getattr(hook, "deleted_covered_to", None)
        if covered is not None and covered < datetime.fromisoformat(window["end"]):
            # Deletions after latestDateCovered are not listed yet: the load keeps the high-water
            # mark there, so the next window's feed reads them.
            window["deletes_covered_to"] = covered.isoformat()
            self.log.info("%s: the /deleted feed covers the window up to %s only", spec.name, covered.isoformat())
        return str(dest), rows

    # ---- a /deleted feed that cannot cover the window: compare every Id instead ---------------
    def _deletes(
        self, hook: Any, spec: SObjectSpec, window: dict[str, Any], attempt: ObjectStoragePath
    ) -> tuple[tuple[str | None, int], dict[str, Any] | None]:
        """The window's /deleted feed, or (when it cannot list every deletion) why the Ids are compared.

        Salesforce purges its delete log early once it grows large, and keeps 15 days at most; its
        advice for the INVALID_REPLICATION_DATE that follows is a full pull (SOAP getDeleted()).
        Reading every current Id (queryAll: the recycle bin's too) is that pull's cheap half: the
        load flags the stored rows missing from it, and the run goes on (the high-water mark moves).
        """
        from salesforce_elt.hooks.salesforce import DeletedFeedUnavailable

        try:
            return self._deleted_feed(hook, spec, window, attempt), None
        except DeletedFeedUnavailable as exc:
            self.log.warning(
                "%s: %s; reading every %s Id instead: stored rows missing from it are flagged deleted",
                spec.name, exc.reason, spec.name,
            )  # fmt: skip
            earliest = exc.earliest_available.isoformat() if exc.earliest_available else None
            return (None, 0), {"reason": exc.reason, "earliest_available": earliest}

    @staticmethod
    def _id_soql(spec: SObjectSpec) -> str:
        return build_select(spec.name, list(ID_FIELDS))

    def _read_ids_rest(
        self, hook: Any, spec: SObjectSpec, attempt: ObjectStoragePath, reconcile: dict[str, Any]
    ) -> dict[str, Any]:
        ids = attempt / "ids"
        files, records = hook.query_to_csv(self._id_soql(spec), ID_FIELDS, ids, include_deleted=True)
        return {**reconcile, "uri": str(ids), "files": files, "records": records}

    def _read_ids_bulk(
        self,
        hook: Any,
        spec: SObjectSpec,
        attempt: ObjectStoragePath,
        state: dict[str, Any],
        reconcile: dict[str, Any],
    ) -> None:
        """Start the Bulk queryAll job reading every Id and wait for it (briefly here, else in the triggerer)."""
        from salesforce_elt.hooks.errors import BulkQueryNotSupportedError

        try:
            job_id = hook.create_query_job(self._id_soql(spec), "queryAll")["id"]
        except BulkQueryNotSupportedError:
            reconcile.update(self._read_ids_rest(hook, spec, attempt, reconcile))
            return
        self._job_ids = [job_id]
        carry = {
            **state,
            "id_reconcile": {**reconcile, "job_id": job_id},
            "api_calls": state["api_calls"] + hook.api_calls,
            # A job of its own, started after the window's jobs: it gets the whole job_timeout too.
            "deadline": time.time() + self.job_timeout.total_seconds(),
        }
        self._defer_on(carry, job_id)

    def _id_job_done(self, hook: Any, state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        from airflow.exceptions import AirflowException

        reconcile = state["id_reconcile"]
        if event.get("status") != "success":
            if event.get("status") in ("timeout", "error"):
                self._abort_jobs(hook)  # it may still be running
            raise AirflowException(
                f"Bulk API 2.0 query job {event.get('job_id')} reading every {state['object']} Id (the /deleted "
                f"feed could not be used: {reconcile['reason']}) ended {event.get('status')} "
                f"(state {event.get('state')}): {event.get('message')}"
            )
        return {**reconcile, "records": event.get("records")}

    def _download_ids(
        self, hook: Any, spec: SObjectSpec, attempt: ObjectStoragePath, reconcile: dict[str, Any]
    ) -> dict[str, Any]:
        from airflow.exceptions import AirflowException

        job_id, ids = reconcile["job_id"], attempt / "ids"
        files, records = hook.download_results(job_id, ids, self.max_records, header=ID_FIELDS)
        if reconcile.get("records") is not None and records != reconcile["records"]:
            raise AirflowException(
                f"Bulk API 2.0 job {job_id} reading every {spec.name} Id: downloaded {records} rows, "
                f"Salesforce processed {reconcile['records']}"
            )
        self._delete_job_quietly(hook, job_id)
        return {**reconcile, "uri": str(ids), "files": files, "records": records}

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
        id_reconcile: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        xcom = {
            "object": spec.name,
            "api": api,
            "soql": soql,
            "fields": list(spec.soql_fields),
            "dropped_fields": _dropped_fields(spec),
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
        if id_reconcile is not None:
            # The /deleted feed could not cover the window: why, and the staged Id list (Id,IsDeleted
            # parts) the load compares the table with.
            xcom["id_reconcile"] = id_reconcile
        return xcom


def _dropped_fields(spec: SObjectSpec) -> list[str]:
    """Registry fields the drift guard left out of this run's SELECT list."""
    requested = {name.lower() for name in spec.soql_fields}
    return [name for name in get_object(spec.name).soql_fields if name.lower() not in requested]


def _window_label(piece: dict[str, Any]) -> str:
    return f"[{piece['start'] or 'beginning'}, {piece['end'] or 'now'})"


def _window_note(state: dict[str, Any], max_split_depth: int) -> str:
    pieces, index = state.get("pieces"), state.get("index", 0)
    if not pieces:
        return ""
    piece = pieces[index]
    return (
        f" (window {_window_label(piece)} after {piece['depth']} split(s), max_split_depth={max_split_depth}; "
        "the task's retry runs it again, or sync smaller windows with the start/end params)"
    )


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
