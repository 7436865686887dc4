"""The DAG factory: one DAG per registry table, windowed schedule, params, XCom-linked tasks."""

from __future__ import annotations

import dataclasses

import pytest
from airflow.sdk import CronDataIntervalTimetable
from airflow.sdk.definitions.mappedoperator import MappedOperator

from salesforce_elt.airflow.dag_factory import build_object_dags, build_targeted_contacts_dag
from salesforce_elt.airflow.operators.discover import (
    SalesforceContactDiscoveryOperator,
    SalesforceIdChunkExtractOperator,
)
from salesforce_elt.airflow.operators.extract import (
    SalesforceBulkExtractOperator,
    SalesforceRestExtractOperator,
)
from salesforce_elt.airflow.operators.load import PostgresUpsertOperator
from salesforce_elt.airflow.operators.relations import SalesforceRelationsExtractOperator
from salesforce_elt.airflow.operators.transform import SalesforceTransformOperator
from salesforce_elt.engine import registry


def test_contact_dag_shape():
    dags = build_object_dags()
    assert list(dags) == sorted(dags) and "salesforce_sync_contacts" in dags
    dag = dags["salesforce_sync_contacts"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)  # real data intervals, not zero-length
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 * * * *", "UTC")
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert sorted(dag.tags) == ["Contact", "salesforce"]
    assert {k: dag.params[k] for k in dag.params} == {
        "full_refresh": False,
        "start": None,
        "end": None,
        "api": "auto",
    }
    assert dag.params.get_param("api").schema["enum"] == ["auto", "bulk", "rest"]
    assert "airflow backfill create --dag-id salesforce_sync_contacts" in dag.doc_md
    extract, transform, load = (dag.get_task(t) for t in ("extract", "transform", "load"))
    assert isinstance(extract, SalesforceBulkExtractOperator) and extract.object_name == "Contact"
    assert isinstance(transform, SalesforceTransformOperator) and isinstance(load, PostgresUpsertOperator)
    assert transform.upstream_task_ids == {"extract"} and load.upstream_task_ids == {"transform"}
    assert (load.owner, load.retries, load.retry_exponential_backoff) == ("data-platform", 2, 2.0)
    assert all(task.doc_md for task in dag.tasks)


def _chain_tasks(dag) -> list[str]:
    # "preflight" (the operating checks) comes before every chain; the chains are what this file tests.
    return sorted(t.task_id for t in dag.tasks if t.task_id != "preflight")


def test_every_object_of_the_original_system_has_its_dag():
    assert list(build_object_dags()) == [
        "salesforce_sync_activities",
        "salesforce_sync_contacts",
        "salesforce_sync_event_who_relations",
        "salesforce_sync_task_who_relations",
        "salesforce_sync_users",
    ]


def test_task_and_event_feed_one_activities_dag():
    dag = build_object_dags()["salesforce_sync_activities"]
    assert _chain_tasks(dag) == [
        "event.extract",
        "event.load",
        "event.transform",
        "task.extract",
        "task.load",
        "task.transform",
    ]
    assert (
        dag.get_task("task.extract").object_name == "Task"
        and dag.get_task("event.extract").object_name == "Event"
    )
    assert isinstance(dag.get_task("task.extract"), SalesforceBulkExtractOperator)
    assert dag.get_task("task.load").upstream_task_ids == {"task.transform"}
    assert sorted(dag.tags) == ["Event", "Task", "salesforce"]


def test_users_are_rest_and_relations_use_the_relations_extract():
    dags = build_object_dags()
    users = dags["salesforce_sync_users"].get_task("extract")
    assert isinstance(users, SalesforceRestExtractOperator) and users.object_name == "User"
    relations = dags["salesforce_sync_task_who_relations"].get_task("extract")
    assert (
        isinstance(relations, SalesforceRelationsExtractOperator)
        and relations.object_name == "TaskWhoRelation"
    )
    assert "TaskId IN" in relations.doc_md


@pytest.fixture
def bulk_task_registry():
    """Task forced to REST, to see the factory follow the registry's api."""
    original = dict(registry.REGISTRY)
    registry.REGISTRY["Task"] = dataclasses.replace(registry.TASK, api="rest")
    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(original)


def test_the_extract_operator_follows_the_registry_api(bulk_task_registry):
    dag = build_object_dags()["salesforce_sync_activities"]
    assert isinstance(dag.get_task("task.extract"), SalesforceRestExtractOperator)
    assert isinstance(dag.get_task("event.extract"), SalesforceBulkExtractOperator)


def test_targeted_contacts_dag_maps_extract_transform_load_over_the_chunks():
    dag = build_targeted_contacts_dag()
    assert dag.dag_id == "salesforce_sync_targeted_contacts"
    assert sorted(t.task_id for t in dag.tasks) == ["discover", "extract", "load", "mark", "transform"]
    discover, extract, transform, load, mark = (
        dag.get_task(t) for t in ("discover", "extract", "transform", "load", "mark")
    )
    assert isinstance(discover, SalesforceContactDiscoveryOperator)
    assert isinstance(extract, MappedOperator) and extract.operator_class is SalesforceIdChunkExtractOperator
    assert isinstance(transform, MappedOperator) and isinstance(load, MappedOperator)
    assert extract.upstream_task_ids == {"discover"} and load.upstream_task_ids == {"transform"}
    assert mark.upstream_task_ids == {"discover", "load"} and mark.trigger_rule == "none_failed"
    assert "api" not in dag.params and dag.params["full_refresh"] is False
