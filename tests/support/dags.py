"""Sync DAG runs in this process through Airflow's ``dag.test()`` (no scheduler needed)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tests.support.salesforce import wait_for_the_next_second

if TYPE_CHECKING:  # Airflow is imported once AIRFLOW_HOME is set (tests/conftest.py)
    from airflow.sdk import DAG

CONTACT_DAG_ID = "salesforce_sync_contacts"


def run_dag(
    logical_date: datetime | None = None,
    *,
    dag: DAG | str = CONTACT_DAG_ID,
    run_conf: dict | None = None,
    expect: str | None = None,
):
    """One run of ``dag`` (a DAG, or a registry DAG's id: built now, reading the settings as a parse would).

    Retries are off: fail fast here, retries are the scheduler's business. A manual run (no
    ``logical_date``) first lets the current second end (``wait_for_the_next_second``). With
    ``expect``, the run must end in that state. Returns the DagRun.
    """
    if isinstance(dag, str):
        from salesforce_elt.airflow.dag_factory import build_object_dags

        dag = build_object_dags()[dag]
    for task in dag.tasks:
        task.retries = 0
    if logical_date is None:
        wait_for_the_next_second()
    dag_run = dag.test(logical_date=logical_date, run_conf=run_conf)
    if expect is not None:
        assert dag_run.state == expect, f"{dag.dag_id} run {dag_run.run_id} ended {dag_run.state}: {task_states(dag_run)}"
    return dag_run


def task_states(dag_run) -> dict[str, str]:
    """task_id -> state of a finished run."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
