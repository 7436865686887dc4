"""Every object end to end: users, contacts, activities, task and event who relations.

Real emulator over HTTPS, real Postgres, dag.test(). Each table is compared field by field with an
independent REST read of the org (tests.support.equality.differences) after a first load, after a second
run that must change nothing, and after mutations of every object.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.objects_support import all_differences, query, run_object_dags, snapshot
from tests.support.salesforce import wait_for_the_next_minute

pytestmark = pytest.mark.slow

ORG = {"contacts": int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "1500")), "seed": 23, "bulk_delay": 0.2}


@pytest.fixture(scope="module")
def synced(sync_env):
    """Connections to this module's org and database, and a first run of every DAG."""
    run_object_dags(datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))


def last_runs(url: str) -> dict[str, tuple]:
    """object -> (status, new, updated, deleted) of its newest sync_runs row."""
    rows = query(
        url,
        "SELECT DISTINCT ON (object_name) object_name, status, new_records, updated_records, deleted_records, api "
        "FROM salesforce.sync_runs ORDER BY object_name, id DESC",
    )
    return {r[0]: r[1:] for r in rows}


def test_first_load_equals_the_org(synced, warehouse_db, rest, org):
    assert all_differences(warehouse_db, rest) == []
    runs = last_runs(warehouse_db)
    assert {name: (r[0], r[4]) for name, r in runs.items()} == {
        "Contact": ("success", "bulk"),
        "Event": ("success", "bulk"),
        "EventWhoRelation": ("success", "rest"),
        "Task": ("success", "bulk"),
        "TaskWhoRelation": ("success", "rest"),
        "User": ("success", "rest"),
    }
    counts = {
        c["name"]: c["count"]
        for c in org.org.record_counts(["User", "Task", "Event", "TaskWhoRelation", "EventWhoRelation"])
    }
    live = dict(
        query(
            warehouse_db,
            "SELECT 'Task', count(*) FROM salesforce.sf_activities WHERE activity_kind = 'task' "
            "AND NOT is_deleted AND NOT is_archived UNION ALL "
            "SELECT 'Event', count(*) FROM salesforce.sf_activities WHERE activity_kind = 'event' "
            "AND NOT is_deleted AND NOT is_archived UNION ALL "
            "SELECT 'TaskWhoRelation', count(*) FROM salesforce.sf_task_who_relations WHERE NOT is_deleted "
            "UNION ALL SELECT 'EventWhoRelation', count(*) FROM salesforce.sf_event_who_relations "
            "WHERE NOT is_deleted UNION ALL SELECT 'User', count(*) FROM salesforce.sf_users",
        )
    )
    assert live == counts and all(counts.values())


def test_the_org_has_the_hard_cases_and_the_view_reaches_them(synced, warehouse_db):
    (lead_activities,) = query(
        warehouse_db, "SELECT count(*) FROM salesforce.sf_activities WHERE left(who_id, 3) = '00Q'"
    )[0]
    (archived, deleted) = query(
        warehouse_db,
        "SELECT count(*) FILTER (WHERE is_archived), count(*) FILTER (WHERE is_deleted) FROM salesforce.sf_activities",
    )[0]
    assert lead_activities > 0 and archived > 0 and deleted > 0
    # Contacts reached only through a TaskWhoRelation or EventWhoRelation (never any activity's WhoId).
    only_related = query(
        warehouse_db,
        "SELECT DISTINCT v.activity_kind FROM salesforce.v_contact_activities AS v "
        "WHERE v.linked_through = 'relation' AND NOT EXISTS "
        "(SELECT 1 FROM salesforce.sf_activities AS a WHERE a.who_id = v.contact_id)",
    )
    assert {kind for (kind,) in only_related} == {"task", "event"}
    (events_with_several,) = query(
        warehouse_db,
        "SELECT count(*) FROM (SELECT event_id FROM salesforce.sf_event_who_relations WHERE NOT is_deleted "
        "GROUP BY event_id HAVING count(*) > 1) AS x",
    )[0]
    assert events_with_several > 0
    # The view: exactly the live activities per contact, each pair once.
    (pairs, distinct_pairs) = query(
        warehouse_db,
        "SELECT count(*), count(DISTINCT (contact_id, activity_id)) FROM salesforce.v_contact_activities",
    )[0]
    (expected,) = query(
        warehouse_db,
        "SELECT count(*) FROM (SELECT a.who_id, a.salesforce_id FROM salesforce.sf_activities a "
        "WHERE NOT a.is_deleted AND left(a.who_id, 3) = '003' UNION "
        "SELECT r.relation_id, r.task_id FROM salesforce.sf_task_who_relations r "
        "JOIN salesforce.sf_activities a ON a.salesforce_id = r.task_id "
        "WHERE NOT r.is_deleted AND NOT a.is_deleted AND left(r.relation_id, 3) = '003' UNION "
        "SELECT r.relation_id, r.event_id FROM salesforce.sf_event_who_relations r "
        "JOIN salesforce.sf_activities a ON a.salesforce_id = r.event_id "
        "WHERE NOT r.is_deleted AND NOT a.is_deleted AND left(r.relation_id, 3) = '003') AS x",
    )[0]
    assert pairs == distinct_pairs == expected > 0
    kinds = dict(
        query(warehouse_db, "SELECT activity_type, count(*) FROM salesforce.sf_activities GROUP BY 1")
    )
    assert set(kinds) == {"call", "email", "meeting", "task", "other"}


def test_a_second_run_changes_nothing(synced, warehouse_db):
    before = snapshot(warehouse_db)
    run_object_dags()
    assert {name: r[1:4] for name, r in last_runs(warehouse_db).items()} == {
        name: (0, 0, 0) for name in ("Contact", "Event", "EventWhoRelation", "Task", "TaskWhoRelation", "User")
    }
    assert snapshot(warehouse_db) == before


def test_mutations_of_every_object_are_mirrored_by_one_more_run(synced, warehouse_db, rest, org):
    changes = {
        "Contact": {"update": 30, "create": 10, "delete": 4, "hard_delete": 3, "late_share": 0.3},
        "User": {"update": 4, "create": 2, "delete": 2},  # delete = deactivate
        "Task": {"update": 30, "create": 15, "delete": 5, "hard_delete": 3, "late_share": 0.3},
        "Event": {"update": 20, "create": 8, "delete": 3, "hard_delete": 2},
        "TaskWhoRelation": {"create": 10, "delete": 6},
        "EventWhoRelation": {"create": 8, "delete": 5},
    }
    loaded_relations = {
        r[0]
        for r in query(
            warehouse_db,
            "SELECT salesforce_id FROM salesforce.sf_task_who_relations UNION ALL "
            "SELECT salesforce_id FROM salesforce.sf_event_who_relations",
        )
    }
    results = {name: org.org.mutate(name, **counts) for name, counts in changes.items()}
    assert results["TaskWhoRelation"]["deleted"] and results["EventWhoRelation"]["deleted"]
    assert results["User"]["deactivated"]
    wait_for_the_next_minute()
    run_object_dags()
    assert all_differences(warehouse_db, rest) == []
    # Removed relations that had been loaded are flagged (one created and removed between runs never was).
    removed = set(results["TaskWhoRelation"]["deleted"] + results["EventWhoRelation"]["deleted"]) & loaded_relations
    flagged = query(
        warehouse_db,
        "SELECT salesforce_id FROM salesforce.sf_task_who_relations WHERE is_deleted AND sf_deleted_at IS NOT NULL "
        "AND salesforce_id = ANY(%s) UNION ALL SELECT salesforce_id FROM salesforce.sf_event_who_relations "
        "WHERE is_deleted AND sf_deleted_at IS NOT NULL AND salesforce_id = ANY(%s)",
        (list(removed), list(removed)),
    )
    assert removed and {r[0] for r in flagged} == removed

    before = snapshot(warehouse_db)
    run_object_dags()
    assert snapshot(warehouse_db) == before
