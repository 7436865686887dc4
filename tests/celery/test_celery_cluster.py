"""The sync DAGs on CeleryExecutor: a real Redis broker, two Celery workers, s3:// staging.

The cluster (embedded_stack.celery_cluster) runs scheduler, dag-processor, triggerer, api-server and
two Celery workers, each worker with its own AIRFLOW_HOME, working directory and TMPDIR; staging is
an S3-compatible server (moto) reached through ObjectStoragePath and the Amazon provider. The
Contact DAG and the targeted DAG (several mapped Bulk chunks) run through the scheduler; the tables
equal the org field by field and the task instances ran on both workers.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import psycopg
import pytest

from embedded_stack.celery_cluster import CeleryCluster
from salesforce_elt.engine import targeted
from tests.integration.operating_support import rows
from tests.reliability.helpers import assert_table_equals_emulator
from tests.support.airflow_services import services_env
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ORG = {"contacts": 600, "seed": 41, "bulk_delay": 0.5}

CONTACT_DAG = "salesforce_sync_contacts"
TARGETED_DAG = "salesforce_sync_targeted_contacts"
# Only the two DAGs under test; a small SOQL limit makes the targeted DAG map several Bulk chunks.
# Airflow's safe mode parses only files that mention both "airflow" and "dag".
DAG_FILE = f'''"""The Contact sync and the targeted contact sync (this test's airflow DAG folder)."""
from datetime import timedelta

from salesforce_elt.airflow.dag_factory import build_dag, build_targeted_contacts_dag
from salesforce_elt.engine.registry import tables

salesforce_sync_contacts = build_dag("sf_contacts", tables()["sf_contacts"])
salesforce_targeted_contacts = build_targeted_contacts_dag(
    soql_max_chars={len(targeted.contact_select_prefix()) + 3_000}, inline_max_ids=100
)


def _retry_at_once(built):
    # The DAGs retry after 2 minutes, doubling; the retry of a dead worker's task is under test, not the wait.
    for task in built.tasks:
        task.retry_delay = timedelta(seconds=2)
        task.retry_exponential_backoff = 0


_retry_at_once(salesforce_sync_contacts)
_retry_at_once(salesforce_targeted_contacts)
'''


@pytest.fixture(scope="module")
def cluster(warehouse_url, org, warehouse_db, tmp_path_factory):
    home = tmp_path_factory.mktemp("celery_cluster")
    dags = home / "dags"
    dags.mkdir()
    (dags / "salesforce_celery.py").write_text(DAG_FILE)
    cluster = CeleryCluster(home=home, server_url=warehouse_url, extra_env=services_env(org, warehouse_db, home), dags_folder=dags)
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


def test_contact_and_targeted_dags_run_across_two_workers_with_s3_staging(cluster, org, warehouse_db):
    contact = finished_run(cluster, CONTACT_DAG)
    contact_tis = task_instances(cluster, CONTACT_DAG, contact["run_id"])
    assert contact["state"] == "success", contact_tis
    targeted_run = finished_run(cluster, TARGETED_DAG)
    tis = task_instances(cluster, TARGETED_DAG, targeted_run["run_id"])
    assert targeted_run["state"] == "success", tis

    assert_table_equals_emulator(warehouse_db, org)
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


def trigger(cluster: CeleryCluster, dag_id: str) -> str:
    result = cluster.services.airflow_json("dags", "trigger", dag_id)
    run = result[0] if isinstance(result, list) else result
    return run.get("dag_run_id") or run["run_id"]


def run_state(cluster: CeleryCluster, dag_id: str, run_id: str) -> str | None:
    found = rows(meta_url(cluster), "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
    return found[0]["state"] if found else None


def wait_run_finished(cluster: CeleryCluster, dag_id: str, run_id: str) -> str:
    return wait_for(
        f"{dag_id} {run_id} to finish",
        lambda: (state := run_state(cluster, dag_id, run_id)) in ("success", "failed") and state,
        timeout=600,
        interval=1,
    )


def the_task(cluster: CeleryCluster, dag_id: str, run_id: str, task_id: str) -> dict | None:
    found = [ti for ti in task_instances(cluster, dag_id, run_id) if ti["task_id"] == task_id]
    return found[0] if found else None


def running_on_a_worker(cluster: CeleryCluster, dag_id: str, run_id: str, task_id: str) -> dict | None:
    ti = the_task(cluster, dag_id, run_id, task_id)
    return ti if ti and ti["state"] == "running" and ti["hostname"] in cluster.worker_names else None


def kill_and_restart_after(cluster: CeleryCluster, victim: str):
    cluster.kill_worker(victim)
    return lambda: (cluster.start_worker(victim), cluster.wait_worker_ready(victim))


def sync_run(warehouse_db: str, run_id: str) -> list[dict]:
    return rows(warehouse_db, "SELECT status, new_records, rows_extracted FROM salesforce.sync_runs WHERE run_id = %s", (run_id,))


def test_a_worker_killed_during_the_load_loses_nothing_and_duplicates_nothing(cluster, org, warehouse_db):
    assert finished_run(cluster, CONTACT_DAG)["state"] == "success"  # the first full load is done
    created = org.mutate({"update": 40, "create": 25})
    # Writers of the table wait behind this lock: the load is caught running on its worker.
    with psycopg.connect(warehouse_db) as blocker:
        blocker.execute("LOCK TABLE salesforce.sf_contacts IN SHARE ROW EXCLUSIVE MODE")
        run_id = trigger(cluster, CONTACT_DAG)
        dead = wait_for(
            "the load running", lambda: running_on_a_worker(cluster, CONTACT_DAG, run_id, "load"), 300, 0.5
        )
        restart = kill_and_restart_after(cluster, dead["hostname"])
    try:
        assert wait_run_finished(cluster, CONTACT_DAG, run_id) == "success"
        load = the_task(cluster, CONTACT_DAG, run_id, "load")
        (survivor,) = set(cluster.worker_names) - {dead["hostname"]}
        assert (load["state"], load["hostname"]) == ("success", survivor)
        assert load["try_number"] == dead["try_number"] + 1
        # The dead attempt committed nothing: the retry finds all 25 contacts new.
        assert [r["status"] for r in sync_run(warehouse_db, run_id)][-1] == "success"
        assert sync_run(warehouse_db, run_id)[-1]["new_records"] == 25, created
        assert_table_equals_emulator(warehouse_db, org)
    finally:
        restart()


def staging_requests(cluster: CeleryCluster, method: str) -> list[str]:
    """The object keys of the S3 server's requests with this method, from its request log."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", (cluster.home / "logs" / "s3.log").read_text(errors="replace"))
    return [unquote(key) for key in re.findall(rf'"{method} (/\S+) HTTP', text)]


def test_a_worker_killed_during_the_extract_is_retried_elsewhere_and_its_staging_never_read(cluster, org, warehouse_db):
    assert finished_run(cluster, CONTACT_DAG)["state"] == "success"
    org.mutate({"update": 30, "create": 15})
    org.faults.set(latency_ms=2500)  # every API call slow: the extract is caught running on its worker
    try:
        run_id = trigger(cluster, CONTACT_DAG)

        def staged_and_running():
            ti = running_on_a_worker(cluster, CONTACT_DAG, run_id, "extract")
            prefix = f"/{run_id}/Contact/extract/try-{ti['try_number']}/" if ti else None
            return ti if ti and any(prefix in key for key in staging_requests(cluster, "PUT")) else None

        # Killed once it has staged a file (the deleted-record list comes first) and is still querying.
        dead = wait_for("the extract to stage a file", staged_and_running, 300, 0.2)
        restart = kill_and_restart_after(cluster, dead["hostname"])
    finally:
        org.faults.clear()
    try:
        assert wait_run_finished(cluster, CONTACT_DAG, run_id) == "success"
        extract = the_task(cluster, CONTACT_DAG, run_id, "extract")
        (survivor,) = set(cluster.worker_names) - {dead["hostname"]}
        assert (extract["state"], extract["hostname"]) == ("success", survivor)
        assert extract["try_number"] == dead["try_number"] + 1
        assert sync_run(warehouse_db, run_id)[-1]["status"] == "success"
        assert_table_equals_emulator(warehouse_db, org)
        reads = [key for key in staging_requests(cluster, "GET") if f"/{run_id}/Contact/extract/" in key]
        assert any(f"/try-{extract['try_number']}/" in key for key in reads), reads  # the retry's files were read
        assert not [key for key in reads if f"/try-{dead['try_number']}/" in key], reads  # the dead one's never
    finally:
        restart()
