"""Monitoring: sync_runs rows for every outcome (success, failed extract, failed transform) and the
per-call API log, written by real DAG runs against the emulator and the embedded Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.operating_support import rows
from tests.support.dags import run_dag, task_states

pytestmark = pytest.mark.slow

ORG = {"contacts": 300, "seed": 5, "bulk_delay": 0.1}


@pytest.fixture(scope="module")
def first_run(sync_env, warehouse_db):
    dag_run = run_dag(datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))
    assert dag_run.state == "success", task_states(dag_run)
    return dag_run


def test_a_successful_run_leaves_a_complete_sync_runs_row(first_run, warehouse_db, org):
    (run,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (first_run.run_id,))
    assert run["status"] == "success" and run["error_message"] is None
    assert (run["dag_id"], run["object_name"], run["api"]) == ("salesforce_sync_contacts", "Contact", "bulk")
    assert run["window_start"] is None and run["window_end"] is not None  # the initial full load
    assert run["job_ids"] and all(j.startswith("750") for j in run["job_ids"])
    assert run["rows_extracted"] == run["new_records"] > 250 and run["rows_rejected"] == 0
    assert all(run[f"seconds_{phase}"] is not None for phase in ("extract", "transform", "load"))
    used_before, used_after = (int(run[f"api_usage_{when}"].split("/")[0]) for when in ("before", "after"))
    assert run["api_calls"] > 0 and used_after - used_before >= run["api_calls"] - 1


def test_every_extract_call_is_logged_without_query_strings(first_run, warehouse_db):
    (run,) = rows(warehouse_db, "SELECT api_calls FROM salesforce.sync_runs WHERE run_id = %s", (first_run.run_id,))
    calls = rows(
        warehouse_db, "SELECT * FROM salesforce.api_call_log WHERE run_id = %s ORDER BY id", (first_run.run_id,)
    )
    assert len(calls) == run["api_calls"]  # execute and execute_complete (after deferral) both saved
    assert {c["task_id"] for c in calls} == {"extract"} and {c["object_name"] for c in calls} == {"Contact"}
    assert {c["dag_id"] for c in calls} == {"salesforce_sync_contacts"}
    paths = [c["path"] for c in calls]
    assert any(p.endswith("/limits") for p in paths) and any(p.endswith("/jobs/query") for p in paths)
    assert any("/results" in p for p in paths)
    assert not any("?" in p or "Bearer" in p or "SELECT" in p for p in paths)
    assert all(
        c["status"] in (200, 201, 204) and c["latency_ms"] >= 0 and "/" in c["api_usage"] for c in calls
    )


def test_a_failed_extract_leaves_a_failed_row_with_the_error(first_run, sync_env, warehouse_db, tmp_path):
    blocked = tmp_path / "staging"
    blocked.write_text("a file where the staging folder should be")
    sync_env.setenv("SALESFORCE_ELT_STAGING_URL", f"file://{blocked}")
    try:
        dag_run = run_dag()
    finally:
        sync_env.delenv("SALESFORCE_ELT_STAGING_URL")
    assert dag_run.state == "failed" and task_states(dag_run)["extract"] == "failed"
    (run,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (dag_run.run_id,))
    assert (run["status"], run["object_name"], run["dag_id"]) == (
        "failed",
        "Contact",
        "salesforce_sync_contacts",
    )
    assert run["error_message"].startswith("extract: ") and str(blocked) in run["error_message"]


def test_a_failed_transform_leaves_a_failed_row_with_the_extract_window(first_run, sync_env, warehouse_db):
    sync_env.setenv("SALESFORCE_ELT_REJECT_THRESHOLD", "not-a-number")
    try:
        dag_run = run_dag()
    finally:
        sync_env.delenv("SALESFORCE_ELT_REJECT_THRESHOLD")
    assert dag_run.state == "failed" and task_states(dag_run)["transform"] == "failed"
    (run,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (dag_run.run_id,))
    assert run["status"] == "failed" and run["error_message"].startswith("transform: ValueError")
    assert run["window_start"] is not None and run["window_end"] > run["window_start"]  # the extract's window
    assert run["api"] == "bulk" and run["rows_extracted"] is not None
