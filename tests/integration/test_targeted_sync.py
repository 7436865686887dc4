"""The targeted contact sync end to end: REST discovery -> one Bulk 2.0 job per id chunk -> upsert.

The org is this module's own (its audit log counts the Bulk jobs). The expected contacts are
computed independently with simple-salesforce: people of live activities changed in the window
(Task/Event WhoId, every TaskWhoRelation/EventWhoRelation RelationId of those activities) and of
relations changed in the window (a contact added to an activity does not bump it in the emulator),
with the Contact prefix 003. Discovery never sends a Task/Event semi-join: the emulator refuses
those as Salesforce does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from salesforce_elt.engine import targeted
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.soql import soql_datetime
from tests.integration.objects_support import query
from tests.support.dags import run_dag, task_states
from tests.support.equality import expected, salesforce_records, warehouse_rows

pytestmark = pytest.mark.slow

SOQL_MAX_CHARS = len(targeted.contact_select_prefix()) + 3_000  # ~140 ids per chunk: several Bulk jobs
INLINE_MAX_IDS = 100  # larger discoveries go through staged chunk files

ORG = {"contacts": int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "1500")), "seed": 31, "bulk_delay": 0.2}


def targeted_dag(**kwargs):
    from salesforce_elt.airflow.dag_factory import build_targeted_contacts_dag

    return build_targeted_contacts_dag(soql_max_chars=SOQL_MAX_CHARS, inline_max_ids=INLINE_MAX_IDS, **kwargs)


def people_with_activity(rest, start: datetime | None, end: datetime) -> set[str]:
    window = f"SystemModstamp < {soql_datetime(end)}"
    if start is not None:
        window = f"SystemModstamp >= {soql_datetime(start)} AND {window}"
    ids: set[str] = set()
    for name in ("Task", "Event"):
        ids |= {r["WhoId"] for r in rest.query_all_iter(f"SELECT WhoId FROM {name} WHERE {window}")}
    for relation, parent, field in (("TaskWhoRelation", "Task", "TaskId"), ("EventWhoRelation", "Event", "EventId")):
        activities = {r["Id"] for r in rest.query_all_iter(f"SELECT Id FROM {parent} WHERE {window}")}
        ids |= {
            r["RelationId"]
            for r in rest.query_all_iter(f"SELECT {field}, RelationId FROM {relation}")
            if r[field] in activities
        }
        ids |= {r["RelationId"] for r in rest.query_all_iter(f"SELECT RelationId FROM {relation} WHERE {window}")}
    return {i for i in ids if i and i.startswith("003")}


def contact_rows(url: str) -> dict[str, dict]:
    return warehouse_rows(url, CONTACT)


def contact_differences(url: str, rest, ids: set[str]) -> list[str]:
    rows, problems = contact_rows(url), []
    for record in salesforce_records(rest, CONTACT).values():
        if record["Id"] not in ids:
            continue
        row = rows.get(record["Id"], {})
        for f in CONTACT.fields:
            if expected(f.sf_type, record[f.sf_name]) != row.get(f.column):
                problems.append(
                    f"{record['Id']}.{f.column}: Salesforce {record[f.sf_name]!r}, warehouse {row.get(f.column)!r}"
                )
    return problems[:20]


def bulk_jobs_created(org) -> int:
    return sum(1 for e in org.audit() if e["method"] == "POST" and e["path"].endswith("/jobs/query"))


def marks(url: str) -> dict[str, datetime]:
    return dict(query(url, "SELECT object_name, high_water_mark FROM salesforce.sync_state"))


def test_first_run_fetches_exactly_the_contacts_with_activity_one_bulk_job_per_chunk(
    sync_env, warehouse_db, rest, org
):
    org.reset_audit()
    dag_run = run_dag(dag=targeted_dag(), expect="success")
    expected_ids = people_with_activity(rest, None, datetime.now(UTC))
    chunks = list(targeted.chunk_ids(sorted(expected_ids), SOQL_MAX_CHARS))
    assert len(expected_ids) > INLINE_MAX_IDS and len(chunks) >= 3
    assert set(contact_rows(warehouse_db)) == expected_ids  # exactly those, no others
    assert bulk_jobs_created(org) == len(chunks)
    assert contact_differences(warehouse_db, rest, expected_ids) == []
    loads = query(
        warehouse_db,
        "SELECT count(*), sum(rows_extracted), sum(new_records) FROM salesforce.sync_runs WHERE run_id = %s",
        (dag_run.run_id,),
    )[0]
    assert loads == (len(chunks), len(expected_ids), len(expected_ids))
    assert set(marks(warehouse_db)) == {targeted.MARK_NAME}  # the Contact DAG's own mark is untouched


def test_a_window_run_fetches_only_contacts_of_new_activity(sync_env, warehouse_db, rest, org):
    mark = marks(warehouse_db)[targeted.MARK_NAME]
    org.org.mutate("Task", create=12)
    added = org.org.mutate("TaskWhoRelation", create=5)["created"] + org.org.mutate("EventWhoRelation", create=4)["created"]
    org.org.mutate("Event", update=6)
    updated = set(org.org.mutate("Contact", update=300)["updated"])
    org.reset_audit()
    dag_run = run_dag(dag=targeted_dag(), expect="success")
    expected_ids = people_with_activity(rest, mark - CONTACT.lookback, datetime.now(UTC))
    assert expected_ids and len(expected_ids) <= INLINE_MAX_IDS  # this discovery travels inline
    assert bulk_jobs_created(org) == len(list(targeted.chunk_ids(expected_ids, SOQL_MAX_CHARS))) == 1
    extracted = query(
        warehouse_db,
        "SELECT sum(rows_extracted) FROM salesforce.sync_runs WHERE run_id = %s",
        (dag_run.run_id,),
    )[0][0]
    assert extracted == len(expected_ids)
    assert contact_differences(warehouse_db, rest, expected_ids) == []
    # Contacts just added to activities (their activity's stamp untouched) were fetched too.
    listed = ",".join(f"'{i}'" for i in added)
    added_people = {
        r["RelationId"]
        for relation in ("TaskWhoRelation", "EventWhoRelation")
        for r in rest.query_all_iter(f"SELECT RelationId FROM {relation} WHERE Id IN ({listed})")  # noqa: S608
    }
    assert added_people <= expected_ids and added_people <= set(contact_rows(warehouse_db))
    assert contact_differences(warehouse_db, rest, added_people) == []
    # Updated contacts without activity in the window were not fetched: the warehouse keeps them stale.
    untouched = (updated - expected_ids) & set(contact_rows(warehouse_db))
    assert untouched and contact_differences(warehouse_db, rest, untouched)
    assert marks(warehouse_db)[targeted.MARK_NAME] > mark


def test_an_empty_discovery_skips_the_fetch_and_succeeds(sync_env, warehouse_db, org):
    org.reset_audit()
    before = marks(warehouse_db)[targeted.MARK_NAME]
    dag_run = run_dag(
        datetime.now(UTC) - timedelta(days=1),
        dag=targeted_dag(),
        run_conf={"start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00Z"},
    )
    assert dag_run.state == "success"
    states = task_states(dag_run)
    assert states["discover"] == states["mark"] == "success"
    assert bulk_jobs_created(org) == 0
    assert marks(warehouse_db)[targeted.MARK_NAME] == before
