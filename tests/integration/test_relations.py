"""Who relations end to end (TaskWhoRelation, EventWhoRelation), real emulator over HTTPS and Postgres.

- The relation tables equal Salesforce's relation sets (an independent REST read) after contacts are
  added to and removed from tasks and events and after tasks and events are deleted, while the
  emulator never bumps a parent's SystemModstamp for a relation change (its default): removals come
  from the /deleted feeds of TaskRelation and EventRelation, the objects the who relations are views of.
- An org without Shared Activities has none of those objects: every DAG runs green, the relation
  DAGs end skipped with one clear reason, preflight warns, and the targeted sync uses WhoId alone.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from salesforce_elt.engine import targeted
from salesforce_elt.engine.registry import EVENT_WHO_RELATION, TASK_WHO_RELATION, get_object
from salesforce_elt.ops import preflight
from salesforce_emulator.server import EmulatorServer
from tests.integration.objects_support import ORDER, query
from tests.support.airflow_env import connections_to
from tests.support.dags import run_dag, task_states
from tests.support.databases import fresh_database
from tests.support.equality import differences, expected
from tests.support.salesforce import rest_session, wait_for_the_next_minute

pytestmark = pytest.mark.slow

RELATIONS = (TASK_WHO_RELATION, EVENT_WHO_RELATION)
RELATION_DAGS = tuple(spec.resolved_dag_id for spec in RELATIONS)


def _dags():
    from salesforce_elt.airflow.dag_factory import build_object_dags

    return build_object_dags()


def _stamps(rest, parent: str, ids: set[str]) -> dict[str, str]:
    """SystemModstamp of each listed activity (queryAll: deleted ones too)."""
    listed = ",".join(f"'{i}'" for i in sorted(ids))
    soql = f"SELECT Id, SystemModstamp FROM {parent} WHERE Id IN ({listed})"  # noqa: S608
    return {r["Id"]: r["SystemModstamp"] for r in rest.query_all_iter(soql, include_deleted=True)}


# ---- an org with Shared Activities -----------------------------------------------------------------
ORG = {"contacts": int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "800")), "seed": 57, "bulk_delay": 0.2}


def _run_relation_dags(org, warehouse_db, logical_date: datetime | None = None) -> None:
    with connections_to(org, warehouse_db):
        dags = _dags()
        for dag_id in RELATION_DAGS:
            run_dag(logical_date, dag=dags[dag_id], expect="success")


@pytest.fixture(scope="module")
def loaded(airflow_db, org, warehouse_db):
    """A first load of both relation tables: every relation."""
    last_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    _run_relation_dags(org, warehouse_db, last_hour)


def test_relation_tables_follow_adds_removals_and_deletes_without_parent_bumps(loaded, org, warehouse_db, rest):
    for spec in RELATIONS:
        assert differences(warehouse_db, rest, spec) == []

    relation_parent = {spec.name: dict(query(
        warehouse_db, f"SELECT salesforce_id, {spec.relation_parent_column} FROM salesforce.{spec.table}"  # noqa: S608
    )) for spec in RELATIONS}
    changed = {name: org.org.mutate(name, delete=5, seed=seed)
               for name, seed in (("TaskWhoRelation", 1), ("EventWhoRelation", 2))}
    # An event contact who is also invited keeps its EventRelation record (IsParent false): it
    # leaves EventWhoRelation without a /deleted entry. Remove more until one such case is in.
    for seed in range(3, 30):
        if changed["EventWhoRelation"]["demoted"]:
            break
        more = org.org.mutate("EventWhoRelation", delete=2, seed=seed)
        for key in ("deleted", "demoted"):
            changed["EventWhoRelation"][key] = changed["EventWhoRelation"][key] + more[key]
    assert changed["EventWhoRelation"]["demoted"]
    for name in changed:  # additions after the removals, which must only pick loaded relations
        changed[name]["created"] = org.org.mutate(name, create=6)["created"]
    # Parents of the added and removed relations, with their stamps right after the change.
    parents = {}
    for spec in RELATIONS:
        field, parent = spec.relation_parent
        ids = {relation_parent[spec.name][i] for i in changed[spec.name]["deleted"]}
        created = ",".join(f"'{i}'" for i in changed[spec.name]["created"])
        ids |= {r[field] for r in rest.query_all_iter(
            f"SELECT {field} FROM {spec.name} WHERE Id IN ({created})")}  # noqa: S608
        parents[parent] = _stamps(rest, parent, ids)
    deleted_activities = {
        "Task": org.org.mutate("Task", delete=2, hard_delete=2, seed=3),
        "Event": org.org.mutate("Event", delete=2, hard_delete=1, seed=4),
    }
    for parent, stamps in parents.items():
        gone = set(deleted_activities[parent]["deleted"] + deleted_activities[parent]["hard_deleted"])
        parents[parent] = {i: s for i, s in stamps.items() if i not in gone}
    wait_for_the_next_minute()
    _run_relation_dags(org, warehouse_db)

    for spec in RELATIONS:
        assert differences(warehouse_db, rest, spec) == [], spec.name
    # No relation change bumped its parent: the re-read of changed parents could not have seen the
    # removals; the TaskRelation / EventRelation /deleted feeds did, with their deletion dates.
    for parent, stamps in parents.items():
        assert stamps and _stamps(rest, parent, set(stamps)) == stamps
    for spec in RELATIONS:
        removed = changed[spec.name]["deleted"]
        feed = {
            r["id"]: r["deletedDate"]
            for r in org.org.deleted(spec.relation_feed, datetime.now(UTC) - timedelta(hours=1),
                                     datetime.now(UTC))["deletedRecords"]
        }
        demoted = changed[spec.name].get("demoted", [])
        if demoted:  # not in the feed: their EventRelation record's last change is the removal
            listed = ",".join(f"'{i}'" for i in demoted)
            feed.update({r["Id"]: r["SystemModstamp"] for r in rest.query_all_iter(
                f"SELECT Id, SystemModstamp FROM {spec.relation_feed} WHERE Id IN ({listed})")})  # noqa: S608
            assert not set(demoted) & {r["id"] for r in org.org.deleted(
                spec.relation_feed, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))["deletedRecords"]}
        flagged = dict(query(
            warehouse_db,
            f"SELECT salesforce_id, sf_deleted_at FROM salesforce.{spec.table} "  # noqa: S608
            "WHERE is_deleted AND salesforce_id = ANY(%s)",
            (removed,),
        ))
        assert set(flagged) == set(removed)
        assert flagged == {i: expected("datetime", feed[i]) for i in removed}
        # The deleted activities' relations are flagged too (cascade to the recycle bin, or purged).
        field = spec.relation_parent_column
        gone = deleted_activities[spec.relation_parent[1]]
        live = query(
            warehouse_db,
            f"SELECT count(*) FROM salesforce.{spec.table} WHERE NOT is_deleted AND {field} = ANY(%s)",  # noqa: S608
            (gone["deleted"] + gone["hard_deleted"],),
        )[0][0]
        assert live == 0
    runs = dict(query(
        warehouse_db,
        "SELECT DISTINCT ON (object_name) object_name, deleted_records FROM salesforce.sync_runs "
        "WHERE status = 'success' ORDER BY object_name, id DESC",
    ))
    assert all(runs[spec.name] >= len(changed[spec.name]["deleted"]) for spec in RELATIONS)


def test_a_second_run_changes_no_relation(loaded, org, warehouse_db):
    snapshot = {spec.table: query(warehouse_db, f"SELECT * FROM salesforce.{spec.table} ORDER BY 1")  # noqa: S608
                for spec in RELATIONS}
    _run_relation_dags(org, warehouse_db)
    assert {spec.table: query(warehouse_db, f"SELECT * FROM salesforce.{spec.table} ORDER BY 1")  # noqa: S608
            for spec in RELATIONS} == snapshot


def test_a_purged_relation_feed_falls_back_to_reading_every_relation(loaded, org, warehouse_db, rest):
    removed = org.org.mutate("EventWhoRelation", delete=3, seed=9)["deleted"]
    # Salesforce trims a large delete log early: /deleted then refuses the window's start
    # (INVALID_REPLICATION_DATE) and the removals above are in no feed any more.
    org.org.purge_delete_log("EventRelation")
    _run_relation_dags(org, warehouse_db)
    for spec in RELATIONS:
        assert differences(warehouse_db, rest, spec) == [], spec.name
    flagged = query(
        warehouse_db,
        "SELECT count(*) FROM salesforce.sf_event_who_relations "
        "WHERE is_deleted AND sf_deleted_at IS NOT NULL AND salesforce_id = ANY(%s)",
        (removed,),
    )
    assert flagged == [(len(removed),)] and removed
    reasons = dict(query(
        warehouse_db,
        "SELECT DISTINCT ON (object_name) object_name, deletes_reconciled FROM salesforce.sync_runs "
        "WHERE status = 'success' ORDER BY object_name, id DESC",
    ))
    assert reasons["EventWhoRelation"] and reasons["EventWhoRelation"].startswith("EventRelation")
    assert reasons["TaskWhoRelation"] is None  # its feeds were intact: no full re-read


# ---- an org without Shared Activities ----------------------------------------------------------------
@pytest.fixture(scope="module")
def plain_org(tmp_path_factory):
    with EmulatorServer(
        tmp_path_factory.mktemp("plain_org"), contacts=300, seed=58, bulk_delay=0.2, shared_activities=False
    ) as server:
        yield server


@pytest.fixture(scope="module")
def plain_db(warehouse_url):
    with fresh_database(warehouse_url, "w_plain") as url:
        yield url


@pytest.fixture(scope="module")
def plain_targeted_db(warehouse_url):
    with fresh_database(warehouse_url, "w_plain_targeted") as url:
        yield url


def test_without_shared_activities_every_dag_is_green_and_the_relation_dags_skip(airflow_db, plain_org, plain_db):
    with connections_to(plain_org, plain_db):
        dags = _dags()
        assert set(ORDER) == set(dags)
        runs = {dag_id: run_dag(dag=dags[dag_id], expect="success") for dag_id in ORDER}
        findings = preflight.check_salesforce("salesforce_default", ["Contact", "TaskWhoRelation", "EventWhoRelation"])
    for dag_id in RELATION_DAGS:
        assert task_states(runs[dag_id]) == {
            "preflight": "success", "extract": "skipped", "transform": "skipped", "load": "skipped"
        }
    assert all(state == "success" for dag_id in ORDER if dag_id not in RELATION_DAGS
               for state in task_states(runs[dag_id]).values())
    skipped = dict(query(
        plain_db, "SELECT object_name, error_message FROM salesforce.sync_runs WHERE status = 'skipped'"
    ))
    assert set(skipped) == {"TaskWhoRelation", "EventWhoRelation"}
    for name, reason in skipped.items():
        assert reason.startswith(f"{name} does not exist in this org") and "Shared Activities is not enabled" in reason
    assert query(plain_db, "SELECT (SELECT count(*) FROM salesforce.sf_task_who_relations) + "
                           "(SELECT count(*) FROM salesforce.sf_event_who_relations)") == [(0,)]
    # `python -m salesforce_elt check` reports it as a warning, not a problem.
    assert preflight.problems(findings) == []
    warned = [f for f in findings if f.level == "warn"]
    assert [f.subject for f in warned] == ["TaskWhoRelation", "EventWhoRelation"]
    assert all("Shared Activities is not enabled" in f.message and "ends skipped" in f.message for f in warned)


def test_without_shared_activities_the_targeted_sync_uses_whoid_alone(airflow_db, plain_org, plain_targeted_db):
    from salesforce_elt.airflow.dag_factory import build_targeted_contacts_dag

    plain_db = plain_targeted_db  # contacts come only from the targeted sync here
    with connections_to(plain_org, plain_db), rest_session(plain_org) as rest:
        dag_run = run_dag(dag=build_targeted_contacts_dag(), expect="success")
        people = {
            r["WhoId"]
            for name in ("Task", "Event")
            for r in rest.query_all_iter(f"SELECT WhoId FROM {name} WHERE WhoId != null")  # noqa: S608
        }
    wanted = {i for i in people if i.startswith(get_object("Contact").key_prefix)}
    loaded = {r[0] for r in query(plain_db, "SELECT salesforce_id FROM salesforce.sf_contacts")}
    assert wanted and loaded == wanted
    assert task_states(dag_run)["discover"] == "success"
    marks = dict(query(plain_db, "SELECT object_name, high_water_mark FROM salesforce.sync_state"))
    assert targeted.MARK_NAME in marks
