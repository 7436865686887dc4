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

import csv
import io
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

from salesforce_elt.budget import check_usage
from salesforce_elt.hooks.errors import SalesforceApiError, error_from_body, tls_error
from salesforce_elt.hooks.oauth import (
    TOKEN_PATH,
    AuthSettings,
    OAuthToken,
    parse_token_response,
    token_request,
)
from salesforce_elt.hooks.retry import (
    PERMANENT_ERROR_CODES,
    RetryPolicy,
    is_transient_status,
    parse_api_usage,
    parse_retry_after,
)
from salesforce_elt.provider_info import CONNECTION_TYPE, HOOK_NAME
from salesforce_elt.soql import soql_datetime, validate_object_name
from salesforce_elt.staging import CsvPartWriter
from salesforce_elt.windows import DELETED_FEED_DAYS, deleted_feed_start

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


def flatten_record(record: dict[str, Any], fields: Sequence[str]) -> list[Any]:
    """Values for ``fields`` (dotted parent paths allowed) from one REST record, as CSV cells.

    Booleans print as Salesforce's ``true``/``false``; a compound (dict) value means a compound
    field was selected, which the staging format does not allow.
    """
    row: list[Any] = []
    for name in fields:
        value: Any = record
        for part in name.split("."):
            if value is None:
                break
            value = value.get(part) if part in value else _get_ci(value, part)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Decimal):
            value = _number_text(value)
        elif isinstance(value, float) and value.is_integer():
            # JSON has 730.0 where Bulk CSV prints 730: one staging format whatever the API.
            value = int(value)
        elif isinstance(value, dict):
            raise SalesforceApiError(
                "COMPOUND_FIELD", f"field {name!r} returned a compound value; select its components instead"
            )
        row.append(value)
    return row


def _number_text(number: Decimal) -> str:
    """A JSON number read as Decimal, as CSV text: the digits Salesforce printed (a float would round
    past 17 significant digits), a whole number without its ".0" or exponent (Bulk prints 730 where
    JSON has 730.0 or 7.3E2) so both APIs stage the same text."""
    if number.is_finite() and abs(number.adjusted()) < 40 and number == number.to_integral_value():
        return str(int(number))
    return str(number)


def _get_ci(mapping: dict[str, Any], key: str) -> Any:
    # Salesforce echoes canonical casing; the SELECT list may use another one.
    lowered = key.lower()
    for candidate, value in mapping.items():
        if candidate.lower() == lowered:
            return value
    return None


class SalesforceApiHook(SalesforceHook):
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
        self.api_usage: str | None = None  # "used/max" from the latest Sforce-Limit-Info
        self.api_usage_first: str | None = None  # from the first response: usage when this hook started
        self.api_calls = 0
        self.call_log: deque[ApiCall] = deque(maxlen=CALL_LOG_LIMIT)
        self.calls_dropped = 0  # calls that fell out of the bounded call_log
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
        attempt = 0
        while True:
            request = token_request(settings)  # a fresh JWT each time: its exp is short
            try:
                response = self.http.post(
                    request.url, data=request.data, headers=request.headers, timeout=self.timeout
                )
            except requests.exceptions.SSLError as exc:
                raise tls_error(TOKEN_PATH, exc) from None
            except TRANSIENT_EXCEPTIONS as exc:
                reason = type(exc).__name__
            else:
                if not is_transient_status(response.status_code):
                    break
                reason = f"HTTP {response.status_code}"
            self._pause_or_raise(attempt, "POST", TOKEN_PATH, reason)
            attempt += 1
        self._token = parse_token_response(response.status_code, response.text, settings)
        self.log.info("Logged in to Salesforce at %s (%s flow)", self._token.instance_url, settings.flow)
        self.__dict__.pop("conn", None)  # a cached simple-salesforce client holds the old token
        return self._token

    @cached_property
    def conn(self) -> api.Salesforce:
        """simple-salesforce client: a direct session from our own login, or the provider's login."""
        if self.auth_settings is None:
            return super().conn
        from simple_salesforce import Salesforce

        token = self._token or self.authenticate()
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self.http,
            version=self.auth_settings.version,
        )

    # ---- the request layer -------------------------------------------------------------------
    def _pause_or_raise(
        self, attempt: int, method: str, path: str, reason: str, retry_after: float | None = None
    ) -> None:
        if not self.retry.should_retry(attempt, retry_after):
            after = f", Retry-After {retry_after:.0f}s" if retry_after is not None else ""
            raise SalesforceApiError(
                "RETRIES_EXHAUSTED",
                f"{method} failed after {attempt + 1} attempt(s): {reason}{after}",
                None,
                path,
            )
        delay = self.retry.delay(attempt, retry_after)
        self.log.warning(
            "%s %s: %s; retry %d/%d in %.1fs",
            method,
            path,
            reason,
            attempt + 1,
            self.retry.max_retries,
            delay,
        )
        time.sleep(delay)

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
        """One API call with retries. ``path`` is absolute (``/services/...``) or relative to the data API.

        With ``stream=True`` the caller reads (and closes) the body and retries broken reads itself.
        """
        url_path = path if path.startswith("/") else f"{self.data_path}/{path}"
        log_path = url_path.split("?", 1)[0]
        reauthenticated = False
        attempt = 0
        while True:
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
                self._pause_or_raise(attempt, method, log_path, type(exc).__name__)
                attempt += 1
                continue
            self.api_calls += 1
            self.api_usage = parse_api_usage(response.headers.get("Sforce-Limit-Info")) or self.api_usage
            self.api_usage_first = self.api_usage_first or self.api_usage
            self._log_call(method, log_path, response.status_code, sent)
            self.log.debug("%s %s -> %s", method, log_path, response.status_code)
            if response.status_code in ok:
                return response
            body = response.text
            response.close()
            if response.status_code == 401 and not reauthenticated:
                # Sessions expire (timeout, revoked, password change): log in again, once.
                self.log.warning("%s %s: session expired or invalid; logging in again", method, log_path)
                reauthenticated = True
                self._token = None
                continue
            if is_transient_status(response.status_code):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                error = error_from_body(response.status_code, body, log_path)
                if error.error_code in PERMANENT_ERROR_CODES:
                    raise error
                self._pause_or_raise(
                    attempt, method, log_path, f"HTTP {response.status_code} {error.error_code}", retry_after
                )
                attempt += 1
                continue
            raise error_from_body(response.status_code, body, log_path)

    def _log_call(self, method: str, path: str, status: int | None, sent: float) -> None:
        if len(self.call_log) == self.call_log.maxlen:
            self.calls_dropped += 1
        latency = round((time.monotonic() - sent) * 1000)
        self.call_log.append(ApiCall(datetime.now(UTC), method, path, status, latency, self.api_usage))

    def take_call_log(self) -> list[ApiCall]:
        """The calls logged so far, emptying the log (each call is saved once)."""
        calls = list(self.call_log)
        self.call_log.clear()
        return calls

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    # ---- metadata and limits -----------------------------------------------------------------
    def describe(self, object_name: str) -> dict[str, Any]:
        return self.get_json(f"sobjects/{validate_object_name(object_name)}/describe")

    def limits(self) -> dict[str, Any]:
        return self.get_json("limits")

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
        return self.request("GET", path, **kwargs).json(parse_float=Decimal)

    def deleted(
        self, object_name: str, start: datetime, end: datetime, dest: ObjectStoragePath
    ) -> tuple[int, datetime]:
        """Write the /deleted feed for [start, end) to ``dest`` (CSV ``Id,deletedDate``).

        A window narrower than the feed accepts is read from further back (windows.deleted_feed_start).
        Raises DeletedFeedUnavailable when the feed cannot vouch for the whole window: a start older
        than its 15 days, a purged delete log (INVALID_REPLICATION_DATE), or an answer whose
        earliestDateAvailable is after the start. Returns (rows, start used).
        """
        feed_start = deleted_feed_start(start, end, datetime.now(UTC))
        if feed_start is None:
            raise DeletedFeedUnavailable(
                object_name,
                f"the window starts {soql_datetime(start)}, before the {DELETED_FEED_DAYS} days Salesforce's "
                "/deleted feed covers",
            )
        if feed_start < start:
            self.log.info(
                "%s: /deleted read from %s (the feed needs a start more than one whole minute before the end)",
                object_name,
                soql_datetime(feed_start),
            )
        path = f"sobjects/{validate_object_name(object_name)}/deleted/"
        try:
            answer = self.get_json(
                path, params={"start": soql_datetime(feed_start), "end": soql_datetime(end)}
            )
        except SalesforceApiError as exc:
            if exc.error_code != "INVALID_REPLICATION_DATE":
                raise
            earliest = _datetime_in(exc.message)
            raise DeletedFeedUnavailable(
                object_name,
                f"Salesforce refused start {soql_datetime(feed_start)}: {exc.error_code}: {exc.message}",
                earliest,
            ) from exc
        # The feed works in whole minutes and covers the current minute only once it is over, and
        # latestDateCovered may lag further behind the end while deletions are in flight: the
        # caller keeps its high-water mark at or before it (deleted_covered_to), so the next
        # window's feed starts there (SOAP getDeleted(): "use this value for the startDate of
        # your next call").
        covered = answer.get("latestDateCovered")
        self.deleted_covered_to = _parse_sf_datetime(covered) if covered else None
        self.log.info("%s: /deleted feed covered up to %s", object_name, covered)
        available = answer.get("earliestDateAvailable")
        if available and _parse_sf_datetime(available) > feed_start.replace(second=0, microsecond=0):
            # Salesforce should have refused this start; an answer that silently covers less
            # would lose the deletions before it.
            raise DeletedFeedUnavailable(
                object_name,
                f"the feed covers deletions from {available} only, the window starts {soql_datetime(feed_start)}",
                _parse_sf_datetime(available),
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        rows = 0
        with dest.open("wb") as binary, io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(["Id", "deletedDate"])
            for entry in answer.get("deletedRecords", []):
                writer.writerow([entry["id"], entry["deletedDate"]])
                rows += 1
        return rows, feed_start


class DeletedFeedUnavailable(SalesforceApiError):
    """The /deleted feed cannot list every deletion of the window (purged delete log, older than 15 days).

    Salesforce's advice for INVALID_REPLICATION_DATE is a full pull (SOAP getDeleted()): the extract
    reads every current Id instead and the load flags the stored rows missing from it.
    ``reason`` says why, for sync_runs; ``earliest_available`` is Salesforce's earliestDateAvailable
    when the answer named it.
    """

    def __init__(self, object_name: str, reason: str, earliest_available: datetime | None = None) -> None:
        self.object_name = object_name
        self.reason = reason
        self.earliest_available = earliest_available
        super().__init__("INVALID_REPLICATION_DATE", f"{object_name} /deleted feed: {reason}")


_SF_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


def _datetime_in(message: str) -> datetime | None:
    """The date-time an error message names (earliestDateAvailable), if it names one; its wording is undocumented."""
    match = _SF_DATETIME.search(message or "")
    if match is None:
        return None
    value = _parse_sf_datetime(match.group(0))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_sf_datetime(value: str) -> datetime:
    # Salesforce prints 2024-01-02T03:04:05.000+0000; fromisoformat wants +00:00.
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)
