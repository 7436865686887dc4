"""Waits in the triggerer for a Bulk API 2.0 query job to finish, without holding a worker slot.

Its kwargs (job id, connection id, poll interval, deadline) are stored in Airflow's metadata DB,
so it never carries a token: its async hook (hooks/async_salesforce.py) reads the connection and
logs in itself. The trigger keeps only the polling loop. Polling is read-only, so running it
twice (triggerer restart, HA triggerers) is harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from salesforce_elt.airflow.hooks.async_salesforce import DeadlineReached, SalesforceAsyncApiHook
from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.hooks.retry import RetryPolicy

CLASSPATH = "salesforce_elt.airflow.triggers.bulk2.Bulk2QueryJobTrigger"
TERMINAL_STATES = {"JobComplete": "success", "Failed": "failed", "Aborted": "aborted"}
# The wait before the second poll: the small jobs of an incremental window finish in a second or
# two, and sleeping the full poll_interval first would add up to that much latency to every run.
FIRST_POLL_DELAY = 1.0
# The polls an event carries for the task's api_call_log: the latest ones, the rest only counted.
EVENT_CALLS_LIMIT = 300
# The log line before a poll is retried (hooks/retry.py fills it in).
POLL_RETRY_MESSAGE = "{what}: {reason}; polling again in {delay:.1f}s (retry {attempt}/{limit})"


def poll_delays(poll_interval: float) -> Iterator[float]:
    """The waits between polls: FIRST_POLL_DELAY, doubling, then poll_interval for as long as it takes."""
    delay = min(FIRST_POLL_DELAY, poll_interval)
    while True:
        yield delay
        delay = min(delay * 2, poll_interval)


class Bulk2QueryJobTrigger(BaseTrigger):
    """Poll ``GET jobs/query/{job_id}`` until the job is terminal or ``deadline`` (epoch seconds) passes.

    The second poll comes about a second after the first, then the waits double up to
    ``poll_interval`` (``poll_delays``): a small job is seen done at once, a long one costs one
    call per ``poll_interval``.

    Yields exactly one event: ``{"status": "success"|"failed"|"aborted"|"timeout"|"error",
    "job_id", "state", "message", "records", "carry", "calls", "calls_dropped"}``. ``calls`` are
    the polls as the task's ``api_call_log`` keeps them (``ApiCall.to_json``, the latest
    ``EVENT_CALLS_LIMIT``), ``calls_dropped`` the earlier ones only counted: the resumed task's
    hook takes them in (``absorb_calls``).

    ``carry`` is the deferring operator's own small, secret-free state, handed back untouched:
    the event is the one channel that reaches the resumed task both under the triggerer and
    under ``dag.test()``, which replaces ``defer(kwargs=...)`` with the event alone (Airflow 3.3).
    """

    def __init__(
        self,
        *,
        job_id: str,
        conn_id: str,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        max_consecutive_errors: int = 10,
        carry: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is unannotated
        self.job_id = job_id
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.max_consecutive_errors = max_consecutive_errors
        self.carry = carry
        # Epoch seconds before which no terminal event is sent (the deferring operator's settle time).
        self.not_before = not_before
        self._retry = RetryPolicy(
            max_retries=max_consecutive_errors, backoff_max=min(60.0, max(poll_interval, 1.0) * 6)
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "job_id": self.job_id,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "max_consecutive_errors": self.max_consecutive_errors,
                "carry": self.carry,
                "not_before": self.not_before,
            },
        )

    def _event(
        self, status: str, state: str | None, message: str, records: int | None = None
    ) -> TriggerEvent:
        hook = getattr(self, "_hook", None)
        return TriggerEvent(  # type: ignore[no-untyped-call]  # unannotated in Airflow
            {
                "status": status,
                "job_id": self.job_id,
                "state": state,
                "message": message,
                "records": records,
                "carry": self.carry,
                "calls": [call.to_json() for call in hook.call_log] if hook else [],
                "calls_dropped": hook.calls_dropped if hook else 0,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self._hook = SalesforceAsyncApiHook(
            self.conn_id, retry=self._retry, deadline=self.deadline, call_log_limit=EVENT_CALLS_LIMIT
        )
        self._state: str | None = None
        try:
            async with self._hook:
                event = await self._wait(self._hook)
        except DeadlineReached:
            event = self._event("timeout", self._state, f"job still {self._state} at the deadline")
        except SalesforceApiError as exc:
            # Retries spent on a poll: the last state seen says where the job was.
            state = self._state if exc.error_code == "RETRIES_EXHAUSTED" else None
            event = self._event("error", state, str(exc))
        except Exception as exc:  # one clear event beats a trigger crash the task can't explain
            self.log.exception("Bulk 2.0 job %s: polling failed", self.job_id)
            event = self._event("error", None, f"{type(exc).__name__}: {exc}")
        yield event

    async def _wait(self, hook: SalesforceAsyncApiHook) -> TriggerEvent:
        delays = poll_delays(self.poll_interval)
        while True:
            if self.deadline is not None and time.time() >= self.deadline:
                return self._event("timeout", self._state, f"job still {self._state} at the deadline")
            info = await hook.get_job(
                self.job_id, what=f"Bulk 2.0 job {self.job_id}", message=POLL_RETRY_MESSAGE
            )
            state = self._state = info.get("state")
            if state in TERMINAL_STATES:
                await self._settle()
                return self._event(
                    TERMINAL_STATES[state],
                    state,
                    info.get("errorMessage") or f"job {state}",
                    info.get("numberRecordsProcessed"),
                )
            delay = next(delays)
            self.log.info("Bulk 2.0 job %s is %s; polling again in %.1fs", self.job_id, state, delay)
            await self._sleep(delay)

    async def _settle(self) -> None:
        """Hold a terminal event until ``not_before``: the scheduler must have taken in the deferral."""
        if self.not_before is not None and self.not_before > time.time():
            await asyncio.sleep(self.not_before - time.time())

    async def _sleep(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - time.time()))
        await asyncio.sleep(seconds)
