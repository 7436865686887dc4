"""Shared pieces of the every-object and targeted sync tests.

The warehouse is compared field by field with an independent read of the emulator
(tests.support.equality.differences, for every registry object).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from salesforce_elt.engine.registry import REGISTRY, tables
from tests.support.dags import run_dag
from tests.support.equality import differences

ORDER = (
    "salesforce_sync_users",
    "salesforce_sync_contacts",
    "salesforce_sync_activities",
    "salesforce_sync_task_who_relations",
    "salesforce_sync_event_who_relations",
)


def all_differences(url: str, rest) -> list[str]:
    return [problem for spec in REGISTRY.values() for problem in differences(url, rest, spec)]


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every synced table's rows, sync metadata included (a no-op run must not touch anything)."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM salesforce.{table} ORDER BY salesforce_id").fetchall()  # noqa: S608
            for table in tables()
        }


def run_object_dags(logical_date: datetime | None = None) -> None:
    """Every registry DAG once, in make demo's order, each freshly built as a parse would."""
    from salesforce_elt.airflow.dag_factory import build_object_dags

    for dag_id in ORDER:
        run_dag(logical_date, dag=build_object_dags()[dag_id], expect="success")


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
