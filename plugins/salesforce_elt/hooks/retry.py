"""Retry policy shared by the sync hooks and the async trigger: which answers are transient, how long to wait."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_API_USAGE = re.compile(r"(?:^|[,;\s])api-usage=(\d+)/(\d+)")


# 4xx answers that are nonetheless transient: Salesforce's edge answers Bulk calls with 420 (its
# "We are setting things up" page) and 406 (no body) that succeed when asked again, and Airbyte's
# source-salesforce retries both (source_salesforce/rate_limiting.py, _RETRYABLE_400_STATUS_CODES).
TRANSIENT_4XX = frozenset({406, 420, 429})


# Error codes that no retry can cure, whatever the status they come with: a query that ran too long
# runs too long again (the extract splits its window instead). Salesforce documents the code, not
# its HTTP status, so a 5xx carrying it must not be retried like a passing server error.
PERMANENT_ERROR_CODES = frozenset({"QUERY_TIMEOUT"})


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


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter (AWS's "full jitter": uniform in [0, base * 2^n])."""

    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    # A Retry-After longer than this is a quota pause, not a blip: fail now and let Airflow retry later.
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        jitter = random.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))
        return max(jitter, retry_after) if retry_after is not None else jitter

    def should_retry(self, attempt: int, retry_after: float | None = None) -> bool:
        if attempt >= self.max_retries:
            return False
        return retry_after is None or retry_after <= self.max_retry_after
