"""A purged /deleted feed ends in a reconciled, exact table, not a failing run.

Salesforce trims its delete log early once it grows large; a start before the feed's
earliestDateAvailable then gets INVALID_REPLICATION_DATE on every try (SOAP getDeleted(): "do a
full pull of the table"). The sync reads every current Id instead (a Bulk queryAll), flags the
stored rows missing from it as deleted in the same load, says why in sync_runs.deletes_reconciled,
and moves on. Real components: the emulator over HTTPS (its delete log purged through its admin
endpoint), the real Postgres, Airflow's dag.test().
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import requests
from airflow.exceptions import AirflowException
from airflow.sdk.exceptions import TaskDeferred
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger
from salesforce_elt.engine.registry import get_object
from tests.reliability.helpers import (
    TABLE,
    api_entries,
    assert_table_equals_emulator,
    extract_operator,
    high_water_marks,
    run_pipeline,
    task_context,
    trigger_event,
)
from tests.support import equality
from tests.support.dags import run_dag
from tests.support.salesforce import rest_session

pytestmark = pytest.mark.slow

ACTIVITY_TABLES = "salesforce.sf_activities, salesforce.sf_task_who_relations"


def purge_delete_log(org, object_name: str | None) -> dict[str, str]:
    """Through the emulator's admin endpoint, as a test harness beside a running org would."""
    body = {"object": object_name} if object_name else {}
    answer = requests.post(
        f"{org.base_url}/__emulator__/purge-delete-log",
        json=body,
        verify=org.connection_info["ca_file"],
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()


def runs(url: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "SELECT object_name, status, deleted_records, deletes_reconciled, window_end "
            "FROM salesforce.sync_runs ORDER BY id"
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]


def flagged(url: str, table: str, ids: list[str]) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT salesforce_id, is_deleted, sf_deleted_at FROM {table} WHERE salesforce_id = ANY(%s)",  # noqa: S608
            (ids,),
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def last_window_end(url: str) -> datetime:
    return runs(url)[-1]["window_end"]


def test_a_window_narrower_than_the_feed_accepts_reads_it_from_further_back(empty_table):
    """getDeleted(): start more than one minute before end, seconds ignored. Runs before any purge."""
    org, url = empty_table.org, empty_table.warehouse
    run_dag(expect="success")  # first load
    now = datetime.now(UTC).replace(microsecond=0)
    params = {"start": (now - timedelta(seconds=30)).isoformat(), "end": now.isoformat()}
    with rest_session(org) as rest, pytest.raises(SalesforceMalformedRequest) as refused:
        rest.restful("sobjects/Contact/deleted/", params=params)  # the window as it is: refused
    assert refused.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"

    org.reset_audit()
    run_dag(run_conf=params, expect="success")  # an explicit 30-second window
    last = runs(url)[-1]
    assert last["status"] == "success" and last["deletes_reconciled"] is None, last
    calls = [urlsplit(e["path"]) for e in api_entries(org) if "/sobjects/Contact/deleted" in e["path"]]
    assert len(calls) == 1
    feed = {
        k: datetime.fromisoformat(v[0].replace("Z", "+00:00")) for k, v in parse_qs(calls[0].query).items()
    }
    assert feed["end"] == now and feed["start"] == now.replace(second=0) - timedelta(minutes=2)
    assert_table_equals_emulator(url, org)


def test_contact_dag_reconciles_a_purged_delete_log(empty_table):
    org, url = empty_table.org, empty_table.warehouse
    run_dag(expect="success")  # first load: no high-water mark, a full queryAll
    changes = org.org.mutate("Contact", update=5, delete=4, hard_delete=6, seed=31)
    earliest = purge_delete_log(org, "Contact")["Contact"]

    run_dag(expect="success")  # manual: [mark - lookback, now), whose start the purged log refuses
    assert_table_equals_emulator(url, org)
    # Hard deletes: flagged, dated the window end (the latest they can have happened). Soft
    # deletes: flagged through the window's queryAll, dated by their SystemModstamp (what the
    # feed's deletedDate would have said).
    hard = flagged(url, TABLE, changes["hard_deleted"])
    assert set(hard) == set(changes["hard_deleted"])
    assert all(is_deleted and deleted_at == last_window_end(url) for is_deleted, deleted_at in hard.values())
    with psycopg.connect(url) as conn:
        soft = conn.execute(
            f"SELECT is_deleted, sf_deleted_at = sf_system_modstamp FROM {TABLE} WHERE salesforce_id = ANY(%s)",  # noqa: S608
            (changes["deleted"],),
        ).fetchall()
    assert soft == [(True, True)] * len(changes["deleted"])
    last = runs(url)[-1]
    assert last["status"] == "success" and last["deleted_records"] >= len(changes["hard_deleted"])
    note = last["deletes_reconciled"]
    assert "INVALID_REPLICATION_DATE" in note and earliest[:16] in note, note
    assert f"{len(changes['hard_deleted'])} stored row(s) missing from them marked deleted" in note, note
    # The high-water mark moved: the next run does not start over from the refused window.
    assert high_water_marks(url) == [("Contact", last["window_end"])]

    # A run with a data interval (this hour's) after more hard deletes: its window, the interval
    # less the lookback, starts before the purge too.
    more = org.org.mutate("Contact", hard_delete=3, seed=32)
    run_dag(logical_date=datetime.now(UTC).replace(minute=0, second=0, microsecond=0), expect="success")
    assert_table_equals_emulator(url, org)
    assert all(is_deleted for is_deleted, _ in flagged(url, TABLE, more["hard_deleted"]).values())
    assert "INVALID_REPLICATION_DATE" in runs(url)[-1]["deletes_reconciled"]


def test_the_rest_path_reconciles_too(empty_table):
    org, url = empty_table.org, empty_table.warehouse
    run_dag(run_conf={"api": "rest"}, expect="success")
    changes = org.org.mutate("Contact", update=2, hard_delete=4, seed=35)
    purge_delete_log(org, "Contact")
    run_dag(run_conf={"api": "rest"}, expect="success")  # the Id list through REST queryAll paging
    assert_table_equals_emulator(url, org)
    assert all(d and at is not None for d, at in flagged(url, TABLE, changes["hard_deleted"]).values())
    with psycopg.connect(url) as conn:
        api, note = conn.execute(
            "SELECT api, deletes_reconciled FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert api == "rest" and "4 stored row(s) missing from them marked deleted" in note, note


def test_a_failed_id_list_job_fails_the_extract_clearly_and_the_retry_completes(empty_table):
    org, url = empty_table.org, empty_table.warehouse
    run_dag(expect="success")  # the high-water mark
    changes = org.org.mutate("Contact", hard_delete=2, seed=36)
    purge_delete_log(org, "Contact")
    # Every job through the triggerer (no brief wait on the worker): the test steps through the deferrals.
    operator = extract_operator("bulk", brief_wait=timedelta(0))
    ctx = task_context("manual__id_list_fails", "extract")
    with pytest.raises(TaskDeferred) as window_job:
        operator.execute(ctx)
    done = trigger_event(Bulk2QueryJobTrigger(**window_job.value.trigger.serialize()[1]))
    assert done["status"] == "success"
    org.faults.set(bulk_fail_next=1)  # the next job, the one reading every Id, ends Failed
    with pytest.raises(TaskDeferred) as id_job:
        operator.execute_complete(ctx, event=done)
    failed = trigger_event(Bulk2QueryJobTrigger(**id_job.value.trigger.serialize()[1]))
    with pytest.raises(
        AirflowException, match=r"reading every Contact Id .*INVALID_REPLICATION_DATE.* ended failed"
    ):
        operator.execute_complete(ctx, event=failed)
    org.faults.clear()
    result = run_pipeline("manual__id_list_fails", try_number=2)  # Airflow's retry
    assert result["deleted_records"] == len(changes["hard_deleted"])
    assert_table_equals_emulator(url, org)


def test_activities_and_relations_dags_reconcile_a_purged_delete_log(empty_table):
    org, url = empty_table.org, empty_table.warehouse
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {ACTIVITY_TABLES}")  # noqa: S608
    for dag_id in ("salesforce_sync_activities", "salesforce_sync_task_who_relations"):
        run_dag(dag=dag_id, expect="success")
    tasks = org.org.mutate("Task", update=3, delete=3, hard_delete=4, seed=41)
    events = org.org.mutate("Event", delete=2, hard_delete=3, seed=42)
    purged = purge_delete_log(org, None)  # the whole org's log: Task's, Event's, Contact's
    assert {"Task", "Event"} <= set(purged)

    for dag_id in ("salesforce_sync_activities", "salesforce_sync_task_who_relations"):
        run_dag(dag=dag_id, expect="success")
    with rest_session(org) as rest:
        for name in ("Task", "Event", "TaskWhoRelation"):
            assert equality.differences(url, rest, get_object(name)) == [], name
    hard = tasks["hard_deleted"] + events["hard_deleted"]
    assert all(d and at is not None for d, at in flagged(url, "salesforce.sf_activities", hard).values())
    assert len(flagged(url, "salesforce.sf_activities", hard)) == len(hard)
    latest = {r["object_name"]: r for r in runs(url)}
    for name in ("Task", "Event", "TaskWhoRelation"):
        assert latest[name]["status"] == "success", latest[name]
        assert "INVALID_REPLICATION_DATE" in (latest[name]["deletes_reconciled"] or ""), latest[name]
