"""Bursts of 5xx/429 and of the edge's 420/406, connection resets mid-page, slow answers, expired sessions.

Every run must end with exactly the org's data; every retry is bounded by the hooks' policy and logged.
"""

from __future__ import annotations

import functools
import re
from itertools import groupby

import pytest

from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_elt.airflow.triggers import bulk2 as trigger_module
from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger
from tests.reliability.helpers import (
    FAST_RETRY,
    MAX_RETRIES,
    api_entries,
    assert_table_equals_emulator,
    run_pipeline,
    trigger_event,
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
    """Lengths of runs of consecutive transient answers (406/420/429/5xx) to the same request."""
    keyed = [
        ((e["method"], e["path"]), e["status"] in (406, 420, 429) or e["status"] >= 500) for e in entries
    ]
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


# A REST next-records page, a Bulk results page after the first (it has a locator).
MID_PAGING = {"rest": r"/query(All)?/[^/?]+-\d+$", "bulk": r"/results\?.*locator="}


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_session_expiring_mid_paging_logs_in_again_and_continues(empty_table, logs, api):
    org, warehouse = empty_table.org, empty_table.warehouse
    # The session expires exactly when the second page is asked for (counting calls instead would
    # depend on how many status polls the Bulk job took).
    org.faults.set(expire_sessions_at=MID_PAGING[api])
    run_pipeline(f"manual__expiry_{api}", api=api, extract_kwargs={"max_records": BULK_PAGE})

    entries = org.audit()
    refused = [i for i, e in enumerate(entries) if e["status"] == 401]
    assert len(refused) == 1 and re.search(MID_PAGING[api], entries[refused[0]]["path"])
    after = entries[refused[0] + 1 :]
    assert after[0]["kind"] == "oauth" and after[0]["status"] == 200  # logged in again ...
    assert after[1]["path"] == entries[refused[0]]["path"] and after[1]["status"] == 200  # ... same page
    assert "session expired or invalid; logging in again" in logs()
    assert_table_equals_emulator(warehouse, org)


# Salesforce's edge answers Bulk calls with 420 (an HTML page) and 406 (no body) that succeed when
# asked again; the faults land on Bulk 2.0 calls only (create, poll, results pages).
EDGE_FAULTS = {
    "burst": lambda status: {"fail_next": MAX_RETRIES, "error_status": status, "error_scope": "bulk"},
    "random": lambda status: {"error_rate": 0.3, "error_status": status, "error_scope": "bulk", "seed": 11},
}
_POLL = re.compile(r"/jobs/query/[^/?]+$")


@pytest.mark.parametrize("status", [420, 406])
@pytest.mark.parametrize("pattern", sorted(EDGE_FAULTS))
def test_bulk_sync_through_edge_420_and_406_ends_in_exact_data(empty_table, logs, pattern, status):
    org = empty_table.org
    org.faults.set(**EDGE_FAULTS[pattern](status))
    result = run_pipeline(
        f"manual__edge_{pattern}_{status}", api="bulk", extract_kwargs={"max_records": BULK_PAGE}
    )

    assert result["api"] == "bulk" and result["new_records"] == result["total_retrieved"] > 2000
    assert_table_equals_emulator(empty_table.warehouse, org)
    entries = api_entries(org)
    edge = [e for e in entries if e["status"] == status]
    assert edge and all("/jobs/query" in e["path"] for e in edge), edge
    if pattern == "burst":
        # The whole burst on the job's creation, one more attempt than there were failures.
        assert [e["status"] for e in entries if e["method"] == "POST"] == [status] * MAX_RETRIES + [200]
    streaks = _failure_streaks(entries)
    assert max(streaks) <= MAX_RETRIES, streaks
    # Each refused call was asked again and logged as a retry: by the hook (creation, results
    # pages) or by the trigger (status polls; test_the_trigger_polls_through_edge_answers).
    text = logs()
    poll_hits = [e for e in edge if e["method"] == "GET" and _POLL.search(e["path"])]
    hook_hits = [e for e in edge if e not in poll_hits]
    # (Each log line may be captured twice: by caplog and from the task logger's stream.)
    assert len(re.findall(rf"HTTP {status} HTTP_{status}; retry \d+/{MAX_RETRIES} in", text)) >= len(
        hook_hits
    )
    assert len(re.findall(rf"HTTP {status}; polling again in", text)) >= len(poll_hits)


def test_the_trigger_polls_through_edge_answers(sync_env, logs, monkeypatch):
    """The trigger's own retry: 420 and 406 on status polls are waited out, not reported as errors."""
    org = sync_env.org
    # The trigger's policy with millisecond backoff (its bounds unchanged), as the hooks' in conftest.
    monkeypatch.setattr(
        trigger_module, "RetryPolicy", functools.partial(RetryPolicy, backoff_base=FAST_RETRY.backoff_base)
    )
    job_id = SalesforceBulk2Hook().create_query_job("SELECT Id FROM Contact")["id"]
    org.reset_audit()
    org.faults.set(fail_next=4, error_status=420, error_scope="bulk")
    first = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id="salesforce_default", poll_interval=0.1)
    )
    org.faults.set(fail_next=4, error_status=406, error_scope="bulk")
    second = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id="salesforce_default", poll_interval=0.1)
    )
    org.faults.clear()

    expected = org.org.query("SELECT Id FROM Contact", include_deleted=False, api="rest").total_size
    for event in (first, second):
        assert (event["status"], event["state"], event["records"]) == ("success", "JobComplete", expected), (
            event
        )
    polls = [e["status"] for e in api_entries(org) if e["method"] == "GET" and _POLL.search(e["path"])]
    assert polls[:5] == [420] * 4 + [200] and polls[-5:] == [406] * 4 + [200], polls
    text = logs()
    assert text.count("HTTP 420; polling again in") >= 4 and text.count("HTTP 406; polling again in") >= 4
