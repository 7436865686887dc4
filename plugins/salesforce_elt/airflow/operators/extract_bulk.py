"""The Bulk API 2.0 side of the extract: start the jobs, wait (briefly here, else in the triggerer),
resume, split a failed job's window, download, and read every Id when the /deleted feed cannot
cover the window.

The state between a deferral and its resumption is a contract.BulkCarry; it travels as JSON in
the trigger and comes back in the trigger's event (contract.JobEvent).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

from airflow.sdk import ObjectStoragePath

from salesforce_elt import settings
from salesforce_elt.airflow.operators.extract_base import ExtractOperatorBase
from salesforce_elt.engine.contract import BulkCarry, ExtractResult, IdReconcile, JobEvent, TypedParts
from salesforce_elt.engine.deletes import read_id_list_rest, strategy_for
from salesforce_elt.engine.extract_plan import (
    ID_FIELDS,
    ExtractPlan,
    dropped_fields,
    id_soql,
    piece_statement,
    query_operation,
    soql_summary,
    window_note,
)
from salesforce_elt.engine.registry import SObjectSpec, get_object
from salesforce_elt.ops.drift import without_fields

if TYPE_CHECKING:
    from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
    from salesforce_elt.engine.transform_stream import TransformWhileDownloading

# A trigger answers no earlier than this after the deferral: the scheduler must first take in the
# deferring attempt's exit, or it may mistake it for the end of the resumed attempt (see _brief_wait).
SETTLE_AFTER_DEFER = timedelta(seconds=15)
DEFERRAL_GRACE = timedelta(minutes=5)  # the trigger reports "timeout" itself; this is only a backstop


class JobEnded(Exception):
    """The Bulk job ended during the brief wait: carries the event the trigger would have sent."""

    def __init__(self, event: JobEvent) -> None:
        super().__init__(event.job_id)
        self.event = event


class BulkExtractMixin(ExtractOperatorBase):
    """Bulk API 2.0 query jobs, deferrable; ``_extract_rest`` is the fallback Bulk refuses."""

    _hook: SalesforceBulk2Hook | None = None
    _calls_before_hook = 0

    def _bulk_or_rest(
        self, hook: SalesforceBulk2Hook, plan: ExtractPlan, attempt: ObjectStoragePath
    ) -> ExtractResult:
        """Start the window's Bulk jobs and defer on the first; REST when Bulk refuses the query."""
        from salesforce_elt.airflow.hooks.errors import BulkQueryNotSupportedError

        statements = plan.statements("bulk", self._soql_limit("bulk"))
        if not statements:
            return self._extract_rest(hook, plan, attempt)  # nothing to ask: writes the empty result
        # A fresh list per execution: dag.test() runs the same operator object again.
        self._job_ids = []
        try:
            for statement in statements:
                self._job_ids.append(hook.create_query_job(statement, plan.operation)["id"])
        except BulkQueryNotSupportedError as exc:
            self.log.warning(
                "%s: Bulk API 2.0 refused the query (%s); extracting through REST", plan.spec.name, exc
            )
            return self._extract_rest(hook, plan, attempt)
        carry = BulkCarry(
            object_name=plan.spec.name,
            dropped_fields=tuple(dropped_fields(plan.spec)),
            soql=soql_summary(statements),
            job_ids=tuple(self._job_ids),
            pieces=plan.pieces(),
            index=0,
            window=plan.window,
            incremental_deletes=strategy_for(plan.spec).reads_feed(plan),
            attempt_uri=str(attempt),
            deadline=time.time() + self.job_timeout.total_seconds(),
            api_usage_before=hook.api_usage_first,
            api_calls=hook.api_calls,
        )
        self._defer_on(carry)

    def _defer_on(self, carry: BulkCarry, job_id: str | None = None) -> NoReturn:
        from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger

        job_id = job_id or carry.job_ids[carry.index]
        ended = self._brief_wait(job_id, carry.deadline)
        if ended is not None:
            # The carry's count is of earlier hooks only: this hook goes on counting its own calls.
            raise JobEnded(replace(ended, carry=replace(carry, api_calls=self._calls_before_hook)))
        if self._hook is not None:
            # Every call this hook made, the brief wait's polls included, travels with the deferral.
            carry = replace(carry, api_calls=self._calls_before_hook + self._hook.api_calls)
        trigger = Bulk2QueryJobTrigger(
            job_id=job_id,
            conn_id=self.conn_id,
            poll_interval=self.poll_interval,
            deadline=carry.deadline,
            carry=carry.to_json(),
            not_before=time.time() + SETTLE_AFTER_DEFER.total_seconds(),
        )
        remaining = max(0.0, carry.deadline - time.time())
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining) + DEFERRAL_GRACE,
        )

    def _brief_wait(self, job_id: str, job_deadline: float) -> JobEvent | None:
        """Poll the job on the worker for a few seconds; its trigger event if it ended, else None.

        The small jobs of an incremental window end within seconds, and a deferral that is
        answered at once races Airflow 3.3's scheduler (it can take the deferring attempt's exit
        for the end of the resumed one and retry the task). Waiting here avoids both the race and
        the round trip through the triggerer.
        """
        from salesforce_elt.airflow.triggers.bulk2 import TERMINAL_STATES

        hook = self._hook
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
                return JobEvent(
                    status=TERMINAL_STATES[state],
                    job_id=job_id,
                    state=state,
                    message=info.get("errorMessage") or f"job {state}",
                    records=info.get("numberRecordsProcessed"),
                )
            if time.monotonic() + delay > deadline:
                return None
            time.sleep(delay)
            delay *= 2

    def _finish(self, event: JobEvent, carry: BulkCarry, hook: SalesforceBulk2Hook) -> ExtractResult:
        """A job ended: defer on the next one, split a failed one, or download everything."""
        from airflow.sdk.exceptions import AirflowException

        job_ids = carry.job_ids
        reconcile = carry.id_reconcile
        if reconcile is not None:  # resumed from the job reading every Id; the window's jobs are done
            self._job_ids = [reconcile.job_id] if reconcile.job_id else []
            reconcile = self._id_job_done(hook, carry, reconcile, event)
            expected = carry.job_records
        else:
            self._job_ids = list(job_ids[carry.index :])
            piece = carry.piece
            if event.status == "failed" and piece is not None and piece.depth < self.max_split_depth:
                self._defer_on(self._split_failed_job(hook, carry, event))
            if not event.ok:
                if event.status not in ("timeout", "error"):
                    # This job has ended; stop the ones after it.
                    self._job_ids = list(job_ids[carry.index + 1 :])
                self._abort_jobs(hook)
                raise AirflowException(
                    f"Bulk API 2.0 query job {event.job_id} for {carry.object_name} ended "
                    f"{event.status} (state {event.state}): {event.message}"
                    f"{window_note(piece, self.max_split_depth)}"
                )
            # Salesforce's own count per job, checked against the rows downloaded below.
            expected = (*carry.job_records, event.records)
            if carry.index + 1 < len(job_ids):
                self._defer_on(replace(carry, index=carry.index + 1, job_records=expected))
        spec = without_fields(get_object(carry.object_name), carry.dropped_fields)
        attempt = ObjectStoragePath(carry.attempt_uri)
        window = carry.window
        deleted: tuple[str | None, int] = (None, 0)
        if carry.incremental_deletes and reconcile is None:
            outcome = strategy_for(spec).read_feed(hook, spec, window, attempt, self.log)
            window, deleted = outcome.window, (outcome.deleted_uri, outcome.deleted_records)
            if outcome.id_reconcile is not None:
                reconcile = self._read_ids_bulk(
                    hook, spec, attempt, replace(carry, job_records=expected), outcome.id_reconcile
                )
        raw = attempt / "raw"
        files: list[str] = []
        records = 0
        converting = self._transform_while_downloading(spec, raw, attempt)
        try:
            for job_id, job_records in zip(job_ids, expected, strict=True):
                new_files, new_records = hook.download_results(
                    job_id, raw, self.max_records, start_part=len(files), header=spec.soql_fields,
                    on_part=converting.part_ready if converting is not None else None,
                )
                if job_records is not None and new_records != job_records:
                    raise AirflowException(
                        f"Bulk API 2.0 job {job_id} for {spec.name}: downloaded {new_records} rows, "
                        f"Salesforce processed {job_records}"
                    )
                files += new_files
                records += new_records
        except BaseException:
            if converting is not None:
                self._abandon(spec, converting)
            raise
        typed = self._typed_parts(spec, converting, attempt, files)
        if reconcile is not None and reconcile.job_id:
            reconcile = self._download_ids(hook, spec, attempt, reconcile)
        self._job_ids = []
        for job_id in job_ids:
            self._delete_job_quietly(hook, job_id)
        return ExtractResult(
            object_name=spec.name,
            api="bulk",
            soql=carry.soql,
            fields=spec.soql_fields,
            dropped_fields=tuple(dropped_fields(spec)),
            raw_uri=str(raw),
            files=tuple(files),
            records=records,
            job_ids=job_ids,
            deleted_uri=deleted[0],
            deleted_records=deleted[1],
            window=window,
            api_usage_before=carry.api_usage_before or hook.api_usage_first,
            api_usage_after=hook.api_usage,
            api_calls=carry.api_calls + hook.api_calls,
            id_reconcile=reconcile,
            typed=typed,
        )

    def _transform_while_downloading(
        self, spec: SObjectSpec, raw: ObjectStoragePath, attempt: ObjectStoragePath
    ) -> TransformWhileDownloading | None:
        if not settings.transform_while_downloading():
            return None
        # pyarrow: imported when a download starts, not at DAG parse
        from salesforce_elt.engine.transform_stream import TransformWhileDownloading

        try:
            return TransformWhileDownloading(spec, spec.soql_fields, raw, attempt / "typed")
        except Exception:  # an optimisation only: the transform task converts, and reports what fails
            self.log.warning("%s: cannot convert while downloading; the transform task converts the parts",
                             spec.name, exc_info=True)
            return None

    def _abandon(self, spec: SObjectSpec, converting: TransformWhileDownloading) -> None:
        """The download failed: stop converting without hiding the download's own error."""
        try:
            converting.abandon()
        except Exception:
            self.log.warning("%s: stopping the conversion after a failed download also failed", spec.name,
                             exc_info=True)

    def _typed_parts(
        self,
        spec: SObjectSpec,
        converting: TransformWhileDownloading | None,
        attempt: ObjectStoragePath,
        files: list[str],
    ) -> TypedParts | None:
        """What the conversion during the download wrote; None leaves every part to the transform task."""
        if converting is None:
            return None
        from salesforce_elt.engine.transform import conversion_fingerprint

        try:
            result = converting.finish()
        except Exception as exc:  # the transform task converts again and reports it in its own words
            self.log.warning("%s: converting while downloading failed (%s); the transform task converts "
                             "the parts", spec.name, exc, exc_info=True)
            return None
        if result.typed_files != sorted(files):
            self.log.warning("%s: %d part(s) converted of %d downloaded; the transform task converts them",
                             spec.name, len(result.typed_files), len(files))
            return None
        self.log.info("%s: %d rows typed while downloading (%d rejected), %.1f s of conversion",
                      spec.name, result.rows, result.rejects, converting.busy_seconds)
        return TypedParts(
            uri=str(attempt / "typed"),
            files=tuple(result.typed_files),
            columns=tuple(result.columns),
            rows=result.rows,
            rejects=result.rejects,
            rejects_uri=result.rejects_file,
            cleaned=result.cleaned,
            fingerprint=conversion_fingerprint(spec),
            seconds=round(converting.busy_seconds, 3),
        )

    def _split_failed_job(self, hook: SalesforceBulk2Hook, carry: BulkCarry, event: JobEvent) -> BulkCarry:
        """Replace the failed job by two jobs over the halves of its window; the state to defer on."""
        from airflow.sdk.exceptions import AirflowException

        spec = without_fields(get_object(carry.object_name), carry.dropped_fields)
        index, pieces = carry.index, carry.pieces or ()
        reason = f"Bulk API 2.0 job {event.job_id} ended {event.state}: {event.message}"
        try:
            halves = self._halve(hook, spec, pieces[index], carry.window, reason)
        except AirflowException:
            self._abort_jobs(hook)
            raise
        operation = query_operation(carry.window.query_all)
        new_ids = [hook.create_query_job(piece_statement(spec, p, self.soql_where), operation)["id"] for p in halves]
        if event.job_id:
            self._delete_job_quietly(hook, event.job_id)
        new_pieces = (*pieces[:index], *halves, *pieces[index + 1 :])
        self._job_ids = [*new_ids, *carry.job_ids[index + 1 :]]
        return replace(
            carry,
            job_ids=(*carry.job_ids[:index], *self._job_ids),
            pieces=new_pieces,
            soql=soql_summary([piece_statement(spec, p, self.soql_where) for p in new_pieces]),
            api_calls=carry.api_calls + hook.api_calls,
        )

    # ---- a /deleted feed that cannot cover the window: compare every Id instead ---------------
    def _read_ids_bulk(
        self,
        hook: SalesforceBulk2Hook,
        spec: SObjectSpec,
        attempt: ObjectStoragePath,
        carry: BulkCarry,
        reconcile: IdReconcile,
    ) -> IdReconcile:
        """Start the Bulk queryAll job reading every Id and wait for it (briefly here, else in the
        triggerer); the REST read's result when Bulk refuses the query."""
        from salesforce_elt.airflow.hooks.errors import BulkQueryNotSupportedError

        try:
            job_id = hook.create_query_job(id_soql(spec), "queryAll")["id"]
        except BulkQueryNotSupportedError:
            return read_id_list_rest(hook, spec, attempt, reconcile)
        self._job_ids = [job_id]
        id_carry = replace(
            carry,
            id_reconcile=replace(reconcile, job_id=job_id),
            api_calls=carry.api_calls + hook.api_calls,
            # A job of its own, started after the window's jobs: it gets the whole job_timeout too.
            deadline=time.time() + self.job_timeout.total_seconds(),
        )
        self._defer_on(id_carry, job_id)

    def _id_job_done(
        self, hook: SalesforceBulk2Hook, carry: BulkCarry, reconcile: IdReconcile, event: JobEvent
    ) -> IdReconcile:
        from airflow.sdk.exceptions import AirflowException

        if not event.ok:
            if event.status in ("timeout", "error"):
                self._abort_jobs(hook)  # it may still be running
            raise AirflowException(
                f"Bulk API 2.0 query job {event.job_id} reading every {carry.object_name} Id (the /deleted "
                f"feed could not be used: {reconcile.reason}) ended {event.status} "
                f"(state {event.state}): {event.message}"
            )
        return replace(reconcile, records=event.records)

    def _download_ids(
        self, hook: SalesforceBulk2Hook, spec: SObjectSpec, attempt: ObjectStoragePath, reconcile: IdReconcile
    ) -> IdReconcile:
        from airflow.sdk.exceptions import AirflowException

        job_id, ids = reconcile.job_id or "", attempt / "ids"
        files, records = hook.download_results(job_id, ids, self.max_records, header=ID_FIELDS)
        if reconcile.records is not None and records != reconcile.records:
            raise AirflowException(
                f"Bulk API 2.0 job {job_id} reading every {spec.name} Id: downloaded {records} rows, "
                f"Salesforce processed {reconcile.records}"
            )
        self._delete_job_quietly(hook, job_id)
        return replace(reconcile, uri=str(ids), files=tuple(files), records=records)
