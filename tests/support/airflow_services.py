"""The real Airflow services (embedded_stack.airflow_services) for tests that need the scheduler or the UI.

Airflow's metadata lives in a database of its own on the test Postgres; the services reach an
emulated org and a warehouse database through the usual AIRFLOW_CONN_* settings. Whatever happens
in the test, the processes are stopped, the API port is checked free and the database dropped.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from embedded_stack.airflow_services import AirflowServices, create_database
from tests.support.airflow_env import connection_env
from tests.support.waiting import wait_for


def services_env(org, warehouse_db: str, home: Path) -> dict[str, str]:
    """The settings a sync DAG needs in every service: the org, the warehouse, staging, no alert mail."""
    return {
        **connection_env(org, warehouse_db),
        "SALESFORCE_ELT_STAGING_URL": f"file://{home / 'staging'}",
        "SALESFORCE_ELT_ALERT_EMAILS": "",
    }


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def running_airflow(
    server_url: str, home: Path, *, dags_folder: Path, extra_env: dict[str, str], timeout: float = 300
) -> Iterator[tuple[AirflowServices, str]]:
    """api-server, scheduler, dag-processor and triggerer, healthy; yields them and the metadata DB's URL."""
    metadata_name = f"airflow_meta_{uuid.uuid4().hex[:8]}"
    airflow = AirflowServices(
        home=home,
        metadata_url=create_database(server_url, metadata_name),
        dags_folder=dags_folder,
        extra_env=extra_env,
    )
    try:
        airflow.start(timeout=timeout)  # inside the try: a start that times out still stops what it started
        yield airflow, server_url.rsplit("/", 1)[0] + f"/{metadata_name}"
    finally:
        airflow.stop()
        wait_for(f"the API port {airflow.api_port} to be freed", lambda: not _listening(airflow.api_port), 30)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{metadata_name}" WITH (FORCE)')
