"""sync_runs.insert: the one writer of sync_runs rows, for the loader and for monitoring (real Postgres)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from salesforce_elt.engine import sync_runs
from salesforce_elt.ops import monitoring
from tests.support.databases import fresh_database


@pytest.fixture(scope="module")
def database(warehouse_url):
    with fresh_database(warehouse_url, "w_sync_runs") as url:
        yield url


def _rows(url: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM salesforce.sync_runs ORDER BY id")
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]


def test_monitoring_and_the_loader_write_the_same_row_through_one_function(database, monkeypatch):
    monkeypatch.delenv("SALESFORCE_ELT_WAREHOUSE_CONN_ID", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", database)
    started = datetime(2024, 5, 1, 12, tzinfo=UTC)
    keys = {"dag_id": "d", "run_id": "r", "object_name": "Contact", "started_at": started, "api_calls": 3}
    monitoring.record_run("skipped", **keys, error_message="x" * 5000)
    with psycopg.connect(database) as conn:  # the loader's way: inside its own transaction
        row_id = sync_runs.insert(conn, {**keys, "status": "success", "new_records": 7, "seconds_load": 1.5})
    skipped, success = _rows(database)
    assert success["id"] == row_id
    assert skipped["status"] == "skipped" and skipped["error_message"] == "x" * sync_runs.ERROR_LIMIT
    assert (success["status"], success["new_records"], success["seconds_load"]) == ("success", 7, 1.5)
    for row in (skipped, success):
        assert (row["dag_id"], row["run_id"], row["object_name"], row["started_at"], row["api_calls"]) == (
            "d", "r", "Contact", started, 3)
        assert row["finished_at"] >= started
    assert skipped["new_records"] is None and success["error_message"] is None


def test_a_row_rolled_back_with_the_load_leaves_nothing(database):
    before = len(_rows(database))
    with psycopg.connect(database) as conn:
        with pytest.raises(RuntimeError, match="load failed"), conn.transaction():
            sync_runs.insert(conn, {"dag_id": "d", "run_id": "gone", "object_name": "Contact", "status": "success"})
            raise RuntimeError("load failed")
    assert len(_rows(database)) == before


def test_unknown_columns_and_statuses_are_refused_by_name(database):
    with psycopg.connect(database) as conn:
        with pytest.raises(TypeError, match="sync_runs has no column rows_loaded"):
            sync_runs.insert(conn, {"dag_id": "d", "run_id": "r", "object_name": "C", "status": "success",
                                    "rows_loaded": 1})
        with pytest.raises(ValueError, match="sync_runs status 'done' is not one of success, failed, skipped"):
            sync_runs.insert(conn, {"dag_id": "d", "run_id": "r", "object_name": "C", "status": "done"})
