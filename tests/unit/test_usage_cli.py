"""`python -m salesforce_elt usage`: the summary of sync_runs and api_call_log (real Postgres)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from embedded_stack.connections import salesforce_connection
from tests.integration.operating_support import fresh_database
from tests.support.cli import run_cli

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def db(warehouse_url):
    with fresh_database(warehouse_url, "w_usage") as url:
        with psycopg.connect(url) as conn:
            runs = [  # (object, status, rows, seconds extract/transform/load, age, error)
                ("Contact", "success", 1000, (5.0, 1.0, 2.0), timedelta(hours=1), None),
                ("Contact", "success", 10, (50.0, 0.5, 0.5), timedelta(hours=2), None),
                (
                    "Contact",
                    "failed",
                    None,
                    (None, None, None),
                    timedelta(hours=3),
                    "extract: SalesforceApiError: boom",
                ),
                (
                    "User",
                    "skipped",
                    None,
                    (None, None, None),
                    timedelta(hours=4),
                    "User: not starting to extract",
                ),
                ("Contact", "success", 99, (1.0, 1.0, 1.0), timedelta(days=30), None),  # outside --days 7
            ]
            for i, (obj, status, extracted, (ext, tra, loa), age, error) in enumerate(runs):
                conn.execute(
                    "INSERT INTO salesforce.sync_runs (dag_id, run_id, object_name, status, rows_extracted,"
                    " new_records, seconds_extract, seconds_transform, seconds_load, api_calls, api_usage_after,"
                    " error_message, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        f"dag_{obj}",
                        f"run_{i}",
                        obj,
                        status,
                        extracted,
                        extracted,
                        ext,
                        tra,
                        loa,
                        3,
                        "100/15000",
                        error,
                        NOW - age,
                    ),
                )
            calls = [
                (timedelta(hours=1), "Contact", 200),
                (timedelta(hours=1), "Contact", 503),
                (timedelta(days=1, hours=1), "User", 200),
                (timedelta(minutes=5), "Contact", 200),
            ]
            for age, obj, status in calls:
                conn.execute(
                    "INSERT INTO salesforce.api_call_log (called_at, dag_id, run_id, task_id, object_name, method,"
                    " path, status, latency_ms, api_usage) VALUES (%s, 'd', 'r', 'extract', %s, 'GET',"
                    " '/services/data/v59.0/limits', %s, 40, %s)",
                    (NOW - age, obj, status, "1200/15000" if age == timedelta(minutes=5) else "900/15000"),
                )
        yield url


def usage(db: str, *args: str, conn_env: str | None = None) -> subprocess.CompletedProcess:
    env = {"SALESFORCE_ELT_WAREHOUSE_URL": db, "AIRFLOW_CONN_SALESFORCE_DEFAULT": conn_env or None}
    return run_cli("usage", *args, env=env, timeout=120)


def test_json_summary_counts_calls_runs_failures_and_budget(db):
    result = usage(db, "--json", "--offline")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    per_object = {}
    for row in summary["calls_per_day"]:
        per_object[row["object_name"]] = per_object.get(row["object_name"], 0) + row["calls"]
    assert per_object == {"Contact": 3, "User": 1}
    assert sum(r["errors"] for r in summary["calls_per_day"]) == 1
    runs = {r["object_name"]: r for r in summary["runs"]}
    assert (runs["Contact"]["runs"], runs["Contact"]["succeeded"], runs["Contact"]["failed"]) == (3, 2, 1)
    assert runs["Contact"]["avg_rows_extracted"] == 505 and runs["User"]["skipped"] == 1
    assert [f["status"] for f in summary["failures"]] == ["failed", "skipped"]
    assert summary["failures"][0]["error_message"] == "extract: SalesforceApiError: boom"
    assert [s["run_id"] for s in summary["slowest_runs"]] == ["run_1", "run_0"]  # 51 s, then 8 s
    budget = summary["budget"]
    assert budget["source"].startswith("last recorded usage")
    assert budget["limits"] == {"DailyApiRequests": {"max": 15000, "remaining": 13800}}


def test_text_summary_is_readable(db):
    result = usage(db, "--days", "7", "--offline")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for title in (
        "API calls per day and object (last 7 days)",
        "Runs per object",
        "Failures and skips",
        "Slowest successful runs",
        "Remaining daily API budget",
    ):
        assert title in out
    assert "DailyApiRequests: 13800/15000 remaining, 10800 usable by the sync" in out


def test_live_budget_comes_from_limits_when_salesforce_answers(db, sf_emulator):
    result = usage(db, "--json", conn_env=salesforce_connection(sf_emulator.connection_info))
    assert result.returncode == 0, result.stderr
    budget = json.loads(result.stdout)["budget"]
    assert budget["source"] == "live /limits"
    assert set(budget["limits"]) == {"DailyApiRequests", "DailyBulkV2QueryJobs"}
    assert budget["limits"]["DailyApiRequests"]["max"] == 15000


def test_a_missing_warehouse_is_one_line(tmp_path):
    result = usage("postgresql://nobody@127.0.0.1:1/none", "--offline")
    assert result.returncode == 2
    assert result.stderr.startswith("error: warehouse unreachable:") and "Traceback" not in result.stderr
