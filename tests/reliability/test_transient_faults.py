"""Issue 9, cases 1 and 2: bursts of 5xx/429, connection resets mid-page, slow answers, expired sessions.

Every run must end with exactly the org's data; every retry is bounded by the hooks' policy and logged.
"""

from __future__ import annotations

import re
from itertools import groupby

import pytest

from tests.reliability.helpers import (
    MAX_RETRIES,
    api_entries,
    assert_table_equals_emulator,
    reset_warehouse,
    run_pipeline,
    warehouse_rows,
)

BULK_PAGE = 500  # several Bulk results pages for a 2,300-record org

FAULTS = {
    "burst": lambda api: {"throttle_next": 2, "fail_next": MAX_RETRIES - 2, "error_status": 503},
    "resets": lambda api: {f"reset_{api}_page_next": 2, "fail_next": 1, "error_status": 500},
    # Random 502s wherever they fall (Bulk polls vary in number), one certain; every answer slow.
    "random_and_slow": lambda api: {
        "fail_next": 1,
        "error_rate": 0.1,
        "error_status": 502,
        "seed": 9,
        "latency_ms": 20,
    },
}


def _failure_streaks(entries: list[dict]) -> list[int]:
    """Lengths of runs of consecutive 429/5xx answers to the same request."""
    keyed = [((e["method"], e["path"]), e["status"] == 429 or e["status"] >= 500) for e in entries]
    return [len(list(run)) for (_key, failed), run in groupby(keyed) if failed]


@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_transient_faults_end_in_exact_data_with_bounded_logged_retries(empty_table, logs, api, fault):
    org = empty_table.org
    org.faults.set(**FAULTS[fault](api))
    result = run_pipeline(f"manual__{api}_{fault}", api=api, extract_kwargs={"max_records": BULK_PAGE})

    assert result["api"] == api and result["new_records"] == result["total_retrieved"] > 2000
    assert_table_equals_emulator(empty_table.warehouse, org)
    streaks = _failure_streaks(api_entries(org))
    assert streaks and max(streaks) <= MAX_RETRIES, streaks
    retries = [
        int(n) for n, limit in re.findall(r"retry (\d+)/(\d+) in", logs()) if int(limit) == MAX_RETRIES
    ]
    text = logs_text = logs()
    del logs_text
    if fault == "resets":
        assert "broken results page" in text or retries, "a reset page must be logged as retried"
    assert retries and max(retries) <= MAX_RETRIES


def test_retries_are_bounded_then_the_next_run_repairs(empty_table, logs):
    org = empty_table.org
    org.faults.set(fail_next=50, error_status=503)
    with pytest.raises(Exception, match=rf"RETRIES_EXHAUSTED.*failed after {MAX_RETRIES + 1} attempt"):
        run_pipeline("manual__exhausted", api="rest")
    calls = api_entries(org)
    assert len(calls) == MAX_RETRIES + 1 and {e["status"] for e in calls} == {503}
    assert warehouse_rows(empty_table.warehouse) == {}  # nothing half-done reached the table
    assert f"retry {MAX_RETRIES}/{MAX_RETRIES}" in logs()

    org.faults.clear()
    run_pipeline("manual__exhausted", api="rest", try_number=2)  # Airflow's retry of the task
    assert_table_equals_emulator(empty_table.warehouse, org)


def _calls_before(org, pattern: str) -> int:
    """How many counted API calls precede the first one whose path matches ``pattern``."""
    for n, entry in enumerate(api_entries(org)):
        if re.search(pattern, entry["path"]):
            return n
    raise AssertionError(f"no API call matched {pattern!r}: {[e['path'] for e in api_entries(org)]}")


# A REST next-records page, a Bulk results page after the first (it has a locator).
MID_PAGING = {"rest": r"/query(All)?/[^/?]+-\d+$", "bulk": r"/results\?.*locator="}


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_session_expiring_mid_paging_logs_in_again_and_continues(empty_table, logs, api):
    org, warehouse = empty_table.org, empty_table.warehouse
    # A clean run shows where the second page is asked for; then the same run with the
    # session expiring exactly there.
    run_pipeline(f"manual__calibrate_{api}", api=api, extract_kwargs={"max_records": BULK_PAGE})
    expire_after = _calls_before(org, MID_PAGING[api])
    reset_warehouse(warehouse)
    org.reset_audit()
    org.faults.set(expire_sessions_after=expire_after)
    run_pipeline(f"manual__expiry_{api}", api=api, extract_kwargs={"max_records": BULK_PAGE})

    entries = org.audit()
    refused = [i for i, e in enumerate(entries) if e["status"] == 401]
    assert len(refused) == 1 and re.search(MID_PAGING[api], entries[refused[0]]["path"])
    after = entries[refused[0] + 1 :]
    assert after[0]["kind"] == "oauth" and after[0]["status"] == 200  # logged in again ...
    assert after[1]["path"] == entries[refused[0]]["path"] and after[1]["status"] == 200  # ... same page
    assert "session expired or invalid; logging in again" in logs()
    assert_table_equals_emulator(warehouse, org)
