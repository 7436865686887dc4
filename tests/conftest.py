"""Session-wide real components: an embedded Postgres, the Salesforce emulator, an Airflow home.

Airflow reads its configuration when first imported, so AIRFLOW_HOME and friends are set here,
at conftest import time, before any test module can import airflow.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sf-elt-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("SALESFORCE_ELT_STAGING_URL", f"file://{_AIRFLOW_HOME / 'salesforce_staging'}")

pytest_plugins = ["salesforce_emulator.pytest_plugin"]

EXTERNAL_DB_ENV = "SALESFORCE_ELT_TEST_DATABASE_URL"


def _postgres_dir(name: str) -> Path:
    """Outside pytest's basetemp: pytest keeps that 0700, and Postgres runs as another user when root."""
    return Path(tempfile.mkdtemp(prefix=f"sf-elt-{name}-", dir=_AIRFLOW_HOME.parent)) / "pgdata"


@pytest.fixture(scope="session")
def warehouse_url() -> str:
    """A real PostgreSQL: the one named by SALESFORCE_ELT_TEST_DATABASE_URL, else an embedded one."""
    external = os.environ.get(EXTERNAL_DB_ENV)
    if external:
        yield external
        return
    from embedded_stack.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(_postgres_dir("warehouse")).start()
    try:
        yield server.url
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_postgres():
    """A dedicated embedded server a test may stop and restart (reliability tests)."""
    from embedded_stack.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(_postgres_dir("restartable")).start()
    try:
        yield server
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB (SQLite in the session's AIRFLOW_HOME), migrated once."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_env(airflow_db, warehouse_url, sf_emulator, monkeypatch_session):
    """Airflow connections pointing at the emulator and the warehouse, set for this process."""
    from embedded_stack.connections import postgres_connection, salesforce_connection

    monkeypatch_session.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(sf_emulator.connection_info))
    monkeypatch_session.setenv("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", postgres_connection(warehouse_url))
    monkeypatch_session.setenv("SALESFORCE_ELT_WAREHOUSE_URL", warehouse_url)
    return airflow_db


@pytest.fixture(scope="session")
def salesforce_conn_env(sf_emulator, monkeypatch_session):
    """Only the Salesforce connection (for hook tests that need no warehouse or Airflow DB)."""
    from embedded_stack.connections import salesforce_connection

    monkeypatch_session.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(sf_emulator.connection_info))
    return sf_emulator


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
