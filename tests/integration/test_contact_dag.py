"""The Contact DAG end to end: emulator over HTTPS -> extract -> transform -> load -> Postgres.

The warehouse table is compared field by field with an independent REST queryAll of the
emulator (simple-salesforce directly, selecting the compound address fields the pipeline never
asks for), never with the pipeline's own files. The org is this module's own, because the test
mutates it.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import requests
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from embedded_stack.connections import postgres_connection, salesforce_connection
from salesforce_elt.registry import CONTACT
from salesforce_emulator.server import EmulatorServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "salesforce_sync_contacts"


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    contacts = int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "2000"))
    with EmulatorServer(tmp_path_factory.mktemp("dag_emulator"), contacts=contacts, seed=11, bulk_delay=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def warehouse_db(warehouse_url):
    """A database of this module's own, migrated to head."""
    name = f"w_dag_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = sa.make_url(warehouse_url).set(database=name).render_as_string(hide_password=False)
    config = Config(str(REPO / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
    yield url
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def sync_env(airflow_db, org, warehouse_db):
    """Airflow connections pointing at this module's org and database."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(org.connection_info))
    mp.setenv("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", postgres_connection(warehouse_db))
    mp.setenv("SALESFORCE_ELT_WAREHOUSE_URL", warehouse_db)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def rest(org):
    """simple-salesforce on its own session trusting the emulator's CA (the independent reader)."""
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.verify = org.connection_info["ca_file"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    info = org.connection_info
    token = session.post(
        f"{info['login_url']}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
        timeout=30,
    )
    token.raise_for_status()
    yield Salesforce(instance_url=info["instance_url"], session_id=token.json()["access_token"], session=session)
    session.close()


def salesforce_records(rest) -> dict[str, dict]:
    """Every Contact, deleted ones included, with compounds as REST returns them."""
    fields = ", ".join(["Id", *(f.sf_name for f in CONTACT.fields)])
    records = rest.query_all_iter(f"SELECT {fields} FROM Contact", include_deleted=True)
    return {r["Id"]: r for r in records}


def expected(sf_type: str, value):
    """A REST JSON value as the warehouse should hold it (psycopg's Python value)."""
    if value is None:
        return None
    if sf_type == "datetime":
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    if sf_type == "date":
        return date.fromisoformat(value)
    if sf_type == "address":
        return {k: v for k, v in value.items() if k != "attributes"}
    if sf_type == "multipicklist":
        return value.split(";")
    return value


def warehouse_rows(url: str) -> dict[str, dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM salesforce.sf_contacts")
        names = [d.name for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur}


def differences(url: str, rest) -> list[str]:
    """Field-by-field differences between the warehouse and Salesforce (empty when equal)."""
    records, rows = salesforce_records(rest), warehouse_rows(url)
    problems = [f"{i}: in Salesforce, not in the warehouse" for i in sorted(records.keys() - rows.keys())]
    for record_id, record in records.items():
        row = rows.get(record_id)
        if row is None:
            continue
        for f in CONTACT.fields:
            want, got = expected(f.sf_type, record[f.sf_name]), row[f.column]
            if want != got:
                problems.append(f"{record_id}.{f.column}: Salesforce {want!r}, warehouse {got!r}")
        if len(problems) > 20:
            break
    for record_id in sorted(rows.keys() - records.keys()):  # purged: must be marked deleted
        row = rows[record_id]
        if not (row["is_deleted"] and row["sf_deleted_at"]):
            problems.append(f"{record_id}: hard-deleted in Salesforce but live in the warehouse")
    return problems


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
    assert differences(warehouse_db, rest) == []

    before = warehouse_rows(warehouse_db)
    run_dag(interval + timedelta(minutes=1))  # the same interval again
    assert last_run(warehouse_db)[1:4] == (0, 0, 0)
    assert warehouse_rows(warehouse_db) == before

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
    assert differences(warehouse_db, rest) == []
