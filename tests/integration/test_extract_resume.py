"""A Bulk extract deferred before an upgrade resumes after it: execute_complete reads the trigger
event (and its carry) in the JSON shape the previous release wrote, and its XCom keeps today's keys.

Real components: the session emulator over HTTPS, real Bulk 2.0 jobs, the staging folder on disk.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk import ObjectStoragePath

from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.operators.extract import SalesforceBulkExtractOperator
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.soql import build_spec_select
from salesforce_elt.engine.staging import attempt_dir
from tests.support.salesforce import finished_job

# Every key of the extract XCom (contract.ExtractResult; docs/sync-contract.md), no id_reconcile/relation_scope.
EXTRACT_KEYS = {
    "object", "api", "soql", "fields", "dropped_fields", "raw_uri", "files", "records", "job_ids", "deleted_uri",
    "deleted_records", "window", "api_usage", "api_calls",
}  # fmt: skip


@pytest.fixture
def staging(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESFORCE_ELT_STAGING_URL", f"file://{tmp_path}/staging")
    return tmp_path / "staging"


def context(run_id: str) -> dict:
    ti = SimpleNamespace(dag_id="salesforce_sync_test", run_id=run_id, task_id="extract", map_index=-1, try_number=1)
    return {"ti": ti, "params": {}, "dag_run": SimpleNamespace(run_type="manual")}


def old_event(job: dict, carry: dict) -> dict:
    """The trigger event as the previous release sent it: no ``calls``, the carry as a plain dict."""
    return {
        "status": "success",
        "job_id": job["id"],
        "state": job["state"],
        "message": f"job {job['state']}",
        "records": job["numberRecordsProcessed"],
        "carry": carry,
    }


def test_a_window_deferred_by_the_previous_release_resumes_downloads_and_keeps_the_xcom_keys(
    salesforce_conn_env, staging
):
    org = salesforce_conn_env
    hook = SalesforceBulk2Hook()
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=3650)
    soql = build_spec_select(CONTACT, start=start, end=end)
    job_id = hook.create_query_job(soql, "queryAll")["id"]
    job = finished_job(lambda: hook.get_job(job_id), job_id, interval=0.1)
    ctx = context("manual__resumed_after_upgrade")
    window = {
        "start": start.isoformat(), "end": end.isoformat(), "full_refresh": False, "query_all": True,
        "reason": "explicit start/end params", "advances_high_water_mark": False,
    }  # fmt: skip
    carry = {  # the previous release's Bulk state, key for key
        "object": "Contact",
        "dropped_fields": [],
        "soql": soql,
        "job_ids": [job_id],
        "pieces": [{"start": start.isoformat(), "end": end.isoformat(), "depth": 0}],
        "index": 0,
        "window": window,
        "incremental_deletes": False,
        "attempt_uri": str(attempt_dir(ctx, "Contact")),
        "deadline": time.time() + 600,
        "api_usage_before": "1/15000",
        "api_calls": 3,
    }
    operator = SalesforceBulkExtractOperator(task_id="extract", object_name="Contact")

    result = operator.execute_complete(ctx, event=old_event(job, carry))

    assert set(result) == EXTRACT_KEYS | {"typed"}  # the parts are also converted while they download
    assert result["window"] == window and result["soql"] == soql and result["job_ids"] == [job_id]
    assert result["api"] == "bulk" and result["deleted_uri"] is None and result["api_usage"]["before"] == "1/15000"
    assert result["api_calls"] > 3  # the earlier attempts' calls plus this one's downloads
    expected = org.org.query(soql, include_deleted=True, api="rest").total_size
    assert result["records"] == expected == job["numberRecordsProcessed"]
    raw = ObjectStoragePath(result["raw_uri"])
    assert raw.path.startswith(str(staging)) and result["files"]
    rows = 0
    for name in result["files"]:
        with io.TextIOWrapper((raw / name).open("rb"), encoding="utf-8", newline="") as part:
            header, *records = csv.reader(part)
        assert header == result["fields"] == list(CONTACT.soql_fields)
        rows += len(records)
    assert rows == expected


def test_a_resumption_without_a_carry_fails_naming_the_task(salesforce_conn_env, staging):
    from airflow.exceptions import AirflowException

    operator = SalesforceBulkExtractOperator(task_id="extract", object_name="Contact")
    with pytest.raises(AirflowException, match=r"^extract: resumed without a Bulk 2.0 trigger event: \{'status'"):
        operator.execute_complete(context("manual__no_carry"), event={"status": "success", "carry": None})
