"""Salesforce REST access from the triggerer's event loop (aiohttp): the async twin of ``SalesforceApiHook``.

It owns what the sync hook owns, for the few calls a trigger makes: the login (client credentials,
JWT bearer or password against the ``login_url`` extra via hooks/oauth.py, else the provider's
simple-salesforce login run off the event loop), the bearer token, one re-login on 401, the
retry policy of hooks/retry.py (the same transient statuses, Retry-After as a floor, bounded
attempts), certificate failures that fail at once, and a call log (hooks/calls.py) like the sync
hook's. Nothing it logs or raises carries a token or a secret.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from salesforce_elt.airflow.hooks.calls import CALL_LOG_LIMIT, CallRecorder
from salesforce_elt.airflow.hooks.errors import SalesforceApiError, error_from_body, tls_error
from salesforce_elt.airflow.hooks.oauth import (
    DEFAULT_API_VERSION,
    TOKEN_PATH,
    AuthSettings,
    OAuthToken,
    parse_token_response,
    token_request,
)
from salesforce_elt.airflow.hooks.retry import (
    PERMANENT_ERROR_CODES,
    RETRY_MESSAGE,
    RetryPolicy,
    Transient,
    is_transient_status,
    parse_retry_after,
)

if TYPE_CHECKING:
    import ssl

    import aiohttp

# The answer's body is read whole: these are small JSON documents (job status), never results.
DEFAULT_TIMEOUT_SECONDS = (30.0, 120.0)  # (connect, total)


class DeadlineReached(SalesforceApiError):
    """The caller's deadline passed while a call was being retried: no further attempt was made."""

    def __init__(self, path: str) -> None:
        super().__init__("DEADLINE_REACHED", "the deadline passed while retrying", None, path)


class SalesforceAsyncApiHook(CallRecorder, BaseHook):
    """Async Salesforce API calls with the project's login, retry policy and call log.

    Use as ``async with SalesforceAsyncApiHook(conn_id) as hook: await hook.get_job(job_id)``.
    ``deadline`` (epoch seconds): waits between retries end there, and no attempt is retried past
    it (``DeadlineReached``).
    """

    conn_name_attr = "salesforce_conn_id"
    default_conn_name = "salesforce_default"

    def __init__(
        self,
        salesforce_conn_id: str = default_conn_name,
        *,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
        call_log_limit: int = CALL_LOG_LIMIT,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__()
        self.conn_id = salesforce_conn_id
        self.retry = retry or RetryPolicy()
        self.deadline = deadline
        self.timeout = timeout
        self._init_call_log(call_log_limit)
        self._token: OAuthToken | None = None
        self._session: aiohttp.ClientSession | None = None
        self._settings: AuthSettings | None = None
        self._version = DEFAULT_API_VERSION
        self._ssl: ssl.SSLContext | bool = True
        self._connected = False

    # ---- session and connection ---------------------------------------------------------------
    async def __aenter__(self) -> SalesforceAsyncApiHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _connect(self) -> aiohttp.ClientSession:
        """The connection's login settings (read once) and the HTTP session (made in the running loop)."""
        import aiohttp

        if not self._connected:
            conn = await BaseHook.aget_connection(self.conn_id)
            self._settings = AuthSettings.from_connection(conn)
            extras = conn.extra_dejson or {}
            self._version = (
                self._settings.version
                if self._settings
                else str(extras.get("version") or DEFAULT_API_VERSION)
            )
            # The connection's CA bundle when set, else the system trust store: verification is never off.
            self._ssl = self._settings.ssl_context() if self._settings else True
            self._connected = True
        if self._session is None:
            connect, total = self.timeout
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=total, connect=connect))
        return self._session

    async def data_path(self) -> str:
        await self._connect()
        return f"/services/data/v{self._version}"

    # ---- retries ----------------------------------------------------------------------------------
    def _retrying(
        self, method: str, path: str, *, what: str | None = None, message: str = RETRY_MESSAGE
    ) -> Any:
        return self.retry.async_retrying(
            method, path, self.log, what=what, message=message, sleep=self._sleep
        )

    async def _sleep(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - time.time()))
        await asyncio.sleep(seconds)

    def _check_deadline(self, attempt_number: int, path: str) -> None:
        if attempt_number > 1 and self.deadline is not None and time.time() >= self.deadline:
            raise DeadlineReached(path)

    # ---- login ------------------------------------------------------------------------------------
    async def authenticate(self) -> OAuthToken:
        """A fresh access token (and instance URL)."""
        import aiohttp

        session = await self._connect()
        settings = self._settings
        if settings is None:
            # No login_url: the provider's (blocking) simple-salesforce login, off the event loop.
            self._token = await asyncio.to_thread(self._provider_login)
            return self._token
        async for attempt in self._retrying("POST", TOKEN_PATH):
            with attempt:
                self._check_deadline(attempt.retry_state.attempt_number, TOKEN_PATH)
                request = token_request(settings)  # a fresh JWT each time: its exp is short
                try:
                    async with session.post(
                        request.url, data=request.data, headers=request.headers, ssl=self._ssl
                    ) as response:
                        body, status = await response.text(), response.status
                        retry_after = response.headers.get("Retry-After")
                except aiohttp.ClientSSLError as exc:
                    raise tls_error(TOKEN_PATH, exc) from None
                except (TimeoutError, aiohttp.ClientError) as exc:
                    raise Transient(type(exc).__name__) from None
                if is_transient_status(status):
                    raise Transient(f"HTTP {status}", parse_retry_after(retry_after))
                self._token = parse_token_response(status, body, settings)
        assert self._token is not None
        return self._token

    def _provider_login(self) -> OAuthToken:
        from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook

        return SalesforceApiHook(self.conn_id).authenticate()

    # ---- calls ------------------------------------------------------------------------------------
    async def get_json(self, path: str, *, what: str | None = None, message: str = RETRY_MESSAGE) -> Any:
        """``GET`` a JSON document with retries; ``path`` absolute or relative to the data API.

        ``what`` and ``message`` word the log line before each retry (hooks/retry.py RETRY_MESSAGE).
        """
        url_path = path if path.startswith("/") else f"{await self.data_path()}/{path}"
        log_path = url_path.split("?", 1)[0]
        reauthenticated = False
        async for attempt in self._retrying("GET", log_path, what=what, message=message):
            with attempt:
                self._check_deadline(attempt.retry_state.attempt_number, log_path)
                status, body, retry_after = await self._send("GET", url_path, log_path)
                if status == 401 and not reauthenticated:
                    # Sessions expire (timeout, revoked, password change): log in again, once.
                    self.log.warning("GET %s: session expired or invalid; logging in again", log_path)
                    reauthenticated = True
                    self._token = None
                    status, body, retry_after = await self._send("GET", url_path, log_path)
                if status == 200:
                    return json.loads(body)
                if is_transient_status(status):
                    error = error_from_body(status, body, log_path)
                    if error.error_code in PERMANENT_ERROR_CODES:
                        raise error
                    # The edge's 420/406 carry no code of their own: "HTTP 420" says it all.
                    code = "" if error.error_code == f"HTTP_{status}" else f" {error.error_code}"
                    raise Transient(f"HTTP {status}{code}", parse_retry_after(retry_after))
                raise error_from_body(status, body, log_path)
        raise AssertionError("unreachable: the retry policy returns or raises")

    async def _send(self, method: str, url_path: str, log_path: str) -> tuple[int, str, str | None]:
        """One HTTP exchange, logged and counted: (status, body, Retry-After)."""
        import aiohttp

        session = await self._connect()
        token = self._token or await self.authenticate()
        headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
        sent = time.monotonic()
        try:
            async with session.request(
                method, token.instance_url + url_path, headers=headers, ssl=self._ssl
            ) as response:
                body = await response.text()
                status = response.status
                self._note_answer(response.headers.get("Sforce-Limit-Info"))
                self._log_call(method, log_path, status, sent)
                return status, body, response.headers.get("Retry-After")
        except aiohttp.ClientSSLError as exc:
            raise tls_error(log_path, exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._log_call(method, log_path, None, sent)
            raise Transient(type(exc).__name__) from None

    async def get_job(
        self, job_id: str, *, what: str | None = None, message: str = RETRY_MESSAGE
    ) -> dict[str, Any]:
        """A Bulk API 2.0 query job's status (``GET jobs/query/{job_id}``)."""
        answer: dict[str, Any] = await self.get_json(f"jobs/query/{job_id}", what=what, message=message)
        return answer
