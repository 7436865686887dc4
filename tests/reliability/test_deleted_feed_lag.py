"""A /deleted feed whose latestDateCovered lags behind the window end loses no hard delete.

SOAP API Developer Guide, GetDeletedResult: when latestDateCovered is before the end asked for,
"you must use this value for the startDate of your next call" (deletions still in flight). The load
keeps the high-water mark at that date, so the next window's feed reads from it however far it
lagged — further back than the 10-minute lookback would reach. Real components: the emulator over
HTTPS (fault ``feed_lag_minutes``), the real Postgres, the engine's operators.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from salesforce_elt.engine.registry import CONTACT
from salesforce_emulator import seed as sd
from tests.reliability.helpers import (
    assert_table_equals_emulator,
    high_water_marks,
    run_pipeline,
    warehouse_rows,
)

pytestmark = pytest.mark.slow


def _set_mark(url: str, mark: datetime) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE salesforce.sync_state SET high_water_mark = %s WHERE object_name = %s", (mark, CONTACT.name)
        )


def test_deletions_after_a_lagging_latest_date_covered_are_read_by_the_next_run(empty_table, monkeypatch):
    org, url = empty_table.org, empty_table.warehouse
    run_pipeline("manual__lag_full", api="rest")  # the first run: a full refresh
    now = datetime.now(UTC)
    # A wide next window, [now - 40 min, now): its deletions 20 minutes ago are more than the
    # lookback before its end.
    _set_mark(url, now - timedelta(minutes=30))
    real_now = sd.now_ts
    monkeypatch.setattr(sd, "now_ts", lambda: real_now() - 20 * 60)
    gone = org.org.mutate("Contact", hard_delete=3)["hard_deleted"]
    monkeypatch.setattr(sd, "now_ts", real_now)
    assert len(gone) == 3

    org.faults.set(feed_lag_minutes=25)  # the feed covers up to 25 minutes before the end only
    run_pipeline("manual__lag_1", api="rest")
    stored = warehouse_rows(url)
    assert all(not stored[i]["is_deleted"] for i in gone)  # not listed yet: still live here
    (_name, mark), = high_water_marks(url)
    # The mark stops at latestDateCovered, before the deletions, not at the window end.
    assert mark <= now - timedelta(minutes=24)

    org.faults.clear()
    run_pipeline("manual__lag_2", api="rest")
    stored = warehouse_rows(url)
    assert all(stored[i]["is_deleted"] for i in gone)
    assert_table_equals_emulator(url, org)
