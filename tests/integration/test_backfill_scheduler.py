"""Backfills through the real scheduler: api-server, scheduler, dag-processor and triggerer on
LocalExecutor (Airflow's metadata in its own database on the embedded Postgres).

After the first scheduled run has loaded the table, `airflow backfill create` over three hourly
intervals creates one run per interval, each syncing exactly [interval start - lookback, interval
end); the Bulk extract waits in the triggerer (seen in the `deferred` state); at most one run is
active at a time; re-running the completed intervals changes no row of the table.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from salesforce_elt.engine.registry import CONTACT
from tests.integration.operating_support import rows
from tests.support.airflow_services import running_airflow, services_env
from tests.support.dags import CONTACT_DAG_ID as DAG_ID
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# bulk_delay keeps each Bulk job running long enough to see its task deferred.
ORG = {"contacts": 400, "seed": 21, "bulk_delay": 8}

# Only the Contact DAG is built: DAGs built in a `with` block register themselves when parsed.
DAG_FILE = '''"""Only the Contact sync (this test's airflow DAG folder)."""
from salesforce_elt.airflow.dag_factory import build_dag
from salesforce_elt.engine.registry import tables

salesforce_sync_contacts = build_dag("sf_contacts", tables()["sf_contacts"])
'''


@pytest.fixture(scope="module")
def services(warehouse_url, org, warehouse_db, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_services")
    (home / "dags").mkdir()
    (home / "dags" / "salesforce_contacts.py").write_text(DAG_FILE)
    with running_airflow(
        warehouse_url, home, dags_folder=home / "dags", extra_env=services_env(org, warehouse_db, home)
    ) as (airflow, meta):
        yield airflow, meta


def dag_runs(meta: str, run_type: str) -> list[dict]:
    return rows(
        meta,
        "SELECT run_id, state, data_interval_start, data_interval_end, backfill_id FROM dag_run "
        "WHERE dag_id = %s AND run_type = %s ORDER BY data_interval_start",
        (DAG_ID, run_type),
    )


def snapshot(warehouse_db: str) -> list[tuple]:
    with psycopg.connect(warehouse_db) as conn:
        return conn.execute("SELECT * FROM salesforce.sf_contacts ORDER BY salesforce_id").fetchall()


def run_backfill(airflow, meta: str, start, end, *extra: str) -> tuple[list[dict], set[str], int]:
    """Create a backfill and wait for it; returns its runs, the extract states seen, the most runs active at once."""
    before = {r["backfill_id"] for r in dag_runs(meta, "backfill")}
    airflow.airflow(
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        start.isoformat(),
        "--to-date",
        end.isoformat(),
        "--max-active-runs",
        "1",
        *extra,
    )
    seen: set[str] = set()
    most_active = 0

    def finished():
        nonlocal most_active
        runs = [r for r in dag_runs(meta, "backfill") if r["backfill_id"] not in before]
        most_active = max(most_active, sum(r["state"] == "running" for r in runs))
        states = rows(
            meta,
            "SELECT ti.state FROM task_instance ti JOIN dag_run r USING (dag_id, run_id) "
            "WHERE ti.dag_id = %s AND ti.task_id = 'extract' AND r.run_type = 'backfill'",
            (DAG_ID,),
        )
        seen.update(s["state"] for s in states if s["state"])
        return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = wait_for("the backfill runs", finished, timeout=900, interval=0.5)
    # The scheduler closes a backfill a loop after its last run ends; Airflow refuses a second
    # backfill of the DAG while one is open.
    wait_for(
        "the backfill to be marked complete",
        lambda: not rows(meta, "SELECT id FROM backfill WHERE dag_id = %s AND completed_at IS NULL", (DAG_ID,)),
        timeout=120,
        interval=0.5,
    )
    return runs, seen, most_active


def test_backfill_runs_each_interval_once_exactly_its_window_and_repeats_change_nothing(services, warehouse_db):
    airflow, meta = services
    # The first scheduled run (catchup off: the latest interval) finds no high-water mark: full load.
    wait_for(
        "the first scheduled run",
        lambda: any(r["state"] == "success" for r in dag_runs(meta, "scheduled")),
        timeout=600,
        interval=2,
    )
    assert rows(warehouse_db, "SELECT count(*) AS n FROM salesforce.sf_contacts")[0]["n"] > 300

    # Three hourly intervals where the org has records (the seed spreads SystemModstamp over days).
    (busiest,) = rows(
        warehouse_db,
        "SELECT date_trunc('hour', sf_system_modstamp) AS hour FROM salesforce.sf_contacts "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    first = busiest["hour"] - timedelta(hours=1)
    last = first + timedelta(hours=2)
    before = snapshot(warehouse_db)

    runs, extract_states, most_active = run_backfill(airflow, meta, first, last)
    assert [r["data_interval_start"] for r in runs] == [first, first + timedelta(hours=1), last]
    assert all(r["state"] == "success" for r in runs), runs
    assert "deferred" in extract_states  # the Bulk job was waited for in the triggerer
    assert most_active == 1
    for run in runs:
        (sync,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (run["run_id"],))
        assert sync["status"] == "success" and sync["api"] == "bulk"
        assert (sync["window_start"], sync["window_end"]) == (
            run["data_interval_start"] - CONTACT.lookback,
            run["data_interval_end"],
        )
        (expected,) = rows(
            warehouse_db,
            "SELECT count(*) AS n FROM salesforce.sf_contacts WHERE sf_system_modstamp >= %s "
            "AND sf_system_modstamp < %s",
            (sync["window_start"], sync["window_end"]),
        )
        assert sync["rows_extracted"] == expected["n"]
        assert (sync["new_records"], sync["updated_records"]) == (0, 0)
    assert (
        sum(
            rows(
                warehouse_db, "SELECT rows_extracted FROM salesforce.sync_runs WHERE run_id = %s", (runs[1]["run_id"],)
            )[0].values()
        )
        > 0
    )  # the busiest hour really had records
    assert snapshot(warehouse_db) == before  # re-reading loaded rows rewrites none of them

    (last_id,) = rows(warehouse_db, "SELECT max(id) AS id FROM salesforce.sync_runs")
    again, _, _ = run_backfill(airflow, meta, first, last, "--reprocess-behavior", "completed")
    assert [r["data_interval_start"] for r in again] == [r["data_interval_start"] for r in runs]
    assert all(r["state"] == "success" for r in again)
    windows = rows(
        warehouse_db,
        "SELECT window_start, window_end, new_records, updated_records, deleted_records "
        "FROM salesforce.sync_runs WHERE run_id = ANY(%s) AND id > %s ORDER BY window_start",
        ([r["run_id"] for r in again], last_id["id"]),
    )
    assert [(w["window_start"], w["window_end"]) for w in windows] == [
        (r["data_interval_start"] - CONTACT.lookback, r["data_interval_end"]) for r in runs
    ]
    assert all((w["new_records"], w["updated_records"], w["deleted_records"]) == (0, 0, 0) for w in windows)
    assert snapshot(warehouse_db) == before
