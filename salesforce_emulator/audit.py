"""Audit log: one JSON line per request in DIR/audit.jsonl, also kept in memory.

Tests and other processes count API calls and check which methods a client used from it.
Query strings are kept (the SOQL is useful evidence) but values of secret-looking
parameters are replaced, and request bodies and headers are never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import deque
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

_SECRET_PARAMS = ("token", "secret", "password", "assertion", "session", "code", "key")
# Bound on the in-memory copy; the file keeps everything.
_MEMORY_ENTRIES = 100_000


def redact_path(raw_path: str) -> str:
    """The request path with secret-looking query parameter values replaced by '***'."""
    parts = urlsplit(raw_path)
    if not parts.query:
        return parts.path
    pairs = [
        (k, "***" if any(s in k.lower() for s in _SECRET_PARAMS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return f"{parts.path}?{urlencode(pairs)}"


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=_MEMORY_ENTRIES)
        # Requests whose entry is not written yet: an entry is written after the answer went out, so
        # a client can read the audit before its own last call shows (see entries()).
        self._in_flight = 0
        self._settled = threading.Condition(self._lock)

    def begin(self) -> None:
        """A request arrived; record() ends it."""
        with self._lock:
            self._in_flight += 1

    def record(
        self,
        *,
        method: str,
        raw_path: str,
        status: int,
        kind: str,
        api_usage: int | None,
        job_id: str | None = None,
        started: float | None = None,
    ) -> dict:
        """kind: 'api' (counted against DailyApiRequests), 'oauth', 'soap', 'admin' or 'public'."""
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "method": method,
            "path": redact_path(raw_path),
            "status": status,
            "kind": kind,
            "api_usage": api_usage,
        }
        if job_id:
            entry["job_id"] = job_id
        if started is not None:
            # When the request arrived (epoch seconds; "time" is when it ended): shows overlapping calls.
            entry["started"] = round(started, 3)
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            self._entries.append(entry)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
            self._in_flight = max(0, self._in_flight - 1)
            self._settled.notify_all()
        return entry

    def entries(self, settle: float = 0.5, own_requests: int = 0) -> list[dict]:
        """Every entry so far, once the requests under way have been recorded (at most ``settle``
        seconds: a request that is still being answered, e.g. a paced download, is not waited for).
        ``own_requests``: requests of the caller itself that are in flight (the admin endpoint's)."""
        with self._lock:
            self._settled.wait_for(lambda: self._in_flight <= own_requests, timeout=settle)
            return list(self._entries)

    def reset(self, settle: float = 0.5, own_requests: int = 0) -> None:
        """Forget every entry, once the requests under way have been recorded (as ``entries``):
        a call answered just before the reset must not show up after it."""
        with self._lock:
            self._settled.wait_for(lambda: self._in_flight <= own_requests, timeout=settle)
            self._entries.clear()
            self.path.write_text("", encoding="utf-8")
