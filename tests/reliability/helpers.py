"""Helpers of the reliability suite: databases, the pipeline driven as a worker runs it, the oracle.

``assert_table_equals_emulator`` compares the warehouse table field by field with an independent
REST queryAll of the emulator (tests.support.equality), never with the pipeline's own files.
``run_pipeline`` drives the real operators (extract with its Bulk deferral round trip, transform,
load) with a minimal task context, which is what a worker runs. The shared pieces live in
tests/support; the names the test modules import from here are re-exported ("x as x").
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import sqlalchemy as sa

from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_elt.airflow.operators.extract import (
    SalesforceBulkExtractOperator,
    SalesforceRestExtractOperator,
)
from salesforce_elt.airflow.operators.load import PostgresUpsertOperator
from salesforce_elt.airflow.operators.transform import SalesforceTransformOperator
from salesforce_elt.engine.registry import CONTACT
from salesforce_emulator.server import EmulatorServer
from tests.support import equality
from tests.support.databases import REPO
from tests.support.databases import create_database as create_database  # "x as x": re-exported
from tests.support.databases import drop_database as drop_database
from tests.support.deferral import run_extract as run_extract
from tests.support.deferral import trigger_event as trigger_event
from tests.support.salesforce import rest_session

DAG_ID = "salesforce_sync_contacts"
TABLE = "salesforce.sf_contacts"
# More than one REST page (2,000 records) so faults can land in the middle of paging.
ORG_CONTACTS = 2300
# The hooks' retry policy in this suite: same bounds logic, millisecond backoff.
MAX_RETRIES = 4
FAST_RETRY = RetryPolicy(max_retries=MAX_RETRIES, backoff_base=0.02, backoff_max=0.1)


def reset_warehouse(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLE}, salesforce.sync_state, salesforce.sync_runs")


# ---- the pipeline, driven as a worker does -------------------------------------------------------
def task_context(run_id: str, task_id: str, try_number: int = 1, **params: Any) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=DAG_ID, run_id=run_id, task_id=task_id, map_index=-1, try_number=try_number)
    return {
        "ti": ti,
        "run_id": run_id,
        "params": params,
        "dag": SimpleNamespace(dag_id=DAG_ID),
        "dag_run": SimpleNamespace(run_type="manual", start_date=datetime.now(UTC)),
    }


def extract_operator(api: str = "bulk", **kwargs: Any):
    cls = SalesforceBulkExtractOperator if api == "bulk" else SalesforceRestExtractOperator
    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("object_name", "Contact")
    return cls(task_id="extract", **kwargs)


def run_pipeline(
    run_id: str, *, api: str = "bulk", try_number: int = 1, extract_kwargs: dict | None = None, **params: Any
) -> dict[str, Any]:
    """extract -> transform -> load for one run; returns the load task's XCom."""
    extracted = run_extract(
        extract_operator(api, **(extract_kwargs or {})), task_context(run_id, "extract", try_number, **params)
    )
    transformed = transform(extracted, run_id, try_number)
    return load_task(transformed, run_id, try_number)


def transform(extracted: dict[str, Any], run_id: str, try_number: int = 1) -> dict[str, Any]:
    operator = SalesforceTransformOperator(task_id="transform", extract=extracted)
    return operator.execute(task_context(run_id, "transform", try_number))


def load_task(transformed: dict[str, Any], run_id: str, try_number: int = 1) -> dict[str, Any]:
    operator = PostgresUpsertOperator(task_id="load", transformed=transformed)
    return operator.execute(task_context(run_id, "load", try_number))


# ---- the oracle ------------------------------------------------------------------------------------
def warehouse_rows(url: str) -> dict[str, dict]:
    return equality.warehouse_rows(url, CONTACT)


def assert_table_equals_emulator(url: str, org: EmulatorServer) -> None:
    """The warehouse table equals the org, field by field (faults cleared first: this reader is not under test)."""
    org.faults.clear()
    with rest_session(org) as rest:
        equality.assert_table_equals(url, rest, CONTACT)


def table_snapshot(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT * FROM {TABLE} ORDER BY salesforce_id").fetchall()  # noqa: S608


def sync_runs(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT status, error_message FROM salesforce.sync_runs ORDER BY id").fetchall()


# ---- evidence from the emulator and the logs --------------------------------------------------------
def api_entries(org: EmulatorServer) -> list[dict]:
    """The audit log's counted API calls (what the pipeline asked of the org), oldest first."""
    return [e for e in org.audit() if e["kind"] == "api"]


# ---- loads in other processes (SIGKILL, concurrency) --------------------------------------------------
def repeated_batch(transformed: dict[str, Any], copies: int, dest: Path) -> dict[str, Any]:
    """The transform's XCom for a batch holding every typed row ``copies`` times.

    A legitimate batch (the upsert keeps one row per key), only large enough that its COPY runs
    long enough to be caught in pg_stat_activity.
    """
    typed = Path(transformed["typed_uri"].removeprefix("file://"))
    dest.mkdir(parents=True, exist_ok=True)
    with (dest / "part-00000.csv").open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(transformed["columns"]) + "\n")
        bodies = []
        for name in transformed["typed_files"]:
            lines = (typed / name).read_text(encoding="utf-8").split("\n", 1)[1]
            bodies.append(lines if lines.endswith("\n") or not lines else lines + "\n")
        body = "".join(bodies)
        for _ in range(copies):
            out.write(body)
    return {
        **transformed,
        "typed_uri": f"file://{dest}",
        "typed_files": ["part-00000.csv"],
        "rows": transformed["rows"] * copies,
    }


# The load function in a worker process of its own, without Airflow's import cost: the same
# LoadRequest the load operator builds from the transform's XCom, on the warehouse URL.
_CHILD_LOAD = """
import json, sys
from datetime import datetime
from pathlib import Path
from salesforce_elt.engine import load, warehouse
from salesforce_elt.engine.registry import get_object

xcom, run_id = json.loads(sys.argv[1]), sys.argv[2]
window = xcom["window"]
request = load.LoadRequest(
    spec=get_object(xcom["object"]),
    typed_dir=Path(xcom["typed_uri"].removeprefix("file://")),
    typed_files=xcom["typed_files"],
    columns=xcom["columns"],
    expected_rows=xcom["rows"],
    sync_run_id=run_id,
    window_end=datetime.fromisoformat(window["end"]) if window.get("end") else None,
    reconcile_missing=bool(window.get("full_refresh") and window.get("query_all")),
    run={"dag_id": "salesforce_sync_contacts", "api": xcom["api"], "rows_extracted": xcom["records"]},
)
with warehouse.connect() as conn:
    print(load.load(conn, request))
"""


def start_child_load(transformed: dict[str, Any], run_id: str) -> subprocess.Popen:
    """``load.load`` for the transform's XCom in a child process, on SALESFORCE_ELT_WAREHOUSE_URL."""
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD_LOAD, json.dumps(transformed), run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )


def start_child_extract(run_id: str, api: str, try_number: int = 1) -> subprocess.Popen:
    code = (
        "import sys; from tests.reliability.helpers import extract_operator, run_extract, task_context; "
        "run_extract(extract_operator(sys.argv[1]), task_context(sys.argv[2], 'extract', int(sys.argv[3])))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, api, run_id, str(try_number)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )


def copy_in_progress(url: str) -> int | None:
    """The pid of a backend running the loader's COPY into its temp table, if any."""
    database = sa.make_url(url).database
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
            "AND query ILIKE 'COPY %%_stage_%%' AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return row[0] if row else None


def advisory_waiters(url: str) -> int:
    """Sessions waiting for an advisory lock (the loader's per-table lock)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()[0]


def backends_gone(url: str, pid: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 0


def high_water_marks(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT object_name, high_water_mark FROM salesforce.sync_state").fetchall()
