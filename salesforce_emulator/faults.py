"""Fault injection: the failures a robust Salesforce client must survive.

Settable from `serve --fault key=value`, from POST /__emulator__/faults (JSON object) and from
`EmulatorServer.faults.set(...)`. Setting replaces the whole configuration; counters such as
`fail_next` are consumed as calls arrive. Faults apply to counted API calls only — never to
/__emulator__/, and to the OAuth/SOAP login endpoints only with `include_login=True`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
from dataclasses import dataclass

_STATUS_BODIES = {
    429: ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support."),
    502: ("SERVER_UNAVAILABLE", "Bad gateway."),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable."),
}


# Salesforce's edge answers some Bulk calls with 420 or 406 that succeed when asked again: "most of
# the time" without a body, once with the page below (airbytehq/airbyte, source-salesforce
# source_salesforce/rate_limiting.py, which retries both). Neither is a JSON error array.
_EDGE_420_PAGE = (
    "<!DOCTYPE html><html><head><title>Salesforce</title></head><body><p>We are setting things up. "
    "This process can take a few minutes. This page will auto-refresh when ready. If it takes too "
    "long, please contact support or visit our <a>status page</a> for more information.</p></body></html>"
)
EDGE_STATUSES = frozenset({406, 420})
ERROR_SCOPES = ("all", "bulk")


@dataclass
class FaultConfig:
    # Share (0..1) of API calls answered with `error_status`; deterministic through `seed`.
    error_rate: float = 0.0
    error_status: int = 503
    # "bulk": error_rate and fail_next answer only Bulk 2.0 calls (jobs/query...), where the edge's
    # 420/406 are seen; "all": every counted API call.
    error_scope: str = "all"
    seed: int = 0
    # The next N API calls fail with `error_status` / with 429.
    fail_next: int = 0
    throttle_next: int = 0
    # Every API call gets 403 REQUEST_LIMIT_EXCEEDED, as when the daily allowance is spent.
    limit_exceeded: bool = False
    latency_ms: int = 0
    # Each API response body is sent at most this fast (kilobits per second; 0: unlimited), as
    # one stream from a distant org is: parallel downloads then gain what one stream cannot.
    bandwidth_kbps: int = 0
    # After N more API calls every issued token is invalidated (the N+1th call gets 401).
    expire_sessions_after: int | None = None
    # The first API call whose path (query string included) matches this regex finds every issued
    # token invalidated (gets 401): a session expiring at an exact point, however many polls came first.
    expire_sessions_at: str | None = None
    # The next N Bulk query jobs end in state Failed.
    bulk_fail_next: int = 0
    # The next N Bulk results pages / REST query pages are cut off partway (socket reset).
    reset_bulk_page_next: int = 0
    reset_rest_page_next: int = 0
    # REST queries whose result exceeds N rows get QUERY_TIMEOUT with `query_timeout_status`. The
    # status is undocumented; 500 by default, the harder case: a client retrying 5xx answers
    # blindly re-runs the slow query instead of narrowing it.
    query_timeout_rows: int | None = None
    query_timeout_status: int = 500
    # Every /updated and /deleted answer's latestDateCovered lags N minutes behind its end (never
    # before its start); the deletions after it are not listed yet.
    feed_lag_minutes: int = 0
    include_login: bool = False

    @classmethod
    def from_mapping(cls, values: dict) -> FaultConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(known)}")
        config = cls(**values)
        if not 0.0 <= config.error_rate <= 1.0:
            raise ValueError(f"fault error_rate must be within 0..1, got {config.error_rate}")
        if config.error_status not in _STATUS_BODIES.keys() | EDGE_STATUSES:
            raise ValueError(f"fault error_status must be one of {sorted(_STATUS_BODIES.keys() | EDGE_STATUSES)}")
        if config.query_timeout_status not in (400, 500, 503):
            raise ValueError("fault query_timeout_status must be one of [400, 500, 503]")
        if config.latency_ms < 0 or config.bandwidth_kbps < 0:
            raise ValueError("fault latency_ms and bandwidth_kbps must be >= 0 (0: no limit)")
        if config.error_scope not in ERROR_SCOPES:
            raise ValueError(f"fault error_scope must be one of {list(ERROR_SCOPES)}")
        if config.expire_sessions_at is not None:
            try:  # a bad pattern fails here, not on some later call
                re.compile(config.expire_sessions_at)
            except re.error as exc:
                raise ValueError(f"fault expire_sessions_at is not a regular expression: {exc}") from None
        return config


def parse_cli_faults(items: list[str]) -> dict:
    """['error_rate=0.1', 'fail_next=3'] -> {'error_rate': 0.1, 'fail_next': 3} (values as JSON)."""
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--fault expects key=value, got {item!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def error_body(status: int) -> list[dict]:
    code, message = _STATUS_BODIES[status]
    return [{"message": message, "errorCode": code}]


def fault_response(status: int) -> tuple[bytes, str | None]:
    """(body, content type) of an injected failure: a JSON error array, or the edge's 420/406."""
    if status == 420:
        return _EDGE_420_PAGE.encode(), "text/html;charset=UTF-8"
    if status == 406:
        return b"", None
    return json.dumps(error_body(status), separators=(",", ":")).encode(), "application/json;charset=UTF-8"


class Faults:
    """Thread-safe holder of the active FaultConfig and its consumable counters."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._random = random.Random(self._config.seed)

    def set(self, **values) -> FaultConfig:
        config = FaultConfig.from_mapping(values)
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)
        return config

    def clear(self) -> None:
        self.set()

    def snapshot(self) -> dict:
        with self._lock:
            return dataclasses.asdict(self._config)

    def applies_to_login(self) -> bool:
        with self._lock:
            return self._config.include_login

    def latency_seconds(self) -> float:
        with self._lock:
            return self._config.latency_ms / 1000.0

    def bandwidth_bytes_per_second(self) -> float:
        """The per-response send rate in bytes per second (0.0: unlimited)."""
        with self._lock:
            return self._config.bandwidth_kbps * 1000 / 8

    def take_session_expiry(self, path: str = "") -> bool:
        """Count one API call (to ``path``); True when this call is the one that finds all sessions gone."""
        with self._lock:
            pattern = self._config.expire_sessions_at
            if pattern is not None and re.search(pattern, path):
                self._config.expire_sessions_at = None
                return True
            remaining = self._config.expire_sessions_after
            if remaining is None:
                return False
            if remaining > 0:
                self._config.expire_sessions_after = remaining - 1
                return False
            self._config.expire_sessions_after = None
            return True

    def limit_exceeded(self) -> bool:
        with self._lock:
            return self._config.limit_exceeded

    def take_error(self, *, bulk: bool = False) -> int | None:
        """The HTTP status this call (a Bulk 2.0 call when ``bulk``) must fail with, or None."""
        with self._lock:
            c = self._config
            if c.throttle_next > 0:
                c.throttle_next -= 1
                return 429
            if c.error_scope == "bulk" and not bulk:
                return None
            if c.fail_next > 0:
                c.fail_next -= 1
                return c.error_status
            if c.error_rate and self._random.random() < c.error_rate:
                return c.error_status
            return None

    def _take_counter(self, name: str) -> bool:
        with self._lock:
            value = getattr(self._config, name)
            if value > 0:
                setattr(self._config, name, value - 1)
                return True
            return False

    def take_bulk_failure(self) -> bool:
        return self._take_counter("bulk_fail_next")

    def take_bulk_page_reset(self) -> bool:
        return self._take_counter("reset_bulk_page_next")

    def take_rest_page_reset(self) -> bool:
        return self._take_counter("reset_rest_page_next")

    def query_timeout(self) -> tuple[int | None, int]:
        """(rows above which a REST query times out, the status it answers with)."""
        with self._lock:
            return self._config.query_timeout_rows, self._config.query_timeout_status

    def feed_lag_minutes(self) -> int:
        with self._lock:
            return self._config.feed_lag_minutes
