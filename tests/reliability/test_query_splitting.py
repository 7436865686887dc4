"""Issue 9, case 3: a Bulk job that ends Failed, a REST QUERY_TIMEOUT.

The extract halves the window by SystemModstamp and queries the halves; past ``max_split_depth`` it
fails with an error naming the object and the window, Airflow retries the task, and the retry
(the fault gone) loads exactly the org's data.
"""

from __future__ import annotations

import re

import pytest
from airflow.exceptions import AirflowException
from airflow.sdk.exceptions import TaskDeferred

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.dag_factory import build_object_dags
from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.operators import extract
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.soql import build_spec_select
from salesforce_emulator.server import EmulatorServer
from tests.reliability.helpers import (
    DAG_ID,
    assert_table_equals_emulator,
    extract_operator,
    load_task,
    run_extract,
    run_pipeline,
    sync_runs,
    task_context,
    transform,
    trigger_event,
    warehouse_rows,
)

WINDOW = r"window \[\S+, \S+\)"


def test_sync_tasks_are_retried_by_airflow():
    dag = build_object_dags()[DAG_ID]
    assert all(task.retries >= 2 for task in dag.tasks)


def test_failed_bulk_job_is_split_and_the_halves_load_exactly(empty_table, logs):
    org = empty_table.org
    org.org.mutate("Contact", update=10)  # changes from this very second: the halves must still see them
    org.faults.set(bulk_fail_next=1)
    extracted = run_extract(extract_operator("bulk"), task_context("manual__bulk_split", "extract"))
    result = load_task(transform(extracted, "manual__bulk_split"), "manual__bulk_split")

    assert result["api"] == "bulk" and result["new_records"] == result["total_retrieved"]
    text = logs()  # reading the captured output consumes it: once
    assert "splitting it at" in text and "ended Failed" in text
    created = [e for e in org.audit() if e["method"] == "POST" and e["path"].endswith("/jobs/query")]
    assert len(created) == 3  # the failed job, then its two halves
    # The halves together read exactly what the full refresh read: open at both outer edges.
    first, second = extracted["soql"].split(";\n")
    assert "SystemModstamp <" in first and "SystemModstamp >=" not in first
    assert "SystemModstamp >=" in second and "SystemModstamp <" not in second
    assert_table_equals_emulator(empty_table.warehouse, org)


def test_bulk_failures_past_the_depth_limit_fail_clearly_and_the_retry_repairs(empty_table):
    org = empty_table.org
    org.faults.set(bulk_fail_next=100)
    with pytest.raises(
        AirflowException,
        match=rf"job 750\w+ for Contact ended failed \(state Failed\): .* \({WINDOW} after 2 split\(s\), max_split_depth=2",
    ):
        run_pipeline("manual__bulk_depth", api="bulk", extract_kwargs={"max_split_depth": 2})
    created = [e for e in org.audit() if e["method"] == "POST" and e["path"].endswith("/jobs/query")]
    assert len(created) == 1 + 2 + 2  # the window, its halves, the first half's halves
    assert warehouse_rows(empty_table.warehouse) == {}
    # Nothing half-done is left running in Salesforce: every job ended or was aborted.
    assert all(job.state in ("JobComplete", "Failed", "Aborted") for job in org.bulk.list())

    org.faults.clear()
    run_pipeline("manual__bulk_depth", api="bulk", try_number=2, extract_kwargs={"max_split_depth": 2})
    assert_table_equals_emulator(empty_table.warehouse, org)


@pytest.mark.parametrize("status", [500, 400])
def test_rest_query_timeout_is_split_until_each_piece_answers(empty_table, logs, status):
    """QUERY_TIMEOUT's status is undocumented: with a 5xx too the window is split, never retried as is."""
    org = empty_table.org
    org.faults.set(query_timeout_rows=900, query_timeout_status=status)
    result = run_pipeline("manual__rest_split", api="rest")

    timeouts = [e for e in org.audit() if e["status"] == status]
    assert len(timeouts) >= 2  # the whole window, then at least one half was still too large
    # Each timed-out statement was asked once: a retry would repeat the same query text.
    assert len({e["path"] for e in timeouts}) == len(timeouts)
    assert result["new_records"] == result["total_retrieved"] > 2000
    splits = re.findall(r"splitting it at (\S+) \(split (\d) of at most 4\)", logs())
    assert splits and all(int(depth) <= 4 for _at, depth in splits)
    assert_table_equals_emulator(empty_table.warehouse, org)


def test_rest_query_timeout_past_the_depth_limit_fails_clearly_then_the_retry_repairs(empty_table):
    org = empty_table.org
    org.faults.set(query_timeout_rows=5)
    with pytest.raises(
        AirflowException,
        match=rf"^Contact: the query for SystemModstamp {WINDOW} failed after 1 split.*QUERY_TIMEOUT",
    ):
        run_pipeline("manual__rest_depth", api="rest", extract_kwargs={"max_split_depth": 1})
    assert warehouse_rows(empty_table.warehouse) == {}

    org.faults.clear()
    run_pipeline("manual__rest_depth", api="rest", try_number=2, extract_kwargs={"max_split_depth": 1})
    assert_table_equals_emulator(empty_table.warehouse, org)
    assert sync_runs(empty_table.warehouse)[-1][0] == "success"


def test_a_job_that_ends_badly_stops_the_jobs_queued_after_it(tmp_path, monkeypatch, sync_env):
    """Targeted ids fetched in several jobs: when one is aborted (by an admin, say), the rest are too."""
    with EmulatorServer(tmp_path / "slow_org", contacts=60, seed=3, bulk_delay=30) as slow:
        monkeypatch.setenv("AIRFLOW_CONN_SF_SLOW", salesforce_connection(slow.connection_info))
        ids = [
            r["Id"]
            for r in slow.org.query("SELECT Id FROM Contact", include_deleted=False, api="rest").records()
        ]
        monkeypatch.setattr(extract, "BULK_SOQL_MAX_CHARS", len(build_spec_select(CONTACT)) + 400)
        operator = extract_operator("bulk", conn_id="sf_slow", ids=ids[:30])
        ctx = task_context("manual__abort_rest", "extract")
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(ctx)
        job_ids = deferred.value.trigger.carry["job_ids"]
        assert len(job_ids) > 1
        SalesforceBulk2Hook("sf_slow").abort_job(job_ids[0])
        event = trigger_event(deferred.value.trigger)
        assert event["status"] == "aborted"
        with pytest.raises(AirflowException, match=rf"job {job_ids[0]} for Contact ended aborted"):
            operator.execute_complete(ctx, event=event)
        assert [slow.bulk.get(job_id).state for job_id in job_ids] == ["Aborted"] * len(job_ids)
