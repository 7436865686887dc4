"""Shared pieces of the operating tests (monitoring, budget, alerts, preflight, assets).

Each test module gets its own emulated org and its own migrated warehouse database, because
they change the org (faults, limits, mutations) and read monitoring tables row for row.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from embedded_stack.connections import postgres_connection, salesforce_connection

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "salesforce_sync_contacts"


def migrate(url: str, revision: str = "head") -> None:
    config = Config(str(REPO / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


@contextmanager
def fresh_database(server_url: str, prefix: str, revision: str | None = "head"):
    """A new database on the test server (migrated to ``revision`` unless None); dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if revision:
        migrate(url, revision)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def connections_to(org, warehouse_url: str, **extra_env: str):
    """AIRFLOW_CONN_* (and any extra settings) for this process while the block runs.

    ``org``: an EmulatorServer, or a connection-info dict (e.g. one with wrong credentials).
    """
    mp = pytest.MonkeyPatch()
    info = getattr(org, "connection_info", org)
    mp.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(info))
    mp.setenv("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", postgres_connection(warehouse_url))
    mp.setenv("SALESFORCE_ELT_WAREHOUSE_URL", warehouse_url)
    for key, value in extra_env.items():
        mp.setenv(key, value)
    try:
        yield mp
    finally:
        mp.undo()


def run_dag(logical_date: datetime | None = None, run_conf: dict | None = None, dag_id: str = DAG_ID):
    """One run through dag.test() on a freshly built DAG (reads the settings at build time, as a parse would)."""
    from salesforce_elt.dag_factory import build_object_dags

    dag = build_object_dags()[dag_id]
    for task in dag.tasks:
        task.retries = 0  # fail fast here; retries are the scheduler's business
    return dag.test(logical_date=logical_date, run_conf=run_conf)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def rows(url: str, query: str, params: tuple | dict = ()) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]
