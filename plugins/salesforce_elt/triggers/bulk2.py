"""Waits in the triggerer for a Bulk API 2.0 query job to finish, without holding a worker slot.

Its kwargs (job id, connection id, poll interval, deadline) are stored in Airflow's metadata DB,
so it never carries a token: it reads the connection and logs in itself, asynchronously.
Polling is read-only, so running it twice (triggerer restart, HA triggerers) is harmless.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from salesforce_elt.hooks.errors import SalesforceApiError, error_from_body, tls_error
from salesforce_elt.hooks.oauth import (
    TOKEN_PATH,
    AuthSettings,
    OAuthToken,
    parse_token_response,
    token_request,
)
from salesforce_elt.hooks.retry import RetryPolicy, is_transient_status, parse_retry_after

CLASSPATH = "salesforce_elt.triggers.bulk2.Bulk2QueryJobTrigger"
TERMINAL_STATES = {"JobComplete": "success", "Failed": "failed", "Aborted": "aborted"}
# The wait before the second poll: the small jobs of an incremental window finish in a second or
# two, and sleeping the full poll_interval first would add up to that much latency to every run.
FIRST_POLL_DELAY = 1.0


def poll_delays(poll_interval: float) -> Iterator[float]:
    """The waits between polls: FIRST_POLL_DELAY, doubling, then poll_interval for as long as it takes."""
    delay = min(FIRST_POLL_DELAY, poll_interval)
    while True:
        yield delay
        delay = min(delay * 2, poll_interval)


class _Transient(Exception):
    """A poll that may succeed if tried again (connection error, 420, 406, 429, 5xx: ``is_transient_status``)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Bulk2QueryJobTrigger(BaseTrigger):
    """Poll ``GET jobs/query/{job_id}`` until the job is terminal or ``deadline`` (epoch seconds) passes.

    The second poll comes about a second after the first, then the waits double up to
    ``poll_interval`` (``poll_delays``): a small job is seen done at once, a long one costs one
    call per ``poll_interval``.

    Yields exactly one event: ``{"status": "success"|"failed"|"aborted"|"timeout"|"error",
    "job_id", "state", "message", "records", "carry"}``.

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
        super().__init__()
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
        return TriggerEvent(
            {
                "status": status,
                "job_id": self.job_id,
                "state": state,
                "message": message,
                "records": records,
                "carry": self.carry,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except SalesforceApiError as exc:
            event = self._event("error", None, str(exc))
        except Exception as exc:  # one clear event beats a trigger crash the task can't explain
            self.log.exception("Bulk 2.0 job %s: polling failed", self.job_id)
            event = self._event("error", None, f"{type(exc).__name__}: {exc}")
        yield event

    async def _wait(self) -> TriggerEvent:
        import aiohttp
        from airflow.sdk import BaseHook

        conn = await BaseHook.aget_connection(self.conn_id)
        settings = AuthSettings.from_connection(conn)
        ssl_context = settings.ssl_context() if settings else True
        timeout = aiohttp.ClientTimeout(total=120, connect=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            token = await self._login(session, settings)
            version = settings.version if settings else str(conn.extra_dejson.get("version") or "59.0")
            path = f"/services/data/v{version}/jobs/query/{self.job_id}"
            state: str | None = None
            errors = 0
            delays = poll_delays(self.poll_interval)
            reauthenticated = False
            while True:
                if self.deadline is not None and time.time() >= self.deadline:
                    return self._event("timeout", state, f"job still {state} at the deadline")
                try:
                    status, body = await self._get(session, token, path, ssl_context)
                except _Transient as exc:
                    if not self._retry.should_retry(errors, exc.retry_after):
                        return self._event("error", state, f"{errors + 1} failed polls in a row, last: {exc}")
                    delay = self._retry.delay(errors, exc.retry_after)
                    self.log.warning("Bulk 2.0 job %s: %s; polling again in %.1fs", self.job_id, exc, delay)
                    errors += 1
                    await self._sleep(delay)
                    continue
                if status == 401 and not reauthenticated:
                    reauthenticated = True
                    token = await self._login(session, settings)
                    continue
                if status != 200:
                    raise error_from_body(status, body, path)
                errors, reauthenticated = 0, False
                info = json.loads(body)
                state = info.get("state")
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

    async def _get(self, session: Any, token: OAuthToken, path: str, ssl_context: Any) -> tuple[int, str]:
        import aiohttp

        try:
            async with session.get(
                token.instance_url + path,
                headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                ssl=ssl_context,
            ) as response:
                body = await response.text()
                if is_transient_status(response.status):
                    raise _Transient(
                        f"HTTP {response.status}", parse_retry_after(response.headers.get("Retry-After"))
                    )
                return response.status, body
        except aiohttp.ClientSSLError as exc:
            raise tls_error(path, exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _Transient(type(exc).__name__) from None

    async def _login(self, session: Any, settings: AuthSettings | None) -> OAuthToken:
        if settings is None:
            # No login_url: the provider's (blocking) simple-salesforce login, off the event loop.
            return await asyncio.to_thread(self._provider_login)
        import aiohttp

        attempt = 0
        while True:
            request = token_request(settings)  # a fresh JWT each time: its exp is short
            try:
                async with session.post(
                    request.url, data=request.data, headers=request.headers, ssl=settings.ssl_context()
                ) as response:
                    body = await response.text()
                    status = response.status
            except aiohttp.ClientSSLError as exc:
                raise tls_error(TOKEN_PATH, exc) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                reason = type(exc).__name__
            else:
                if not is_transient_status(status):
                    return parse_token_response(status, body, settings)
                reason = f"HTTP {status}"
            if not self._retry.should_retry(attempt):
                raise SalesforceApiError("RETRIES_EXHAUSTED", f"login failed: {reason}", None, TOKEN_PATH)
            await self._sleep(self._retry.delay(attempt))
            attempt += 1

    def _provider_login(self) -> OAuthToken:
        from salesforce_elt.hooks.salesforce import SalesforceApiHook

        return SalesforceApiHook(self.conn_id).authenticate()
