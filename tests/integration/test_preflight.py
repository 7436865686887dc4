"""Preflight: `python -m salesforce_elt check` and the DAGs' first task, against the real emulator
and Postgres: OK, wrong credentials, unreachable Salesforce, unreachable warehouse, migrations behind
head, and trigger params that can never work."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from embedded_stack.connections import salesforce_connection
from tests.integration.operating_support import fresh_database, rows
from tests.support.airflow_env import connections_to
from tests.support.cli import run_cli
from tests.support.dags import run_dag, task_states

pytestmark = pytest.mark.slow

ORG = {"contacts": 20, "seed": 4}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(info: dict, warehouse: str, connection: str | None = None) -> subprocess.CompletedProcess:
    env = {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": connection or salesforce_connection(info),
        "SALESFORCE_ELT_WAREHOUSE_URL": warehouse,
    }
    return run_cli("check", "--object", "Contact", env=env)


def test_check_passes_on_a_working_setup(org, warehouse_db):
    result = check(org.connection_info, warehouse_db)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "preflight: OK"
    assert any(line.startswith("OK   salesforce_default: logged in to https://127.0.0.1:") for line in lines)
    assert any(line.startswith("OK   salesforce_default Contact: described (") for line in lines)
    assert any(
        "API budget" in line and "DailyApiRequests" in line and "reserve 20%" in line for line in lines
    )
    assert any("SALESFORCE_ELT_WAREHOUSE_URL: migrations at head (" in line for line in lines)


def test_check_names_wrong_credentials_without_a_traceback(org, warehouse_db):
    result = check({**org.connection_info, "client_secret": "wrong-secret"}, warehouse_db)
    assert result.returncode == 1
    assert result.stdout.startswith("preflight: 1 problem(s)")
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert line.startswith("FAIL salesforce_default: login refused") and "invalid_client" in line
    assert "fix the credentials of connection salesforce_default" in line
    assert (
        "Traceback" not in result.stdout + result.stderr
        and "wrong-secret" not in result.stdout + result.stderr
    )


def test_check_names_an_unreachable_salesforce_and_warehouse(org, warehouse_db):
    nowhere = f"https://127.0.0.1:{_closed_port()}"
    dead_db = f"postgresql://nobody@127.0.0.1:{_closed_port()}/nothing"
    result = check({**org.connection_info, "login_url": nowhere}, dead_db)
    assert result.returncode == 1 and result.stdout.startswith("preflight: 2 problem(s)")
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert (
        fails[0].startswith("FAIL salesforce_default: Salesforce unreachable")
        and "check login_url" in fails[0]
    )
    assert fails[1].startswith("FAIL SALESFORCE_ELT_WAREHOUSE_URL: warehouse unreachable")
    assert "Traceback" not in result.stdout + result.stderr


def _offline_connection(info: dict, login_url: str, **kwargs) -> str:
    """A connection at ``login_url`` through a proxy that refuses every connection: no test reaches the network."""
    payload = json.loads(salesforce_connection({**info, "login_url": login_url}, **kwargs))
    payload["extra"]["proxies"] = {"https": f"http://127.0.0.1:{_closed_port()}"}
    return json.dumps(payload)


@pytest.mark.parametrize("login_url", ["https://login.salesforce.com", "https://test.salesforce.com/"])
def test_check_warns_that_client_credentials_need_the_my_domain(org, warehouse_db, login_url):
    result = check(org.connection_info, warehouse_db, _offline_connection(org.connection_info, login_url))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    (warning,) = [line for line in lines if line.startswith("WARN salesforce_default login_url")]
    assert f"auth_flow client_credentials at {login_url.rstrip('/')}: Salesforce refuses this flow there" in warning
    assert "-> set login_url to the org's My Domain, https://<MyDomainName>.my.salesforce.com" in warning
    # The warning comes from the settings, whether or not Salesforce answers.
    assert any(line.startswith("FAIL salesforce_default: Salesforce unreachable") for line in lines)
    assert org.connection_info["client_secret"] not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_check_gives_no_login_url_warning_to_a_my_domain_or_to_jwt(org, warehouse_db):
    my_domain = check(org.connection_info, warehouse_db)  # client credentials at the org's own host
    assert my_domain.returncode == 0 and "login_url" not in my_domain.stdout, my_domain.stdout
    jwt = check(org.connection_info, warehouse_db, _offline_connection(org.connection_info, "https://login.salesforce.com",
                                                            auth_flow="jwt"))
    assert "FAIL salesforce_default: Salesforce unreachable" in jwt.stdout  # tried, through the refusing proxy
    assert "login_url:" not in jwt.stdout and "WARN salesforce_default login_url" not in jwt.stdout


def test_check_names_a_warehouse_behind_the_migrations(org, warehouse_url):
    with fresh_database(warehouse_url, "w_behind", revision="0002_objects") as behind:
        result = check(org.connection_info, behind)
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "migrations at 0002_objects, head is " in line and "python -m salesforce_elt migrate" in line


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"start": "2026-03-05T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "must be after param 'start'"),
        ({"start": (datetime.now(UTC) + timedelta(days=2)).isoformat()}, "is in the future"),
        ({"end": "2026-03-01T00:00:00Z"}, "'end' was given without param 'start'"),
    ],
)
def test_the_preflight_task_refuses_impossible_trigger_params(airflow_db, org, warehouse_db, conf, message):
    with connections_to(org, warehouse_db):
        dag_run = run_dag(run_conf=conf)
    states = task_states(dag_run)
    assert dag_run.state == "failed" and states["preflight"] == "failed"
    assert states["extract"] == "upstream_failed"  # no API call was spent on it
    (row,) = rows(
        warehouse_db, "SELECT status, error_message FROM salesforce.sync_runs WHERE run_id = %s", (dag_run.run_id,)
    )
    assert row["status"] == "failed"
    assert row["error_message"].startswith(
        "preflight: AirflowFailException: Invalid trigger parameters: param"
    )
    assert message in row["error_message"]
