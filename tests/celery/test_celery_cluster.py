"""The sync DAGs on CeleryExecutor: a real Redis broker, two Celery workers, s3:// staging.

The cluster (embedded_stack.celery_cluster) runs scheduler, dag-processor, triggerer, api-server and
two Celery workers, each worker with its own AIRFLOW_HOME, working directory and TMPDIR; staging is
an S3-compatible server (moto) reached through ObjectStoragePath and the Amazon provider. The
Contact DAG and the targeted DAG (several mapped Bulk chunks) run through the scheduler; the tables
equal the org field by field and the task instances ran on both workers.
"""

from __future__ import annotations

import pytest

from embedded_stack.celery_cluster import CeleryCluster
from salesforce_elt import targeted
from salesforce_emulator.server import EmulatorServer
from tests.integration.operating_support import fresh_database, rows
from tests.reliability.helpers import assert_table_equals_emulator
from tests.support.airflow_services import sync_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

CONTACT_DAG = "salesforce_sync_contacts"
TARGETED_DAG = "salesforce_sync_targeted_contacts"
# Only the two DAGs under test; a small SOQL limit makes the targeted DAG map several Bulk chunks.
# Airflow's safe mode parses only files that mention both "airflow" and "dag".
DAG_FILE = f'''"""The Contact sync and the targeted contact sync (this test's airflow DAG folder)."""
from salesforce_elt.dag_factory import build_dag, build_targeted_contacts_dag
from salesforce_elt.registry import tables

salesforce_sync_contacts = build_dag("sf_contacts", tables()["sf_contacts"])
salesforce_targeted_contacts = build_targeted_contacts_dag(
    soql_max_chars={len(targeted.contact_select_prefix()) + 3_000}, inline_max_ids=100
)
'''


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("celery_org"), contacts=600, seed=41, bulk_delay=0.5) as server:
        yield server


@pytest.fixture(scope="module")
def db(warehouse_url):
    with fresh_database(warehouse_url, "w_celery") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(warehouse_url, org, db, tmp_path_factory):
    home = tmp_path_factory.mktemp("celery_cluster")
    dags = home / "dags"
    dags.mkdir()
    (dags / "salesforce_celery.py").write_text(DAG_FILE)
    cluster = CeleryCluster(home=home, server_url=warehouse_url, extra_env=sync_env(org, db, home), dags_folder=dags)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        cluster.drop_metadata()


def meta_url(cluster: CeleryCluster) -> str:
    return cluster.server_url.rsplit("/", 1)[0] + f"/{cluster.metadata_name}"


def finished_run(cluster: CeleryCluster, dag_id: str) -> dict:
    def done():
        runs = rows(
            meta_url(cluster),
            "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND state IN ('success', 'failed') "
            "ORDER BY id LIMIT 1",
            (dag_id,),
        )
        return runs[0] if runs else None

    return wait_for(f"a finished {dag_id} run", done, timeout=600, interval=2)


def task_instances(cluster: CeleryCluster, dag_id: str, run_id: str) -> list[dict]:
    return rows(
        meta_url(cluster),
        "SELECT task_id, map_index, state, hostname, try_number FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
        (dag_id, run_id),
    )


def test_contact_and_targeted_dags_run_across_two_workers_with_s3_staging(cluster, org, db):
    contact = finished_run(cluster, CONTACT_DAG)
    contact_tis = task_instances(cluster, CONTACT_DAG, contact["run_id"])
    assert contact["state"] == "success", contact_tis
    targeted_run = finished_run(cluster, TARGETED_DAG)
    tis = task_instances(cluster, TARGETED_DAG, targeted_run["run_id"])
    assert targeted_run["state"] == "success", tis

    assert_table_equals_emulator(db, org)
    chunks = [ti for ti in tis if ti["map_index"] >= 0]
    assert len(chunks) >= 3, tis  # the mapped Bulk chunks
    hosts = {ti["hostname"] for ti in contact_tis + tis if ti["state"] == "success"}
    assert hosts == {"worker-a", "worker-b"}, contact_tis + tis
    assert {ti["hostname"] for ti in tis if ti["state"] == "success"} == {"worker-a", "worker-b"}, tis

    # Staging went through the object store, not the workers' disks.
    keys = cluster.staged_keys()
    assert any(f"/{CONTACT_DAG}/" in k and k.endswith(".csv") for k in keys), keys[:20]
    assert any(f"/{TARGETED_DAG}/" in k for k in keys), keys[:20]
    for name in cluster.worker_names:
        assert not list(cluster.worker_home(name).rglob("*.csv")), name
