"""The Contact DAG end to end: emulator over HTTPS -> extract -> transform -> load -> Postgres.

The warehouse table is compared field by field with an independent REST queryAll of the
emulator (simple-salesforce directly, selecting the compound address fields the pipeline never
asks for), never with the pipeline's own files. The org is this module's own, because the test
mutates it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from salesforce_elt.engine.registry import CONTACT
from tests.support import equality
from tests.support.dags import run_dag
from tests.support.salesforce import wait_for_the_next_minute

pytestmark = pytest.mark.slow

ORG = {"contacts": int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "2000")), "seed": 11, "bulk_delay": 0.2}


def last_run(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, new_records, updated_records, deleted_records, rows_extracted, api "
            "FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()


def test_contact_dag_mirrors_salesforce_and_is_idempotent(sync_env, warehouse_db, rest, org):
    interval = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    run_dag(interval, expect="success")
    status, new, updated, deleted, extracted, api = last_run(warehouse_db)
    total = org.org.record_counts(["Contact"])[0]["count"]
    assert (status, api, updated) == ("success", "bulk", 0)
    assert new == extracted >= total > 0
    assert equality.differences(warehouse_db, rest, CONTACT) == []

    before = equality.warehouse_rows(warehouse_db, CONTACT)
    run_dag(interval + timedelta(minutes=1), expect="success")  # the same interval again
    assert last_run(warehouse_db)[1:4] == (0, 0, 0)
    assert equality.warehouse_rows(warehouse_db, CONTACT) == before

    changes = org.org.mutate("Contact", update=40, create=15, delete=5, hard_delete=5, late_share=0.3)
    wait_for_the_next_minute()
    run_dag(interval + timedelta(minutes=2), expect="success")
    created, updated = set(changes["created"]), set(changes["updated"])
    soft, purged = set(changes["deleted"]), set(changes["hard_deleted"])
    assert last_run(warehouse_db)[:4] == (
        "success",
        len(created - purged),  # a record created and purged between two runs is never seen
        len(updated - soft - purged - created),
        len(soft - created) + len(purged - created),  # created then deleted counts as new
    )
    assert equality.differences(warehouse_db, rest, CONTACT) == []
