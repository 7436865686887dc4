"""Sync window rules, one test per rule, with plain dict contexts (as Airflow's context is a mapping)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.windows import compute_window, deleted_feed_start, targeted_window

NOW = datetime(2026, 3, 10, 12, 30, 15, 500_000, tzinfo=UTC)
LOOKBACK = CONTACT.lookback  # 10 minutes
HWM = datetime(2026, 3, 10, 11, 55, 7, tzinfo=UTC)


def _run(run_type: str):
    return SimpleNamespace(run_type=run_type, run_after=NOW)


def scheduled(
    start: datetime, end: datetime, run_type: str = "scheduled", params: dict | None = None
) -> dict:
    return {
        "dag_run": _run(run_type),
        "data_interval_start": start,
        "data_interval_end": end,
        "params": params or {},
    }


def manual(**params) -> dict:
    # logical_date=None: no data interval keys at all (Airflow 3).
    return {"dag_run": _run("manual"), "params": params}


def test_scheduled_run_reads_its_interval_minus_lookback():
    start, end = datetime(2026, 3, 10, 11, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    window = compute_window(scheduled(start, end), CONTACT, HWM, now=NOW)
    assert (window.start, window.end) == (start - LOOKBACK, end)
    assert not window.full_refresh and window.incremental
    assert window.query_all is True


def test_backfill_run_reads_its_old_interval():
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    window = compute_window(scheduled(start, end, run_type="backfill"), CONTACT, HWM, now=NOW)
    assert (window.start, window.end) == (start - LOOKBACK, end)


def test_scheduled_run_after_a_gap_reaches_back_to_the_high_water_mark():
    start, end = datetime(2026, 3, 10, 11, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    old_hwm = datetime(2026, 3, 10, 6, 0, 0, tzinfo=UTC)
    window = compute_window(scheduled(start, end), CONTACT, old_hwm, now=NOW)
    assert window.start == old_hwm - LOOKBACK
    assert window.end == end
    assert "high-water mark" in window.reason


def test_zero_length_interval_uses_high_water_mark_to_now():
    # CronTriggerTimetable gives data_interval_start == data_interval_end.
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    window = compute_window(scheduled(at, at), CONTACT, HWM, now=NOW)
    assert window.start == HWM - LOOKBACK
    assert window.end == NOW.replace(microsecond=0)


def test_plain_manual_trigger_reads_from_high_water_mark_minus_lookback_to_now():
    window = compute_window(manual(), CONTACT, HWM, now=NOW)
    assert (window.start, window.end) == (HWM - LOOKBACK, NOW.replace(microsecond=0))
    assert window.incremental


def test_manual_trigger_with_a_logical_date_still_uses_the_high_water_mark():
    start = datetime(2026, 3, 10, 11, tzinfo=UTC)
    window = compute_window(
        scheduled(start, start + timedelta(hours=1), run_type="manual"), CONTACT, HWM, now=NOW
    )
    assert window.start == HWM - LOOKBACK


def test_no_high_water_mark_means_full_load_even_when_scheduled():
    start, end = datetime(2026, 3, 10, 11, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    for context in (manual(), scheduled(start, end)):
        window = compute_window(context, CONTACT, None, now=NOW)
        assert window.start is None and window.full_refresh and not window.incremental
        assert window.end == NOW.replace(microsecond=0)


def test_full_refresh_param_drops_the_cursor_filter():
    window = compute_window(manual(full_refresh=True), CONTACT, HWM, now=NOW)
    assert window.start is None and window.full_refresh
    assert compute_window(manual(full_refresh="true"), CONTACT, HWM, now=NOW).full_refresh
    assert not compute_window(manual(full_refresh=False), CONTACT, HWM, now=NOW).full_refresh


def test_explicit_window_is_honoured_exactly_without_lookback():
    window = compute_window(
        manual(start="2026-03-01T00:00:00Z", end="2026-03-02T06:00:00+00:00"), CONTACT, HWM, now=NOW
    )
    assert window.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 3, 2, 6, tzinfo=UTC)
    assert not window.full_refresh


def test_explicit_start_alone_runs_to_now_and_naive_values_are_utc():
    window = compute_window(manual(start="2026-03-09T08:00:00", end=None), CONTACT, None, now=NOW)
    assert window.start == datetime(2026, 3, 9, 8, tzinfo=UTC)
    assert window.end == NOW.replace(microsecond=0)


def test_explicit_window_also_wins_over_a_scheduled_interval():
    start, end = datetime(2026, 3, 10, 11, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    context = scheduled(start, end, params={"start": "2026-03-05T00:00:00Z", "end": "2026-03-06T00:00:00Z"})
    assert compute_window(context, CONTACT, HWM, now=NOW).start == datetime(2026, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
            "param 'end'=.* must be after param 'start'",
        ),
        ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T00:00:00Z"}, "must be after param 'start'"),
        ({"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}, "param 'end'=.* is in the future"),
        ({"start": "2027-01-01T00:00:00Z"}, "param 'start'=.* is in the future"),
        ({"start": "yesterday"}, "param 'start'='yesterday' is not an ISO 8601"),
        ({"end": "2026-03-01T00:00:00Z"}, "param 'end' was given without param 'start'"),
    ],
)
def test_bad_params_raise_naming_the_param(params, message):
    with pytest.raises(ValueError, match=message):
        compute_window(manual(**params), CONTACT, HWM, now=NOW)


def test_edges_are_whole_seconds_and_xcom_form_is_iso():
    hwm = datetime(2026, 3, 10, 11, 55, 7, 999_000, tzinfo=UTC)
    window = compute_window(manual(), CONTACT, hwm, now=NOW)
    assert window.start.microsecond == 0 and window.end.microsecond == 0
    assert window.to_json() == {
        "start": "2026-03-10T11:45:07+00:00",
        "end": "2026-03-10T12:30:15+00:00",
        "full_refresh": False,
        "query_all": True,
        "reason": window.reason,
        "advances_high_water_mark": True,
    }


def test_query_all_follows_the_spec():
    no_query_all = replace(CONTACT, query_all=False)
    assert compute_window(manual(), no_query_all, HWM, now=NOW).query_all is False
    assert targeted_window(no_query_all, now=NOW).query_all is False


def test_targeted_window_has_no_cursor_bound_and_keeps_the_mark():
    window = targeted_window(CONTACT, now=NOW)
    assert window.start is None and not window.full_refresh and not window.incremental
    assert not window.advances_high_water_mark


def test_explicit_window_moves_the_mark_only_when_it_starts_at_or_before_it():
    behind = compute_window(manual(start="2026-03-10T11:00:00Z"), CONTACT, HWM, now=NOW)
    ahead = compute_window(manual(start="2026-03-10T12:00:00Z"), CONTACT, HWM, now=NOW)
    first = compute_window(manual(start="2026-03-10T11:00:00Z"), CONTACT, None, now=NOW)
    assert behind.advances_high_water_mark
    assert not ahead.advances_high_water_mark and not first.advances_high_water_mark


# ---- the /deleted feed's start ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "feed_start"),
    [
        # wide enough: the window's own start
        ("12:00:00", "12:30:15", "12:00:00"),
        ("12:27:59", "12:30:15", "12:27:59"),
        # seconds are ignored: 12:28:10 -> 12:30:15 is two whole minutes only from 12:28:00
        ("12:28:10", "12:30:15", "12:28:00"),
        # a 30-second window (an explicit start/end) reads the two whole minutes before its end
        ("12:29:45", "12:30:15", "12:28:00"),
        ("12:30:00", "12:30:59", "12:28:00"),
    ],
)
def test_deleted_feed_start_is_more_than_one_whole_minute_before_the_end(start, end, feed_start):
    day = "2026-03-10T"
    at = lambda t: datetime.fromisoformat(f"{day}{t}+00:00")  # noqa: E731
    got = deleted_feed_start(at(start), at(end), NOW)
    assert got == at(feed_start)
    assert got.replace(second=0) <= at(end).replace(second=0) - timedelta(minutes=2)


def test_deleted_feed_start_beyond_the_feeds_15_days_is_refused():
    end = NOW - timedelta(days=1)
    assert deleted_feed_start(NOW - timedelta(days=14), end, NOW) == NOW - timedelta(days=14)
    # Older than 15 days (less a 5-minute margin for the call itself): the feed cannot vouch for it.
    assert deleted_feed_start(NOW - timedelta(days=15), end, NOW) is None
    assert deleted_feed_start(NOW - timedelta(days=15) + timedelta(minutes=4), end, NOW) is None
    assert deleted_feed_start(NOW - timedelta(days=15) + timedelta(minutes=6), end, NOW) is not None
    # A narrow window widened back past the 15 days is refused too.
    old_end = NOW - timedelta(days=15) + timedelta(minutes=6)
    assert deleted_feed_start(old_end - timedelta(seconds=30), old_end, NOW) is None
