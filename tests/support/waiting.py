"""Polling for a condition another process or thread brings about (the one polling loop of the tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, predicate: Callable[[], T], timeout: float = 60.0, interval: float = 1.0) -> T:
    """The first truthy value of ``predicate()``, polled every ``interval`` s for ``timeout`` s.

    Fails naming ``what`` when the time runs out. Callers racing a short-lived state (a COPY in
    progress) pass a small ``interval``; those polling services, a second or more.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
