"""Extraction against the Salesforce emulator over HTTPS: hooks, trigger and operators, faults included.

The shared session emulator (``sf_emulator``) serves read-only tests; tests that mutate the org or
need slow Bulk jobs use this module's own emulator, so other modules' counts stay put.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.exceptions import AirflowException
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import TaskDeferred

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.hooks.deleted_feed import DeletedFeedUnavailable
from salesforce_elt.airflow.hooks.errors import BulkQueryNotSupportedError, SalesforceApiError
from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
from salesforce_elt.airflow.operators import extract
from salesforce_elt.airflow.operators.extract import (
    SalesforceBulkExtractOperator,
    SalesforceRestExtractOperator,
)
from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger
from salesforce_elt.engine import registry
from salesforce_elt.engine.registry import CONTACT, FieldSpec, SObjectSpec
from salesforce_elt.engine.soql import build_spec_select
from salesforce_elt.engine.transform import transform_files
from salesforce_emulator.server import EmulatorServer
from tests.support.deferral import run_extract, trigger_event
from tests.support.logs import captured_logs
from tests.support.salesforce import finished_job, wait_for_the_next_minute

FAST_RETRY = RetryPolicy(max_retries=4, backoff_base=0.01, backoff_max=0.05)
TASK_WHO_RELATION = SObjectSpec(
    name="TaskWhoRelation",
    table="sf_task_who_relations",
    key_prefix="0RT",
    api="bulk",  # deliberately wrong: the operator must fall back to REST by itself
    query_all=False,
    delete_handling="relations",
    fields=(
        FieldSpec("TaskId", "task_id", "reference", length=18),
        FieldSpec("RelationId", "relation_id", "reference", length=18),
        FieldSpec("Type", "type", "string", length=40),
        FieldSpec("SystemModstamp", "sf_system_modstamp", "datetime"),
    ),
)


# ---- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture
def sf(salesforce_conn_env):
    """The session emulator with AIRFLOW_CONN_SALESFORCE_DEFAULT pointing at it; faults cleared after."""
    yield salesforce_conn_env
    salesforce_conn_env.faults.clear()


@pytest.fixture(scope="module")
def private_emulator(tmp_path_factory):
    """A small org of this module's own, with slow Bulk jobs (abort/timeout) and free to mutate."""
    data_dir = tmp_path_factory.mktemp("extract_emulator")
    with EmulatorServer(data_dir, contacts=300, seed=7, bulk_delay=4.0) as server:
        yield server


@pytest.fixture(scope="module")
def mutated(private_emulator):
    """Updates and hard deletes in the private org, then the next minute: Salesforce's /deleted
    feed works in whole minutes and covers a minute only once it is over."""
    before = datetime.now(UTC) - timedelta(minutes=1)
    changes = private_emulator.org.mutate("Contact", update=5, delete=2, hard_delete=3)
    wait_for_the_next_minute()
    return before, changes


@pytest.fixture
def private_conn(private_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SF_PRIVATE", salesforce_connection(private_emulator.connection_info))
    yield "sf_private"
    private_emulator.faults.clear()


@pytest.fixture
def staging(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESFORCE_ELT_STAGING_URL", f"file://{tmp_path}/staging")
    return tmp_path / "staging"


@pytest.fixture
def logs(caplog, capfd):
    return captured_logs(caplog, capfd, logging.DEBUG)


def out_dir(tmp_path, name: str) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/{name}")


def read_parts(directory: ObjectStoragePath, files: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    """(headers of every part, all data rows)."""
    headers, rows = [], []
    for name in files:
        with (directory / name).open("r", newline="", encoding="utf-8") as fh:
            reader = list(csv.reader(fh))
        headers.append(reader[0])
        rows.extend(reader[1:])
    return headers, rows


def org_count(emulator, soql: str, include_deleted: bool) -> int:
    return emulator.org.query(soql, include_deleted=include_deleted, api="rest").total_size


def wait_for_job(hook: SalesforceBulk2Hook, job_id: str) -> dict:
    return finished_job(lambda: hook.get_job(job_id), job_id, interval=0.1)


def context(run_id: str, **params) -> dict:
    ti = SimpleNamespace(
        dag_id="salesforce_sync_test", run_id=run_id, task_id="extract", map_index=-1, try_number=1
    )
    return {"ti": ti, "params": params, "dag_run": SimpleNamespace(run_type="manual")}


# ---- login -----------------------------------------------------------------------------------
def test_test_connection_succeeds_and_reports_usage(sf):
    ok, message = SalesforceApiHook().test_connection()
    assert ok, message
    assert message.startswith("Connection successfully tested; API usage ")


@pytest.mark.parametrize("flow", ["jwt", "password"])
def test_other_login_flows(sf, monkeypatch, flow):
    monkeypatch.setenv("AIRFLOW_CONN_SF_FLOW", salesforce_connection(sf.connection_info, auth_flow=flow))
    hook = SalesforceApiHook("sf_flow")
    assert hook.describe("Contact")["name"] == "Contact"
    assert hook.auth_settings.flow == flow


def test_refused_login_is_a_clear_failure_without_secrets(sf, monkeypatch):
    info = {**sf.connection_info, "client_secret": "definitely-wrong-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_SF_BAD", salesforce_connection(info))
    ok, message = SalesforceApiHook("sf_bad").test_connection()
    assert not ok
    assert "invalid_client" in message or "invalid_grant" in message
    assert "definitely-wrong-secret" not in message


def test_simple_salesforce_client_is_a_direct_session(sf):
    hook = SalesforceApiHook()
    client = hook.get_conn()
    assert client.auth_type == "direct"
    assert client.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1


# ---- REST and Bulk extraction -------------------------------------------------------------------
def test_rest_extraction_writes_every_live_contact(sf, tmp_path):
    hook = SalesforceApiHook()
    dest = out_dir(tmp_path, "rest")
    files, records = hook.query_to_csv(
        build_spec_select(CONTACT), CONTACT.soql_fields, dest, batch_size=200, rows_per_part=700
    )
    expected = hook.record_counts(["Contact"])["Contact"]
    assert records == expected == org_count(sf, "SELECT Id FROM Contact", include_deleted=False)
    headers, rows = read_parts(dest, files)
    assert len(files) == -(-expected // 700)
    assert all(h == list(CONTACT.soql_fields) for h in headers)
    assert len(rows) == expected and len({r[0] for r in rows}) == expected
    assert {r[CONTACT.soql_fields.index("IsDeleted")] for r in rows} == {"false"}


def test_rest_query_all_includes_deleted_rows(sf, tmp_path):
    hook = SalesforceApiHook()
    _files, records = hook.query_to_csv(
        "SELECT Id, IsDeleted FROM Contact",
        ["Id", "IsDeleted"],
        out_dir(tmp_path, "all"),
        include_deleted=True,
    )
    assert records == org_count(sf, "SELECT Id FROM Contact", include_deleted=True)


def test_bulk_extraction_pages_into_part_files(sf, tmp_path):
    hook = SalesforceBulk2Hook()
    job = hook.create_query_job(build_spec_select(CONTACT), "queryAll")
    assert wait_for_job(hook, job["id"])["state"] == "JobComplete"
    dest = out_dir(tmp_path, "bulk")
    files, records = hook.download_results(job["id"], dest, max_records=600)
    expected = org_count(sf, "SELECT Id FROM Contact", include_deleted=True)
    assert records == expected
    # A page per file; pages may hold fewer than maxRecords (short_bulk_pages), so there may be more.
    assert len(files) >= -(-expected // 600) and files == [f"part-{i:05d}.csv" for i in range(len(files))]
    headers, rows = read_parts(dest, files)
    assert all(h == list(CONTACT.soql_fields) for h in headers)
    assert len({r[0] for r in rows}) == expected
    hook.delete_job(job["id"])
    with pytest.raises(SalesforceApiError) as gone:
        hook.get_job(job["id"])
    assert gone.value.status == 404


def test_bulk_and_rest_produce_the_same_rows(sf, tmp_path):
    soql = build_spec_select(CONTACT)
    rest = SalesforceApiHook()
    rest_files, _ = rest.query_to_csv(soql, CONTACT.soql_fields, out_dir(tmp_path, "r"), include_deleted=True)
    bulk = SalesforceBulk2Hook()
    job = bulk.create_query_job(soql, "queryAll")
    wait_for_job(bulk, job["id"])
    bulk_files, _ = bulk.download_results(job["id"], out_dir(tmp_path, "b"))

    def normalised(directory, files):
        # REST prints datetimes as ...000+0000, Bulk as ...000Z (the transform accepts both).
        _h, rows = read_parts(directory, files)
        return sorted([v.replace(".000+0000", ".000Z") for v in row] for row in rows)

    assert normalised(out_dir(tmp_path, "r"), rest_files) == normalised(out_dir(tmp_path, "b"), bulk_files)


# ---- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [{"fail_next": 3, "error_status": 503}, {"throttle_next": 2}, {"fail_next": 2, "error_status": 500}],
)
def test_transient_errors_are_retried(sf, tmp_path, fault):
    hook = SalesforceApiHook(retry=FAST_RETRY)
    hook.authenticate()
    sf.faults.set(**fault)
    _files, records = hook.query_to_csv("SELECT Id FROM Contact", ["Id"], out_dir(tmp_path, "x"))
    assert records == org_count(sf, "SELECT Id FROM Contact", include_deleted=False)
    failed = fault.get("fail_next", 0) + fault.get("throttle_next", 0)
    assert hook.api_calls >= failed + 1


def test_retries_are_bounded(sf):
    hook = SalesforceApiHook(retry=RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02))
    hook.authenticate()
    sf.faults.set(fail_next=10, error_status=503)
    with pytest.raises(SalesforceApiError) as err:
        hook.limits()
    assert err.value.error_code == "RETRIES_EXHAUSTED"
    assert "HTTP 503 SERVER_UNAVAILABLE" in str(err.value)
    assert hook.api_calls == 3


def test_rest_page_cut_mid_body_is_fetched_again(sf, tmp_path):
    hook = SalesforceApiHook(retry=FAST_RETRY)
    sf.faults.set(reset_rest_page_next=2)
    _files, records = hook.query_to_csv(
        "SELECT Id FROM Contact", ["Id"], out_dir(tmp_path, "x"), batch_size=500
    )
    assert records == org_count(sf, "SELECT Id FROM Contact", include_deleted=False)


def test_bulk_page_cut_mid_body_is_fetched_again_from_its_locator(sf, tmp_path):
    hook = SalesforceBulk2Hook(retry=FAST_RETRY)
    job = hook.create_query_job("SELECT Id, Name FROM Contact")
    wait_for_job(hook, job["id"])
    sf.faults.set(reset_bulk_page_next=2)
    dest = out_dir(tmp_path, "x")
    files, records = hook.download_results(job["id"], dest, max_records=700)
    expected = org_count(sf, "SELECT Id FROM Contact", include_deleted=False)
    assert records == expected
    _headers, rows = read_parts(dest, files)
    assert len({r[0] for r in rows}) == expected


def test_expired_session_logs_in_again_once(sf):
    hook = SalesforceApiHook(retry=FAST_RETRY)
    first = hook.authenticate()
    sf.faults.set(expire_sessions_after=0)
    assert hook.limits()["DailyApiRequests"]["Max"] > 0
    assert hook._token is not None and hook._token.access_token != first.access_token
    assert any(e["status"] == 401 for e in sf.audit()[-5:])


def test_daily_limit_exceeded_is_not_retried(sf):
    hook = SalesforceApiHook(retry=FAST_RETRY)
    hook.authenticate()
    sf.faults.set(limit_exceeded=True)
    with pytest.raises(SalesforceApiError) as err:
        hook.limits()
    assert (err.value.error_code, err.value.status) == ("REQUEST_LIMIT_EXCEEDED", 403)
    assert hook.api_calls == 1


def test_bad_soql_names_salesforce_error(sf, tmp_path):
    with pytest.raises(SalesforceApiError) as err:
        SalesforceApiHook().query_to_csv("SELECT Id, Nope__c FROM Contact", ["Id"], out_dir(tmp_path, "x"))
    assert err.value.error_code == "INVALID_FIELD" and err.value.status == 400


def test_api_usage_is_read_from_every_response(sf):
    hook = SalesforceApiHook()
    hook.limits()
    first = hook.api_usage
    hook.limits()
    used, maximum = (int(v) for v in hook.api_usage.split("/"))
    assert hook.api_usage_first == first and used == int(first.split("/")[0]) + 1 and maximum == 15000
    assert hook.api_calls == 2


def test_invalid_entity_is_the_fallback_exception(sf):
    hook = SalesforceBulk2Hook()
    with pytest.raises(BulkQueryNotSupportedError) as err:
        hook.create_query_job("SELECT Id, TaskId FROM TaskWhoRelation")
    assert err.value.error_code == "INVALIDENTITY"


# ---- trigger -----------------------------------------------------------------------------------
def test_trigger_reports_success_with_record_count(sf):
    hook = SalesforceBulk2Hook()
    job = hook.create_query_job("SELECT Id FROM Contact")
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id=job["id"], conn_id="salesforce_default", poll_interval=0.1)
    )
    calls, dropped = event.pop("calls"), event.pop("calls_dropped")
    assert event == {
        "status": "success",
        "job_id": job["id"],
        "state": "JobComplete",
        "message": "job JobComplete",
        "records": org_count(sf, "SELECT Id FROM Contact", include_deleted=False),
        "carry": None,
    }
    # The polls travel in the event, JSON-safe, for the resumed task's api_call_log.
    assert calls and dropped == 0 and json.loads(json.dumps(calls)) == calls
    assert {(c["method"], c["path"].rsplit("/", 1)[-1], c["status"]) for c in calls} == {("GET", job["id"], 200)}


@pytest.mark.parametrize("outcome", ["failed", "aborted", "timeout", "error"])
def test_trigger_terminal_states(private_emulator, private_conn, outcome):
    hook = SalesforceBulk2Hook(private_conn)
    deadline = None
    if outcome == "failed":
        private_emulator.faults.set(bulk_fail_next=1)
    job_id = hook.create_query_job("SELECT Id FROM Contact")["id"]
    if outcome == "aborted":
        hook.abort_job(job_id)
    elif outcome == "timeout":
        deadline = time.time() + 0.5
    elif outcome == "error":
        job_id = "750000000000000AAA"  # no such job: 404
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id=private_conn, poll_interval=0.1, deadline=deadline)
    )
    assert event["status"] == outcome, event
    assert event["job_id"] == job_id
    expected_state = {"failed": "Failed", "aborted": "Aborted", "error": None}.get(outcome)
    if outcome == "timeout":
        assert event["state"] in ("UploadComplete", "InProgress")
        hook.abort_job(job_id)
    else:
        assert event["state"] == expected_state
    if outcome == "error":
        assert "NOT_FOUND" in event["message"]


def test_trigger_survives_transient_errors_and_expired_sessions(sf):
    hook = SalesforceBulk2Hook()
    job_id = hook.create_query_job("SELECT Id FROM Contact")["id"]
    sf.faults.set(fail_next=2, error_status=503, expire_sessions_after=3)
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id="salesforce_default", poll_interval=0.1)
    )
    assert event["status"] == "success", event


# ---- deleted feed ------------------------------------------------------------------------------
def test_deleted_feed_lists_hard_deletes(mutated, private_conn, tmp_path):
    start, changes = mutated
    end = datetime.now(UTC)
    hook = SalesforceApiHook(private_conn)
    dest = out_dir(tmp_path, "d") / "deleted.csv"
    rows, used_start = hook.deleted("Contact", start, end, dest)
    with dest.open("r", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["Id", "deletedDate"]
    ids = {row[0] for row in table[1:]}
    assert set(changes["hard_deleted"]) | set(changes["deleted"]) <= ids and rows == len(table) - 1
    # Salesforce wants a start more than one whole minute before the end: a narrower window reads further back.
    assert used_start == min(start, end.replace(second=0, microsecond=0) - timedelta(minutes=2))


def test_deleted_feed_older_than_15_days_asks_for_an_id_comparison(sf, tmp_path):
    # Moving the start forward would lose the deletions before it: the caller compares Ids instead.
    hook = SalesforceApiHook()
    dest = out_dir(tmp_path, "d") / "deleted.csv"
    with pytest.raises(DeletedFeedUnavailable, match="before the 15 days"):
        hook.deleted("Contact", datetime.now(UTC) - timedelta(days=40), datetime.now(UTC), dest)
    assert not dest.exists()


# ---- operators ---------------------------------------------------------------------------------
def _check_staged(result: dict, expected_records: int) -> None:
    raw = ObjectStoragePath(result["raw_uri"])
    headers, rows = read_parts(raw, result["files"])
    assert all(h == result["fields"] for h in headers)
    assert len(rows) == result["records"] == expected_records


def test_bulk_operator_incremental_run_follows_the_contract(
    private_emulator, mutated, private_conn, staging, tmp_path
):
    hwm = datetime.now(UTC) - timedelta(hours=1)
    operator = SalesforceBulkExtractOperator(
        task_id="extract",
        object_name="Contact",
        conn_id=private_conn,
        poll_interval=0.2,
        high_water_mark_getter=lambda _name: hwm,
    )
    result = run_extract(operator, context("manual__incremental"))

    window_start = (hwm - CONTACT.lookback).replace(microsecond=0)
    expected_soql = build_spec_select(
        CONTACT, start=window_start, end=datetime.fromisoformat(result["window"]["end"])
    )
    assert set(result) == {
        "object", "api", "soql", "fields", "dropped_fields", "raw_uri", "files", "records", "job_ids",
        "deleted_uri", "deleted_records", "window", "api_usage", "api_calls", "typed",
    }  # fmt: skip
    assert (result["object"], result["api"], result["soql"]) == ("Contact", "bulk", expected_soql)
    assert result["fields"] == list(CONTACT.soql_fields)
    assert (
        result["raw_uri"]
        == f"file://{staging}/salesforce_sync_test/manual__incremental/Contact/extract/try-1/raw"
    )
    assert result["window"]["start"] == window_start.isoformat() and result["window"]["query_all"] is True
    modified = org_count(
        private_emulator,
        f"SELECT Id FROM Contact WHERE SystemModstamp >= {expected_soql.split('>= ')[1]}",
        include_deleted=True,
    )
    assert modified >= 5
    _check_staged(result, modified)
    assert result["deleted_uri"].endswith("/try-1/deleted.csv") and result["deleted_records"] >= 5
    assert len(result["job_ids"]) == 1
    assert result["api_usage"]["before"] and result["api_usage"]["after"] and result["api_calls"] >= 4
    _check_typed_while_downloading(result, tmp_path)
    json.dumps(result)  # XCom must be plain JSON


def _check_typed_while_downloading(result: dict, tmp_path) -> None:
    """The parts converted during the download are byte for byte what the transform task writes."""
    typed = result["typed"]
    assert typed["uri"].endswith("/try-1/typed") and typed["files"] == result["files"]
    assert (typed["rows"], typed["rejects"]) == (result["records"], 0)
    alone = transform_files(CONTACT, result["fields"], ObjectStoragePath(result["raw_uri"]), result["files"],
                            tmp_path, reject_threshold=0.0)
    assert list(typed["columns"]) == alone.columns
    for name in result["files"]:
        assert (ObjectStoragePath(typed["uri"]) / name).read_bytes() == (tmp_path / name).read_bytes()


def test_rest_operator_full_refresh(sf, staging):
    operator = SalesforceRestExtractOperator(
        task_id="extract", object_name="Contact", high_water_mark_getter=lambda _n: None
    )
    result = run_extract(operator, context("manual__full"))
    assert result["api"] == "rest" and result["job_ids"] == []
    assert result["window"]["full_refresh"] is True and result["window"]["start"] is None
    assert " WHERE " not in result["soql"]
    assert result["deleted_uri"] is None and result["deleted_records"] == 0
    _check_staged(result, org_count(sf, "SELECT Id FROM Contact", include_deleted=True))


def test_api_param_overrides_the_operator(sf, staging):
    operator = SalesforceBulkExtractOperator(
        task_id="extract", object_name="Contact", high_water_mark_getter=lambda _n: None
    )
    result = run_extract(operator, context("manual__api_rest", api="rest", start="2000-01-01T00:00:00Z"))
    assert result["api"] == "rest"
    _check_staged(result, org_count(sf, "SELECT Id FROM Contact", include_deleted=True))


def test_targeted_ids_are_fetched_in_several_bulk_jobs(sf, staging, monkeypatch):
    ids = [
        row["Id"]
        for row in sf.org.query("SELECT Id FROM Contact", include_deleted=False, api="rest").records()
    ][:30]
    operator = SalesforceBulkExtractOperator(
        task_id="extract", object_name="Contact", ids=ids, poll_interval=0.1
    )
    # A small statement limit forces several jobs, downloaded into one numbered sequence of parts.
    monkeypatch.setattr(extract, "BULK_SOQL_MAX_CHARS", len(build_spec_select(CONTACT)) + 400)
    result = run_extract(operator, context("manual__targeted"))
    assert len(result["job_ids"]) > 1
    assert result["files"] == [f"part-{i:05d}.csv" for i in range(len(result["files"]))]
    _check_staged(result, 30)
    assert result["deleted_uri"] is None


def test_bulk_refusal_falls_back_to_rest(sf, staging, monkeypatch, logs):
    monkeypatch.setitem(registry.REGISTRY, "TaskWhoRelation", TASK_WHO_RELATION)
    operator = SalesforceBulkExtractOperator(
        task_id="extract", object_name="TaskWhoRelation", high_water_mark_getter=lambda _n: None
    )
    result = run_extract(operator, context("manual__fallback"))
    assert result["api"] == "rest"
    text = logs()
    assert "refused the query" in text and "INVALIDENTITY" in text
    _check_staged(result, org_count(sf, "SELECT Id FROM TaskWhoRelation", include_deleted=False))


def test_failed_bulk_job_fails_the_task_naming_object_and_job(private_emulator, private_conn, staging):
    private_emulator.faults.set(bulk_fail_next=1)
    operator = SalesforceBulkExtractOperator(
        task_id="extract",
        object_name="Contact",
        conn_id=private_conn,
        poll_interval=0.1,
        max_split_depth=0,  # no halving: the first failure is final (splitting: tests/reliability)
        high_water_mark_getter=lambda _n: None,
    )
    with pytest.raises(AirflowException, match=r"job 750\w+ for Contact ended failed \(state Failed\)"):
        run_extract(operator, context("manual__failed"))


def test_timed_out_bulk_job_is_aborted(private_emulator, private_conn, staging):
    operator = SalesforceBulkExtractOperator(
        task_id="extract",
        object_name="Contact",
        conn_id=private_conn,
        poll_interval=0.1,
        job_timeout=timedelta(seconds=0.5),
        high_water_mark_getter=lambda _n: None,
    )
    with pytest.raises(AirflowException, match="ended timeout") as err:
        run_extract(operator, context("manual__timeout"))
    job_id = err.value.args[0].split("query job ")[1].split(" ")[0]
    assert SalesforceBulk2Hook(private_conn).get_job(job_id)["state"] == "Aborted"


def test_nearly_spent_api_quota_stops_the_run_before_any_job(sf, staging):
    operator = SalesforceBulkExtractOperator(
        task_id="extract", object_name="Contact", max_api_usage=0.0, high_water_mark_getter=lambda _n: None
    )
    jobs_before = sum(1 for e in sf.audit() if e["method"] == "POST" and "/jobs/query" in e["path"])
    with pytest.raises(
        AirflowException, match=r"DailyApiRequests \d+/15000 remaining .* under the reserve of 100%"
    ):
        run_extract(operator, context("manual__quota"))
    assert sum(1 for e in sf.audit() if e["method"] == "POST" and "/jobs/query" in e["path"]) == jobs_before


def test_on_kill_aborts_the_running_job(private_conn, staging):
    operator = SalesforceBulkExtractOperator(
        task_id="extract", object_name="Contact", conn_id=private_conn, high_water_mark_getter=lambda _n: None
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context("manual__killed"))
    operator.on_kill()
    job_id = deferred.value.trigger.job_id
    assert SalesforceBulk2Hook(private_conn).get_job(job_id)["state"] == "Aborted"


# ---- secrets -----------------------------------------------------------------------------------
def test_no_secret_reaches_the_logs(sf, staging, logs, tmp_path):
    info = sf.connection_info
    hook = SalesforceBulk2Hook(retry=FAST_RETRY)
    token = hook.authenticate().access_token
    sf.faults.set(fail_next=1, expire_sessions_after=2)
    hook.query_to_csv("SELECT Id FROM Contact", ["Id"], out_dir(tmp_path, "x"))
    job = hook.create_query_job("SELECT Id FROM Contact")
    trigger_event(Bulk2QueryJobTrigger(job_id=job["id"], conn_id="salesforce_default", poll_interval=0.1))
    SalesforceApiHook("salesforce_default").test_connection()
    text = logs()
    assert "session expired" in text  # the re-login was logged ...
    for secret in (
        info["client_secret"],
        info["password"],
        info["security_token"],
        token,
        hook._token.access_token,
    ):
        assert secret not in text  # ... without any credential


# ---- in real Airflow ---------------------------------------------------------------------------
DAG_FILE = """
from airflow.sdk import DAG, task

from salesforce_elt.airflow.operators.extract import SalesforceBulkExtractOperator


def no_high_water_mark(_object_name):
    return None


with DAG("salesforce_extract_it", schedule=None, catchup=False) as dag:
    extract = SalesforceBulkExtractOperator(
        task_id="extract", object_name="Contact", poll_interval=0.2, high_water_mark_getter=no_high_water_mark
    )

    @task
    def keep(result: dict) -> None:
        import json, os

        with open(os.environ["EXTRACT_IT_RESULT"], "w") as fh:
            json.dump(result, fh)

    keep(extract.output)
"""


def test_bulk_operator_defers_and_resumes_under_dag_test(sf, airflow_db, staging, tmp_path, monkeypatch):
    """The deferral round trip through Airflow itself: trigger serialized, run, task resumed, XCom."""
    import importlib.util

    from airflow import settings as airflow_settings

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "extract_it.py").write_text(DAG_FILE)
    # dag.test() syncs the DAG from its bundle folder, so the DAG must live in a file there.
    monkeypatch.setattr(airflow_settings, "DAGS_FOLDER", str(dags))
    monkeypatch.setenv("EXTRACT_IT_RESULT", str(tmp_path / "xcom.json"))
    spec = importlib.util.spec_from_file_location("extract_it", dags / "extract_it.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    run = module.dag.test()

    assert run.state == "success"
    result = json.loads((tmp_path / "xcom.json").read_text())
    assert result["api"] == "bulk" and len(result["job_ids"]) == 1
    assert result["raw_uri"].startswith(f"file://{staging}/salesforce_extract_it/")
    _check_staged(result, org_count(sf, "SELECT Id FROM Contact", include_deleted=True))


def test_an_empty_bulk_body_becomes_a_header_only_part(sf, tmp_path):
    """The emulator answers a job without rows with an empty body (empty_bulk_body, on in sf_emulator):
    the hook writes the header itself, so readers still see the columns."""
    assert sf.wire.empty_bulk_body
    hook = SalesforceBulk2Hook()
    job = hook.create_query_job(f"{build_spec_select(CONTACT)} WHERE LastName = 'no such name'", "queryAll")
    assert wait_for_job(hook, job["id"])["state"] == "JobComplete"
    dest = out_dir(tmp_path, "empty")
    files, records = hook.download_results(job["id"], dest, max_records=600, header=CONTACT.soql_fields)
    assert records == 0 and len(files) == 1
    headers, rows = read_parts(dest, files)
    assert headers == [list(CONTACT.soql_fields)] and rows == []
    hook.delete_job(job["id"])
