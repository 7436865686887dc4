"""The Contact DAG end to end: emulator over HTTPS -> extract -> transform -> load -> Postgres.

The warehouse table is compared field by field with an independent REST queryAll of the
emulator (simple-salesforce directly, selecting the compound address fields the pipeline never
asks for), never with the pipeline's own files. The org is this module's own, because the test
mutates it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from salesforce_elt.registry import CONTACT
from salesforce_emulator.server import EmulatorServer
from tests.support import equality
from tests.support.airflow_env import connections_to
from tests.support.databases import fresh_database
from tests.support.salesforce import rest_session

pytestmark = pytest.mark.slow

DAG_ID = "salesforce_sync_contacts"


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    contacts = int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "2000"))
    with EmulatorServer(
        tmp_path_factory.mktemp("dag_emulator"), contacts=contacts, seed=11, bulk_delay=0.2
    ) as server:
        yield server


@pytest.fixture(scope="module")
def warehouse_db(warehouse_url):
    """A database of this module's own, migrated to head."""
    with fresh_database(warehouse_url, "w_dag") as url:
        yield url


@pytest.fixture(scope="module")
def sync_env(airflow_db, org, warehouse_db):
    """Airflow connections pointing at this module's org and database."""
    with connections_to(org, warehouse_db):
        yield


@pytest.fixture(scope="module")
def rest(org):
    with rest_session(org) as client:
        yield client


def last_run(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, new_records, updated_records, deleted_records, rows_extracted, api "
            "FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()


def run_dag(logical_date: datetime) -> None:
    """One run through dag.test(), on a freshly built DAG as the scheduler would parse it."""
    from salesforce_elt.dag_factory import build_object_dags

    dag = build_object_dags()[DAG_ID]
    for task in dag.tasks:
        task.retries = 0  # fail fast here; retries are the scheduler's business
    dag_run = dag.test(logical_date=logical_date)
    assert dag_run.state == "success", f"{DAG_ID} run {dag_run.run_id} ended {dag_run.state}"


def test_contact_dag_mirrors_salesforce_and_is_idempotent(sync_env, warehouse_db, rest, org):
    interval = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    run_dag(interval)
    status, new, updated, deleted, extracted, api = last_run(warehouse_db)
    total = org.org.record_counts(["Contact"])[0]["count"]
    assert (status, api, updated) == ("success", "bulk", 0)
    assert new == extracted >= total > 0
    assert equality.differences(warehouse_db, rest, CONTACT) == []

    before = equality.warehouse_rows(warehouse_db, CONTACT)
    run_dag(interval + timedelta(minutes=1))  # the same interval again
    assert last_run(warehouse_db)[1:4] == (0, 0, 0)
    assert equality.warehouse_rows(warehouse_db, CONTACT) == before

    changes = org.org.mutate("Contact", update=40, create=15, delete=5, hard_delete=5, late_share=0.3)
    # The /deleted feed covers a minute only once it is over.
    time.sleep(61 - datetime.now(UTC).second)
    run_dag(interval + timedelta(minutes=2))
    created, updated = set(changes["created"]), set(changes["updated"])
    soft, purged = set(changes["deleted"]), set(changes["hard_deleted"])
    assert last_run(warehouse_db)[:4] == (
        "success",
        len(created - purged),  # a record created and purged between two runs is never seen
        len(updated - soft - purged - created),
        len(soft - created) + len(purged - created),  # created then deleted counts as new
    )
    assert equality.differences(warehouse_db, rest, CONTACT) == []
