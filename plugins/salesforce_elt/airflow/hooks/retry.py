"""The one retry policy of the sync hooks and the async hook: which answers are transient, how long to wait.

Expressed with tenacity (``RetryPolicy.retrying`` / ``RetryPolicy.async_retrying``): full-jitter
exponential backoff, never shorter than a Retry-After, a bounded number of retries, a log line
before each wait, and ``RETRIES_EXHAUSTED`` once the budget is spent. An attempt asks to be
retried by raising ``Transient``; any other exception ends the call at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from salesforce_elt.airflow.hooks.errors import SalesforceApiError, error_from_body

_API_USAGE = re.compile(r"(?:^|[,;\s])api-usage=(\d+)/(\d+)")


# 4xx answers that are nonetheless transient: Salesforce's edge answers Bulk calls with 420 (its
# "We are setting things up" page) and 406 (no body) that succeed when asked again, and Airbyte's
# source-salesforce retries both (source_salesforce/rate_limiting.py, _RETRYABLE_400_STATUS_CODES).
TRANSIENT_4XX = frozenset({406, 420, 429})


# Error codes that no retry can cure, whatever the status they come with: a query that ran too long
# runs too long again (the extract splits its window instead). Salesforce documents the code, not
# its HTTP status, so a 5xx carrying it must not be retried like a passing server error.
PERMANENT_ERROR_CODES = frozenset({"QUERY_TIMEOUT"})

# The default log line before a wait; ``what`` is "METHOD /path" unless the caller names it.
RETRY_MESSAGE = "{what}: {reason}; retry {attempt}/{limit} in {delay:.1f}s"


def is_transient_status(status: int) -> bool:
    """420, 406, 429 and 5xx are worth retrying; other 4xx are the caller's mistake and retrying cannot help."""
    return status in TRANSIENT_4XX or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_api_usage(header: str | None) -> str | None:
    """``"18/15000"`` from ``Sforce-Limit-Info: api-usage=18/15000[, per-app-api-usage=...]``."""
    match = _API_USAGE.search(header or "")
    return f"{match.group(1)}/{match.group(2)}" if match else None


class Transient(Exception):
    """An attempt that may succeed if made again: ``reason`` is logged, ``retry_after`` waited at least."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def transient_answer(status: int, body: str, path: str, retry_after: str | None) -> Transient:
    """The retry request for a transient status; raises the error itself when its code is permanent."""
    error = error_from_body(status, body, path)
    if error.error_code in PERMANENT_ERROR_CODES:
        raise error
    return Transient(f"HTTP {status} {error.error_code}", parse_retry_after(retry_after))


def _failure(state: RetryCallState) -> Transient | None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None and outcome.failed else None
    return error if isinstance(error, Transient) else None


class _stop_on_long_retry_after(stop_base):
    """Stop when the answer asks for a pause longer than ``limit``: a quota pause, not a blip."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        failure = _failure(retry_state)
        return failure is not None and failure.retry_after is not None and failure.retry_after > self.limit


class _wait_at_least_retry_after(wait_base):
    """The backoff's wait, or the answer's Retry-After when that is longer: never sooner than asked."""

    def __init__(self, backoff: wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = _failure(retry_state)
        wait = self.backoff(retry_state)
        return max(wait, failure.retry_after) if failure and failure.retry_after is not None else wait


def _state_after(attempt: int, retry_after: float | None) -> RetryCallState:
    """The retry state after retry number ``attempt`` (0-based) failed, for the one-off questions below."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt + 1
    try:
        raise Transient("probe", retry_after)
    except Transient as exc:
        state.set_exception((Transient, exc, exc.__traceback__))
    return state


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter (AWS's "full jitter": uniform in [0, base * 2^n])."""

    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    # A Retry-After longer than this is a quota pause, not a blip: fail now and let Airflow retry later.
    max_retry_after: float = 300.0

    # ---- the policy as tenacity strategies ------------------------------------------------------
    @property
    def wait(self) -> wait_base:
        return _wait_at_least_retry_after(
            wait_random_exponential(multiplier=self.backoff_base, max=self.backoff_max)
        )

    @property
    def stop(self) -> stop_base:
        return stop_after_attempt(self.max_retries + 1) | _stop_on_long_retry_after(self.max_retry_after)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return self.wait(_state_after(attempt, retry_after))

    def should_retry(self, attempt: int, retry_after: float | None = None) -> bool:
        return not self.stop(_state_after(attempt, retry_after))

    # ---- retrying controllers ---------------------------------------------------------------------
    def retrying(
        self,
        method: str,
        path: str,
        log: logging.Logger | Any,
        *,
        what: str | None = None,
        message: str = RETRY_MESSAGE,
        sleep: Callable[[float], None] | None = None,
    ) -> Retrying:
        """A controller for ``for attempt in policy.retrying(...): with attempt: ...``."""
        return Retrying(sleep=sleep or time.sleep, **self._controls(method, path, log, what, message))

    def async_retrying(
        self,
        method: str,
        path: str,
        log: logging.Logger | Any,
        *,
        what: str | None = None,
        message: str = RETRY_MESSAGE,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> AsyncRetrying:
        """The same controller for ``async for attempt in ...: with attempt: ...``."""
        return AsyncRetrying(sleep=sleep or asyncio.sleep, **self._controls(method, path, log, what, message))

    def _controls(
        self, method: str, path: str, log: logging.Logger | Any, what: str | None, message: str
    ) -> dict[str, Any]:
        """What the sync and the async controller share: which errors retry, when to stop, the waits."""
        before_sleep, give_up = self._callbacks(method, path, log, what, message)
        return {
            "retry": retry_if_exception_type(Transient),
            "stop": self.stop,
            "wait": self.wait,
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
        }

    def _callbacks(
        self, method: str, path: str, log: logging.Logger | Any, what: str | None, message: str
    ) -> tuple[Callable[[RetryCallState], None], Callable[[RetryCallState], NoReturn]]:
        """The log line before each wait, and the error once the policy gives up."""
        label = what or f"{method} {path}"

        def before_sleep(state: RetryCallState) -> None:
            failure = _failure(state)
            log.warning(
                "%s",
                message.format(
                    what=label,
                    reason=failure.reason if failure else "?",
                    attempt=state.attempt_number,
                    limit=self.max_retries,
                    delay=state.upcoming_sleep,
                ),
            )

        def give_up(state: RetryCallState) -> NoReturn:
            failure = _failure(state)
            reason = failure.reason if failure else "?"
            after = (
                f", Retry-After {failure.retry_after:.0f}s"
                if failure and failure.retry_after is not None
                else ""
            )
            raise SalesforceApiError(
                "RETRIES_EXHAUSTED",
                f"{method} failed after {state.attempt_number} attempt(s): {reason}{after}",
                None,
                path,
            )

        return before_sleep, give_up
