"""Each target table is an Airflow Asset; a successful load emits an asset event whose extra holds
the run's stats (read back from Airflow's metadata DB through its ORM)."""

from __future__ import annotations

import pytest

from tests.support.airflow_env import connections_to
from tests.support.dags import CONTACT_DAG_ID, run_dag, task_states

pytestmark = pytest.mark.slow

ORG = {"contacts": 120, "seed": 8, "bulk_delay": 0.1}


def test_every_sync_dag_publishes_its_table_as_an_asset():
    from salesforce_elt.airflow.dag_factory import build_object_dags
    from salesforce_elt.airflow.operators.load import PostgresUpsertOperator

    for dag_id, dag in build_object_dags().items():
        loads = [t for t in dag.tasks if isinstance(t, PostgresUpsertOperator)]
        assert loads, dag_id
        for task in loads:
            (asset,) = task.outlets
            assert asset.name.startswith("salesforce.sf_"), (dag_id, asset)
            assert (
                asset.uri
                == f"postgres://salesforce-warehouse:5432/warehouse/salesforce/{asset.name.split('.')[1]}"
            )


def test_the_load_emits_an_asset_event_with_the_run_stats(airflow_db, org, warehouse_db):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with connections_to(org, warehouse_db):
        dag_run = run_dag()
    assert dag_run.state == "success", task_states(dag_run)
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "salesforce.sf_contacts", AssetEvent.source_run_id == dag_run.run_id)
            .all()
        )
        assert len(events) == 1
        event = events[0]
        assert (event.source_dag_id, event.source_task_id) == (CONTACT_DAG_ID, "load")
        extra = event.extra
    assert (
        extra["object"] == "Contact" and extra["table"] == "sf_contacts" and extra["run_id"] == dag_run.run_id
    )
    assert extra["new_records"] == extra["total_processed"] > 100 and extra["errors"] == 0
    assert extra["api"] == "bulk" and extra["window"]["full_refresh"] is True
