"""The UI's connection form and Test button for the salesforce_elt type, on a real `airflow api-server`.

The server runs as `make airflow` runs it (the installed distribution's provider entry point, plugins/
on sys.path), with connection testing enabled and the SimpleAuthManager; the requests are the ones the
React UI sends (/auth/token, /ui/connections/hook_meta, /api/v2/connections/test). The org is the
emulator, reached over HTTPS with its CA from the connection's ca_bundle extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import psycopg
import pytest
import requests

from embedded_stack.airflow_services import AirflowServices, create_database
from embedded_stack.connections import salesforce_connection
from salesforce_elt.provider_info import CONN_FIELDS, CONNECTION_TYPE
from salesforce_emulator.server import EmulatorServer
from tests.support.airflow_services import wait_for

pytestmark = pytest.mark.slow

USER, PASSWORD = "tester", "Pw-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("conn_type_org"), contacts=10, seed=11, bulk_delay=0.1) as server:
        yield server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory, warehouse_url):
    """Only the api-server (the Test button runs the hook in its process), on a free loopback port."""
    home = tmp_path_factory.mktemp("conn_type_airflow")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    metadata = f"airflow_meta_{uuid.uuid4().hex[:8]}"
    services = AirflowServices(
        home=home,
        metadata_url=create_database(warehouse_url, metadata),
        extra_env={
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__WORKERS": "1",
        },
    )
    log = home / "api-server.log"
    try:
        services.airflow("db", "migrate")
        with log.open("ab") as out:
            services.processes["api-server"] = subprocess.Popen(
                [sys.executable, "-m", "airflow", "api-server"],
                env=services.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        base = f"http://127.0.0.1:{services.api_port}"

        def healthy() -> bool:
            if services.processes["api-server"].poll() is not None:
                raise AssertionError(f"airflow api-server exited: {log.read_text()[-3000:]}")
            try:
                answer = requests.get(f"{base}/api/v2/monitor/health", timeout=5)
            except requests.RequestException:
                return False
            return answer.ok and answer.json()["metadatabase"]["status"] == "healthy"

        wait_for("the api-server to answer its health check", healthy, timeout=240)
        yield base, log
    finally:
        services.stop()
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{metadata}" WITH (FORCE)')


@pytest.fixture(scope="module")
def api(api_server) -> requests.Session:
    base, _ = api_server
    answer = requests.post(f"{base}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30)
    assert answer.status_code == 201, answer.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    session.base_url = base  # type: ignore[attr-defined]
    return session


def _form(org_info: dict, connection_id: str, **extra_overrides) -> dict:
    """The body the UI's connection form sends: the embedded stack's connection, extra as JSON text."""
    payload = json.loads(salesforce_connection(org_info))
    payload["extra"].update(extra_overrides)
    return {
        "connection_id": connection_id,
        "conn_type": payload["conn_type"],
        "login": payload["login"],
        "password": payload["password"],
        "extra": json.dumps(payload["extra"]),
    }


def _test(api: requests.Session, body: dict) -> dict:
    answer = api.post(f"{api.base_url}/api/v2/connections/test", json=body, timeout=120)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_ui_lists_the_connection_type_with_labelled_fields(api):
    answer = api.get(f"{api.base_url}/ui/connections/hook_meta", timeout=60)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    types = {entry["connection_type"]: entry for entry in answer.json()}
    ours = types[CONNECTION_TYPE]
    assert ours["hook_name"] == "Salesforce (ELT)"
    assert ours["hook_class_name"] == "salesforce_elt.hooks.salesforce.SalesforceApiHook"
    labels = {name: field["schema"]["title"] for name, field in ours["extra_fields"].items()}
    assert labels == {name: spec["label"] for name, spec in CONN_FIELDS.items()}
    assert labels["login_url"] == "Login URL" and labels["ca_bundle"] == "CA Bundle"
    masked = {name for name, field in ours["extra_fields"].items() if field["schema"].get("format") == "password"}
    assert masked == {"consumer_secret", "private_key", "security_token"}
    assert ours["standard_fields"]["host"]["hidden"] and ours["standard_fields"]["port"]["hidden"]
    assert ours["standard_fields"]["login"]["title"] == "Username"
    # The provider's type is still there, with the provider's hook.
    assert types["salesforce"]["hook_class_name"] == "airflow.providers.salesforce.hooks.salesforce.SalesforceHook"


def test_the_test_button_logs_in_to_the_org(api, org):
    org.reset_audit()
    result = _test(api, _form(org.connection_info, "sf_ui_good"))
    assert result["status"] is True, result["message"]
    assert result["message"].startswith("Connection successfully tested")
    kinds = [entry["kind"] for entry in org.audit()]
    assert "oauth" in kinds  # the project's own login, at the connection's login_url


def test_a_wrong_secret_fails_naming_the_cause_and_no_secret(api, org, api_server):
    _, log = api_server
    wrong = "Wrong-" + uuid.uuid4().hex
    result = _test(api, _form(org.connection_info, "sf_ui_bad", consumer_secret=wrong))
    assert result["status"] is False
    assert "invalid_client" in result["message"] and "invalid client credentials" in result["message"]
    assert "/services/oauth2/token" in result["message"]
    for secret in (wrong, org.connection_info["client_secret"], org.connection_info["password"]):
        assert secret not in result["message"]
        assert secret not in log.read_text()


def test_a_saved_connection_tests_from_its_edit_form(api, org):
    # Save as the UI does, read it back (secrets come back masked), test that form: Airflow merges
    # the stored secrets back in, so the fields marked as passwords must round-trip.
    base = api.base_url  # type: ignore[attr-defined]
    created = api.post(f"{base}/api/v2/connections", json=_form(org.connection_info, "sf_ui_saved"), timeout=30)
    assert created.status_code == 201, created.text
    shown = api.get(f"{base}/api/v2/connections/sf_ui_saved", timeout=30).json()
    assert org.connection_info["client_secret"] not in json.dumps(shown)
    assert shown["conn_type"] == CONNECTION_TYPE
    body = {key: shown[key] for key in ("connection_id", "conn_type", "login", "password", "extra")}
    result = _test(api, body)
    assert result["status"] is True, result["message"]
