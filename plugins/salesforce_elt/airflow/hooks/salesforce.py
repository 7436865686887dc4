"""Salesforce REST hook: own OAuth login, one retrying request layer, REST paging straight to CSV files.

Extends the provider's ``SalesforceHook`` (same extras; its own ``salesforce_elt`` connection type, and
connections of the provider's ``salesforce`` type work too), adding:
- login against the ``login_url`` extra (client credentials, JWT bearer, password) — without it
  the provider's own simple-salesforce login is used;
- bounded retries with exponential backoff + full jitter on connection errors, timeouts, 429
  (Retry-After honoured) and 5xx; one re-login on 401 INVALID_SESSION_ID;
- API usage from every ``Sforce-Limit-Info`` header (``api_usage``) and a call count (``api_calls``);
- a bounded in-memory log of the calls (``call_log``: time, method, path, status, latency, usage)
  that the extract operator saves to the warehouse's ``api_call_log``;
- the API budget guard during REST paging (``api_reserve``: stop when usage crosses into it);
- errors as ``SalesforceApiError`` carrying Salesforce's code — logs and messages name only the
  method and path, never tokens, passwords or query strings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

from salesforce_elt.airflow.hooks.calls import CALL_LOG_LIMIT, CallRecorder
from salesforce_elt.airflow.hooks.deleted_feed import read_deleted_feed
from salesforce_elt.airflow.hooks.errors import SalesforceApiError, error_from_body, tls_error
from salesforce_elt.airflow.hooks.oauth import (
    TOKEN_PATH,
    AuthSettings,
    OAuthToken,
    parse_token_response,
    token_request,
)
from salesforce_elt.airflow.hooks.records import flatten_record
from salesforce_elt.airflow.hooks.retry import (
    RetryPolicy,
    Transient,
    is_transient_status,
    parse_retry_after,
    transient_answer,
)
from salesforce_elt.airflow.provider_info import CONNECTION_TYPE, HOOK_NAME
from salesforce_elt.engine.soql import validate_object_name
from salesforce_elt.engine.staging import CsvPartWriter
from salesforce_elt.ops.budget import check_usage

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from simple_salesforce import api

# requests/urllib3 failures that mean "the bytes did not arrive", not "Salesforce said no".
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class SalesforceApiHook(CallRecorder, SalesforceHook):
    """Salesforce REST API access for the ELT: login, retrying requests, describe, limits, paging to CSV."""

    # The project's own connection type (provider_info.py): the UI's Test button builds this hook for
    # it. Connections of the provider's type "salesforce" work with this hook just the same.
    conn_type = CONNECTION_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        salesforce_conn_id: str = SalesforceHook.default_conn_name,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (30.0, 300.0),
    ) -> None:
        super().__init__(salesforce_conn_id=salesforce_conn_id)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._init_call_log(CALL_LOG_LIMIT)
        self.deleted_covered_to: datetime | None = None  # latestDateCovered of the last deleted() call
        # Share of the daily allowance REST paging must leave untouched (None: no guard).
        self.api_reserve: float | None = None
        self._token: OAuthToken | None = None

    # ---- connection and login -------------------------------------------------------------
    @cached_property
    def auth_settings(self) -> AuthSettings | None:
        return AuthSettings.from_connection(self.get_connection(self.conn_id))

    @cached_property
    def http(self) -> requests.Session:
        session = requests.Session()
        settings = self.auth_settings
        if settings is not None and settings.ca_bundle:
            session.verify = settings.ca_bundle
            # With trust_env on, REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE silently replace session.verify
            # (requests issue #3829); the connection's explicit CA must win. Proxies then come only
            # from the connection's ``proxies`` extra.
            session.trust_env = False
            proxies = self.get_connection(self.conn_id).extra_dejson.get("proxies")
            if isinstance(proxies, dict):
                session.proxies.update(proxies)
        return session

    @property
    def api_version(self) -> str:
        if self.auth_settings is not None:
            return self.auth_settings.version
        return str(self.conn.sf_version)

    @property
    def data_path(self) -> str:
        return f"/services/data/v{self.api_version}"

    def authenticate(self) -> OAuthToken:
        """Get a fresh access token (and instance URL)."""
        settings = self.auth_settings
        if settings is None:
            # Provider behaviour: simple-salesforce logs in while building the client.
            self.__dict__.pop("conn", None)
            client = self.conn
            self._token = OAuthToken(
                instance_url=f"https://{client.sf_instance}", access_token=client.session_id
            )
            return self._token
        for attempt in self.retry.retrying("POST", TOKEN_PATH, self.log):
            with attempt:
                request = token_request(settings)  # a fresh JWT each time: its exp is short
                try:
                    response = self.http.post(
                        request.url, data=request.data, headers=request.headers, timeout=self.timeout
                    )
                except requests.exceptions.SSLError as exc:
                    raise tls_error(TOKEN_PATH, exc) from None
                except TRANSIENT_EXCEPTIONS as exc:
                    raise Transient(type(exc).__name__) from None
                if is_transient_status(response.status_code):
                    raise Transient(
                        f"HTTP {response.status_code}", parse_retry_after(response.headers.get("Retry-After"))
                    )
        self._token = parse_token_response(response.status_code, response.text, settings)
        self.log.info("Logged in to Salesforce at %s (%s flow)", self._token.instance_url, settings.flow)
        self.__dict__.pop("conn", None)  # a cached simple-salesforce client holds the old token
        return self._token

    @cached_property
    def conn(self) -> api.Salesforce:
        """simple-salesforce client: a direct session from our own login, or the provider's login."""
        if self.auth_settings is None:
            return super().conn
        from simple_salesforce.api import Salesforce

        token = self._token or self.authenticate()
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self.http,
            version=self.auth_settings.version,
        )

    # ---- the request layer -------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """One API call with retries (``self.retry``). ``path`` is absolute (``/services/...``) or
        relative to the data API. With ``stream=True`` the caller reads (and closes) the body and
        retries broken reads itself."""
        url_path = path if path.startswith("/") else f"{self.data_path}/{path}"
        log_path = url_path.split("?", 1)[0]
        reauthenticated = False
        for attempt in self.retry.retrying(method, log_path, self.log):
            with attempt:
                response = self._send(method, url_path, log_path, params, json, headers, stream)
                if response.status_code == 401 and not reauthenticated and 401 not in ok:
                    # Sessions expire (timeout, revoked, password change): log in again, once.
                    self.log.warning("%s %s: session expired or invalid; logging in again", method, log_path)
                    response.close()
                    reauthenticated = True
                    self._token = None
                    response = self._send(method, url_path, log_path, params, json, headers, stream)
                if response.status_code in ok:
                    return response
                body = response.text
                response.close()
                if is_transient_status(response.status_code):
                    raise transient_answer(
                        response.status_code, body, log_path, response.headers.get("Retry-After")
                    )
                raise error_from_body(response.status_code, body, log_path)
        raise AssertionError("unreachable: the retry policy returns or raises")

    def _send(
        self,
        method: str,
        url_path: str,
        log_path: str,
        params: dict[str, Any] | None,
        json: Any,
        headers: dict[str, str] | None,
        stream: bool,
    ) -> requests.Response:
        """One HTTP exchange, logged and counted; a transport failure asks to be retried."""
        token = self._token or self.authenticate()
        request_headers = {"Authorization": f"Bearer {token.access_token}", **(headers or {})}
        sent = time.monotonic()
        try:
            response = self.http.request(
                method,
                token.instance_url + url_path,
                params=params,
                json=json,
                headers=request_headers,
                timeout=self.timeout,
                stream=stream,
            )
        except requests.exceptions.SSLError as exc:
            raise tls_error(log_path, exc) from None
        except TRANSIENT_EXCEPTIONS as exc:
            self._log_call(method, log_path, None, sent)
            raise Transient(type(exc).__name__) from None
        self._note_answer(response.headers.get("Sforce-Limit-Info"))
        self._log_call(method, log_path, response.status_code, sent)
        self.log.debug("%s %s -> %s", method, log_path, response.status_code)
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    # ---- metadata and limits -----------------------------------------------------------------
    def describe(self, object_name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.get_json(f"sobjects/{validate_object_name(object_name)}/describe")
        return answer

    def limits(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.get_json("limits")
        return answer

    def record_counts(self, objects: Sequence[str]) -> dict[str, int]:
        names = ",".join(validate_object_name(o) for o in objects)
        answer = self.get_json("limits/recordCount", params={"sObjects": names})
        return {entry["name"]: int(entry["count"]) for entry in answer.get("sObjects", [])}

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's Test button: log in and describe Account; the message names why it failed."""
        # Someone is waiting on the button: one retry and short timeouts instead of the tasks' patience.
        retry, timeout = self.retry, self.timeout
        self.retry, self.timeout = RetryPolicy(max_retries=1, backoff_max=2.0, max_retry_after=5.0), (10.0, 30.0)
        try:
            self.authenticate()
            self.describe("Account")
        except Exception as exc:  # the UI shows the message
            message = str(exc) if isinstance(exc, SalesforceApiError) else f"{type(exc).__name__}: {exc}"
            return False, self._without_secrets(message)
        finally:
            self.retry, self.timeout = retry, timeout
        usage = f"; API usage {self.api_usage}" if self.api_usage else ""
        return True, f"Connection successfully tested{usage}"

    def _without_secrets(self, message: str) -> str:
        """``message`` with the connection's secrets masked, whatever library wrote it."""
        try:
            conn = self.get_connection(self.conn_id)
        except Exception:
            return message
        extras = conn.extra_dejson or {}
        secrets = [conn.password] + [
            extras.get(name)
            for name in ("consumer_secret", "client_secret", "security_token", "private_key")
        ]
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= 4:
                message = message.replace(secret, "***")
        return message

    # ---- extraction --------------------------------------------------------------------------
    def query_to_csv(
        self,
        soql: str,
        fields: Sequence[str],
        dest_dir: ObjectStoragePath,
        *,
        include_deleted: bool = False,
        batch_size: int = 2000,
        rows_per_part: int = 100_000,
        start_part: int = 0,
    ) -> tuple[list[str], int]:
        """Page through a REST query (``queryAll`` with ``include_deleted``) into CSV part files.

        Holds one page (at most ``batch_size`` records) in memory. Fails when the rows written
        differ from Salesforce's ``totalSize``: a silently truncated extract is worse than none.
        """
        endpoint = "queryAll" if include_deleted else "query"
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page = self._query_page(endpoint, params={"q": soql}, headers=headers)
        total = int(page.get("totalSize", 0))
        with CsvPartWriter(dest_dir, fields, rows_per_part=rows_per_part, start_part=start_part) as writer:
            while True:
                for record in page.get("records", []):
                    writer.write(flatten_record(record, fields))
                if page.get("done", True):
                    break
                if self.api_reserve is not None:
                    check_usage(self.api_usage, self.api_reserve, what=f"REST {endpoint} paging")
                # Pages may hold fewer records than the batch size asked for (it is a request, not a
                # guarantee): nothing here counts on their size, only on done and totalSize.
                page = self._query_page(page["nextRecordsUrl"], headers=headers)
        if writer.records != total:
            raise SalesforceApiError(
                "RECORD_COUNT_MISMATCH",
                f"REST {endpoint} wrote {writer.records} rows but Salesforce reported totalSize {total}",
                None,
                f"{self.data_path}/{endpoint}",
            )
        self.log.info("REST %s: %d records in %d file(s)", endpoint, writer.records, len(writer.files))
        return writer.files, writer.records

    def _query_page(self, path: str, **kwargs: Any) -> dict[str, Any]:
        # Numbers as Decimal: Salesforce prints large doubles in scientific notation (1.6147805824397E13)
        # and numbers of up to 18 digits that a float cannot hold exactly.
        page: dict[str, Any] = self.request("GET", path, **kwargs).json(parse_float=Decimal)
        return page

    def deleted(
        self, object_name: str, start: datetime, end: datetime, dest: ObjectStoragePath
    ) -> tuple[int, datetime]:
        """Write the /deleted feed for [start, end) to ``dest`` (CSV ``Id,deletedDate``).

        A window narrower than the feed accepts is read from further back (windows.deleted_feed_start).
        Raises DeletedFeedUnavailable when the feed cannot vouch for the whole window: a start older
        than its 15 days, a purged delete log (INVALID_REPLICATION_DATE), or an answer whose
        earliestDateAvailable is after the start. Sets ``deleted_covered_to`` (latestDateCovered).
        Returns (rows, start used).
        """
        return read_deleted_feed(self, object_name, start, end, dest)
