"""Shared pieces of the operating tests (monitoring, budget, alerts, preflight, assets).

Each test module gets its own emulated org and its own migrated warehouse database, because
they change the org (faults, limits, mutations) and read monitoring tables row for row.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg

from tests.support.airflow_env import connections_to as connections_to
from tests.support.databases import fresh_database as fresh_database
from tests.support.databases import migrate as migrate
from tests.support.salesforce import wait_for_the_next_second

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "salesforce_sync_contacts"


def run_dag(logical_date: datetime | None = None, run_conf: dict | None = None, dag_id: str = DAG_ID):
    """One run through dag.test() on a freshly built DAG (reads the settings at build time, as a parse would)."""
    from salesforce_elt.dag_factory import build_object_dags

    dag = build_object_dags()[dag_id]
    for task in dag.tasks:
        task.retries = 0  # fail fast here; retries are the scheduler's business
    if logical_date is None:
        wait_for_the_next_second()
    return dag.test(logical_date=logical_date, run_conf=run_conf)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def rows(url: str, query: str, params: tuple | dict = ()) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]
