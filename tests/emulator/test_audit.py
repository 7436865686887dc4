"""The audit log waits for the requests under way before it is read or reset."""

from __future__ import annotations

import threading
import time

from salesforce_emulator.audit import AuditLog


def _record(log: AuditLog, path: str) -> None:
    log.record(method="GET", raw_path=path, status=200, kind="api", api_usage=1)


def test_a_call_answered_just_before_a_reset_does_not_show_after_it(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.begin()  # answered, its entry not written yet
    writer = threading.Timer(0.1, _record, (log, "/services/data/v59.0/jobs/query/750"))
    writer.start()
    log.reset()
    writer.join()
    assert log.entries() == []
    log.begin()
    _record(log, "/services/data/v59.0/limits")
    assert [e["path"] for e in log.entries()] == ["/services/data/v59.0/limits"]


def test_a_reset_does_not_wait_past_the_settle_time_for_a_slow_request(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.begin()  # a paced download still being answered
    started = time.monotonic()
    log.reset(settle=0.2)
    assert 0.15 <= time.monotonic() - started < 2
    _record(log, "/slow")
    assert [e["path"] for e in log.entries()] == ["/slow"]  # it ended after the reset: it counts
