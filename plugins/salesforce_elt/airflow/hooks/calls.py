"""The API call log every hook keeps (sync and async): one record per request, no query string, no secrets.

The extract operator saves the worker hook's log to the warehouse's ``api_call_log``; the trigger
hands its polls over in its event (``ApiCall.to_json``), which the resumed task's hook takes in
with ``absorb_calls``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from salesforce_elt.airflow.hooks.retry import parse_api_usage

log = logging.getLogger(__name__)

CALL_LOG_LIMIT = 10_000  # calls kept in memory per hook; older ones are counted, not kept


@dataclass(frozen=True)
class ApiCall:
    """One API request as the monitoring log keeps it: no query string, no headers, no body."""

    at: datetime
    method: str
    path: str
    status: int | None  # None: no answer (connection error, timeout)
    latency_ms: int
    api_usage: str | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (a trigger event travels through Airflow's metadata DB)."""
        return {
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "api_usage": self.api_usage,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiCall:
        at = datetime.fromisoformat(str(data["at"]))
        status = data.get("status")
        return cls(
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            method=str(data["method"]),
            path=str(data["path"]),
            status=int(status) if status is not None else None,
            latency_ms=int(data.get("latency_ms") or 0),
            api_usage=data.get("api_usage"),
        )


class CallRecorder:
    """Counters and the bounded call log of a hook (mixed into the sync and the async hook)."""

    api_usage: str | None  # "used/max" from the latest Sforce-Limit-Info
    api_usage_first: str | None  # from the first response: usage when this hook started
    api_calls: int  # requests that got an answer
    call_log: deque[ApiCall]
    calls_dropped: int  # calls that fell out of the bounded call_log

    def _init_call_log(self, limit: int = CALL_LOG_LIMIT) -> None:
        self.api_usage = None
        self.api_usage_first = None
        self.api_calls = 0
        self.call_log = deque(maxlen=limit)
        self.calls_dropped = 0

    def _note_answer(self, limit_info: str | None) -> None:
        """Count an answered request and read its Sforce-Limit-Info."""
        self.api_calls += 1
        self.api_usage = parse_api_usage(limit_info) or self.api_usage
        self.api_usage_first = self.api_usage_first or self.api_usage

    def _log_call(self, method: str, path: str, status: int | None, sent: float) -> None:
        latency = round((time.monotonic() - sent) * 1000)
        self._append_call(ApiCall(datetime.now(UTC), method, path, status, latency, self.api_usage))

    def _append_call(self, call: ApiCall) -> None:
        if len(self.call_log) == self.call_log.maxlen:
            self.calls_dropped += 1
        self.call_log.append(call)

    def take_call_log(self) -> list[ApiCall]:
        """The calls logged so far, emptying the log (each call is saved once)."""
        calls = list(self.call_log)
        self.call_log.clear()
        return calls

    def absorb_calls(self, calls: Iterable[ApiCall | Mapping[str, Any]] | None, dropped: int = 0) -> int:
        """Take in calls another process made for this task (the trigger's polls, as its event carries
        them): appended to the call log and counted in ``api_calls`` (answered calls, plus ``dropped``,
        the calls the sender could not keep). Returns how many records were taken in."""
        taken = 0
        for call in calls or ():
            try:
                record = call if isinstance(call, ApiCall) else ApiCall.from_json(call)
            except (KeyError, TypeError, ValueError):
                # Monitoring data must not fail the task: a record that does not parse is counted only.
                log.warning("a call record from the triggerer does not parse; counted, not logged: %r", call)
                self.api_calls += 1
                continue
            self._append_call(record)
            if record.status is not None:  # as in the hooks' own count: answered requests
                self.api_calls += 1
            taken += 1
        self.api_calls += dropped
        self.calls_dropped += dropped
        return taken
