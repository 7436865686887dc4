"""The Bulk 2.0 trigger's polling cadence: a small job is seen done within a second or two even
with a long poll_interval, and a long job still costs one poll per poll_interval."""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace

import pytest

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger, poll_delays
from tests.support.deferral import trigger_event
from tests.support.salesforce import finished_job

JOB_SECONDS = 1.5  # how long every Bulk job of this module's org stays running
POLL_INTERVAL = 30.0  # far above JOB_SECONDS: waiting it out once fails the test by a wide margin
ORG = {"contacts": 20, "seed": 4, "bulk_delay": JOB_SECONDS}


@pytest.fixture
def conn_id(org, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SF_POLL", salesforce_connection(org.connection_info))
    return "sf_poll"


def test_waits_start_at_a_second_and_double_up_to_the_poll_interval():
    assert list(itertools.islice(poll_delays(10.0), 7)) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert list(itertools.islice(poll_delays(0.1), 3)) == [0.1, 0.1, 0.1]  # never above poll_interval


def test_a_short_job_is_seen_done_long_before_the_poll_interval(org, conn_id):
    job_id = SalesforceBulk2Hook(conn_id).create_query_job("SELECT Id FROM Contact")["id"]
    started = time.monotonic()
    event = trigger_event(Bulk2QueryJobTrigger(job_id=job_id, conn_id=conn_id, poll_interval=POLL_INTERVAL))
    elapsed = time.monotonic() - started
    assert event["status"] == "success", event
    assert event["records"] == org.org.query("SELECT Id FROM Contact", include_deleted=False, api="rest").total_size
    polls = [e for e in org.audit() if e["method"] == "GET" and e["path"].endswith(f"/jobs/query/{job_id}")]
    assert len(polls) >= 2  # the job was still running at the first poll: the trigger had to wait
    # Polls at about 0, 1 and 3 s see a 1.5 s job done by ~3 s; the old first wait alone was 30 s.
    assert elapsed < POLL_INTERVAL / 3, elapsed


def test_a_job_done_at_once_is_held_until_not_before(org, conn_id):
    """A terminal answer is not sent before ``not_before``: the scheduler must first take in the deferral."""
    hook = SalesforceBulk2Hook(conn_id)
    job_id = hook.create_query_job("SELECT Id FROM Contact")["id"]
    assert finished_job(lambda: hook.get_job(job_id), job_id, interval=0.2)["state"] == "JobComplete"
    started = time.time()
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id=conn_id, poll_interval=POLL_INTERVAL, not_before=started + 3)
    )
    assert event["status"] == "success", event
    assert time.time() >= started + 3


@pytest.mark.parametrize(("brief_wait", "defers"), [(10.0, False), (0.0, True)])
def test_the_worker_waits_briefly_for_a_small_job_before_deferring(org, conn_id, brief_wait, defers):
    """A job that ends within ``brief_wait`` is finished on the worker (no deferral, no triggerer race);
    otherwise the task defers with a trigger that holds its answer until the settle time."""
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    from salesforce_elt.airflow.operators.extract import SETTLE_AFTER_DEFER, SalesforceBulkExtractOperator
    from tests.support.deferral import run_extract

    operator = SalesforceBulkExtractOperator(
        task_id="extract_contacts",
        object_name="Contact",
        conn_id=conn_id,
        brief_wait=timedelta(seconds=brief_wait),
        high_water_mark_getter=lambda _name: None,
    )
    ti = SimpleNamespace(
        dag_id="salesforce_sync_test", run_id=f"brief_wait_{brief_wait}", task_id="extract", map_index=-1, try_number=1
    )
    ctx = {"ti": ti, "params": {}, "dag_run": SimpleNamespace(run_type="manual")}
    expected = org.org.query("SELECT Id FROM Contact", include_deleted=True, api="rest").total_size
    if defers:
        deferral_started = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(ctx)
        assert deferred.value.trigger.not_before >= deferral_started + SETTLE_AFTER_DEFER.total_seconds()
        result = run_extract(operator, ctx)
    else:
        result = operator.execute(ctx)  # returns: it never deferred
    assert result["records"] == expected


def test_an_extract_that_polls_then_defers_counts_every_call_it_made(org, conn_id):
    """The brief wait's polls happen on the worker's hook before the deferral: the extract's api_calls
    (what sync_runs records) counts them, the triggerer's polls (its event carries them to the resumed
    task's hook) and the worker's calls after the resume."""
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    from salesforce_elt.airflow.operators.extract import SalesforceBulkExtractOperator
    from tests.support.deferral import trigger_event

    def worker_calls(entries: list[dict]) -> int:  # logins are not API calls
        return sum(1 for e in entries if "oauth2/token" not in e["path"])

    operator = SalesforceBulkExtractOperator(
        task_id="extract_contacts",
        object_name="Contact",
        conn_id=conn_id,
        brief_wait=timedelta(seconds=JOB_SECONDS / 3),  # shorter than the job: it polls, then defers
        high_water_mark_getter=lambda _name: None,
    )
    ti = SimpleNamespace(dag_id="salesforce_sync_test", run_id="counted", task_id="extract", map_index=-1, try_number=1)
    ctx = {"ti": ti, "params": {}, "dag_run": SimpleNamespace(run_type="manual")}
    org.reset_audit()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)
    before_deferral = org.audit()
    polls = [e for e in before_deferral if e["method"] == "GET" and "/jobs/query/" in e["path"]]
    assert polls, "the worker polled the job before deferring"
    event = trigger_event(Bulk2QueryJobTrigger(**deferred.value.trigger.serialize()[1]))
    after_trigger = len(org.audit())
    in_trigger = org.audit()[len(before_deferral) : after_trigger]
    assert len(event["calls"]) == worker_calls(in_trigger) > 0 and event["calls_dropped"] == 0
    result = operator.execute_complete(ctx, event=event)
    resumed = org.audit()[after_trigger:]
    assert result["records"] > 0
    assert result["api_calls"] == worker_calls(before_deferral) + worker_calls(in_trigger) + worker_calls(resumed)
