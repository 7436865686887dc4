"""The DAG factory: one DAG per registry table, windowed schedule, params, XCom-linked tasks."""

from __future__ import annotations

import dataclasses

import pytest
from airflow.sdk import CronDataIntervalTimetable

from salesforce_elt import registry
from salesforce_elt.dag_factory import build_object_dags
from salesforce_elt.operators.extract import SalesforceBulkExtractOperator, SalesforceRestExtractOperator
from salesforce_elt.operators.load import PostgresUpsertOperator
from salesforce_elt.operators.transform import SalesforceTransformOperator
from salesforce_elt.registry import CONTACT


def test_contact_dag_shape():
    dags = build_object_dags()
    assert list(dags) == sorted(dags) and "salesforce_sync_contacts" in dags
    dag = dags["salesforce_sync_contacts"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)  # real data intervals, not zero-length
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 * * * *", "UTC")
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert sorted(dag.tags) == ["Contact", "salesforce"]
    assert {k: dag.params[k] for k in dag.params} == {"full_refresh": False, "start": None, "end": None, "api": "auto"}
    assert dag.params.get_param("api").schema["enum"] == ["auto", "bulk", "rest"]
    assert "airflow backfill create --dag-id salesforce_sync_contacts" in dag.doc_md
    extract, transform, load = (dag.get_task(t) for t in ("extract", "transform", "load"))
    assert isinstance(extract, SalesforceBulkExtractOperator) and extract.object_name == "Contact"
    assert isinstance(transform, SalesforceTransformOperator) and isinstance(load, PostgresUpsertOperator)
    assert transform.upstream_task_ids == {"extract"} and load.upstream_task_ids == {"transform"}
    assert (load.owner, load.retries, load.retry_exponential_backoff) == ("data-platform", 2, 2.0)
    assert all(task.doc_md for task in dag.tasks)


@pytest.fixture
def activities_registry():
    """Task (REST) and Event (Bulk) feeding one table, as the activities sync will."""
    task = dataclasses.replace(CONTACT, name="Task", key_prefix="00T", table="sf_activities", api="rest",
                               dag_id="salesforce_sync_activities", constants=(("activity_kind", "task"),))
    event = dataclasses.replace(CONTACT, name="Event", key_prefix="00U", table="sf_activities",
                                dag_id="salesforce_sync_activities", constants=(("activity_kind", "event"),))
    original = dict(registry.REGISTRY)
    registry.REGISTRY.update(Task=task, Event=event)
    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(original)


def test_several_objects_feeding_one_table_share_one_dag(activities_registry):
    dags = build_object_dags()
    assert list(dags) == ["salesforce_sync_activities", "salesforce_sync_contacts"]
    dag = dags["salesforce_sync_activities"]
    assert sorted(t.task_id for t in dag.tasks) == [
        "event.extract", "event.load", "event.transform", "task.extract", "task.load", "task.transform",
    ]
    assert isinstance(dag.get_task("task.extract"), SalesforceRestExtractOperator)
    assert isinstance(dag.get_task("event.extract"), SalesforceBulkExtractOperator)
    assert dag.get_task("task.load").upstream_task_ids == {"task.transform"}
