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


# ---- a module's own org and warehouse database ----------------------------------------------------
# For modules that change the org (data, faults, limits), count its API calls or read monitoring
# tables row for row. The module says what org it needs in ORG (EmulatorServer keywords) and, if
# any, the extra settings of its sync environment in SYNC_SETTINGS. Read-only tests use the
# session's sf_emulator and warehouse_url instead.
def _module_name(request) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


@pytest.fixture(scope="module")
def org(request, tmp_path_factory):
    """The module's own emulated org, built from its ORG."""
    from salesforce_emulator.server import EmulatorServer

    settings = getattr(request.module, "ORG", None)
    if settings is None:
        pytest.fail(f"{request.module.__name__} uses the `org` fixture but defines no ORG (EmulatorServer keywords)")
    with EmulatorServer(tmp_path_factory.mktemp(f"{_module_name(request)}_org"), **settings) as server:
        yield server


@pytest.fixture(scope="module")
def warehouse_db(request, warehouse_url):
    """A database of the module's own on the test server, migrated to head; dropped afterwards."""
    from tests.support.databases import fresh_database

    with fresh_database(warehouse_url, f"w_{_module_name(request)}") as url:
        yield url


@pytest.fixture(scope="module")
def sync_env(request, airflow_db, org, warehouse_db):
    """Airflow connections at the module's org and database, plus its SYNC_SETTINGS; yields the MonkeyPatch."""
    from tests.support.airflow_env import connections_to

    with connections_to(org, warehouse_db, **getattr(request.module, "SYNC_SETTINGS", {})) as mp:
        yield mp


@pytest.fixture(scope="module")
def rest(org):
    """An independent simple-salesforce client of the module's org (the tests' reader)."""
    from tests.support.salesforce import rest_session

    with rest_session(org) as client:
        yield client
