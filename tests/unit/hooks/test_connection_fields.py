"""The salesforce_elt connection type: what Airflow registers, and how the hook reads its fields.

Airflow's own ProvidersManager and the API server's hook-metadata service read the installed
distribution's provider info (``make install``); the hook runs against the emulator. The provider's
field names (domain, instance_url, consumer key/secret, private key) keep working for our hook.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from airflow.models.connection import Connection

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.hooks.errors import SalesforceAuthError
from salesforce_elt.airflow.hooks.oauth import AuthSettings
from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
from salesforce_elt.airflow.provider_info import CONN_FIELDS, CONNECTION_TYPE, get_provider_info

SECRETS = ("consumer_secret", "private_key", "security_token")


def _conn(conn_type: str = CONNECTION_TYPE, login: str | None = "etl@example.com", **extra) -> Connection:
    return Connection(conn_id="sf_fields", conn_type=conn_type, login=login, extra=json.dumps(extra))


# ---- what Airflow registers ---------------------------------------------------------------------
def test_airflow_registers_the_connection_type_with_the_project_hook():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "salesforce-postgres-elt" in manager.providers, (
        "the project's distribution is not installed: run `make install` (it installs it --no-deps)"
    )
    hook = manager.hooks[CONNECTION_TYPE]
    assert hook.hook_class_name == "salesforce_elt.airflow.hooks.salesforce.SalesforceApiHook"
    assert hook.hook_name == "Salesforce (ELT)" and hook.connection_testable
    assert hook.connection_id_attribute_name == "salesforce_conn_id"
    # The provider's own type keeps its own hook.
    assert manager.hooks["salesforce"].hook_class_name.startswith("airflow.providers.salesforce.")
    assert Connection(conn_id="x", conn_type=CONNECTION_TYPE).get_hook().__class__ is SalesforceApiHook


def test_provider_info_passes_airflows_schema():
    import jsonschema
    from airflow.providers_manager import _create_provider_info_schema_validator

    validator = _create_provider_info_schema_validator()
    errors = [e.message for e in validator.iter_errors(get_provider_info())]
    assert errors == []
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**get_provider_info(), "connection-types": [{"connection-type": "x"}]})


def test_the_ui_metadata_lists_every_field_labelled_and_secrets_masked():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}[CONNECTION_TYPE]
    assert meta.hook_name == "Salesforce (ELT)"
    assert meta.hook_class_name == "salesforce_elt.airflow.hooks.salesforce.SalesforceApiHook"
    fields = meta.extra_fields
    assert set(fields) == set(CONN_FIELDS)
    assert fields["login_url"]["schema"]["title"] == "Login URL"
    assert fields["auth_flow"]["schema"]["title"] == "Auth Flow"
    assert all(fields[name]["schema"].get("title") for name in fields)
    assert all(fields[name]["description"] for name in fields)
    assert {name for name in fields if fields[name]["schema"].get("format") == "password"} == set(SECRETS)
    assert meta.standard_fields.host.hidden and meta.standard_fields.url_schema.hidden
    assert meta.standard_fields.login.title == "Username"
    # Visible: Airflow 3.3.2's Test button needs a stored port (tests/integration/test_connection_type.py).
    assert not meta.standard_fields.port.hidden and meta.standard_fields.port.title == "Port (443)"


def test_every_form_field_reaches_the_login_settings(tmp_path):
    # What the UI stores: the fields' own names in the extra JSON, blank ones as "".
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    conn = _conn(
        login_url="https://acme.my.salesforce.com/",
        auth_flow="jwt",
        consumer_key="KEY",
        consumer_secret="S3CRET",
        private_key="-----BEGIN PRIVATE KEY-----",
        private_key_file_path="/keys/k.pem",
        jwt_audience="https://test.salesforce.com/",
        security_token="TOKEN",
        ca_bundle=str(ca),
        version="61.0",
        domain="",
        instance_url="",
    )
    settings = AuthSettings.from_connection(conn)
    assert (settings.login_url, settings.flow, settings.version) == ("https://acme.my.salesforce.com", "jwt", "61.0")
    assert (settings.consumer_key, settings.consumer_secret, settings.security_token) == ("KEY", "S3CRET", "TOKEN")
    assert settings.private_key.startswith("-----BEGIN") and settings.private_key_file_path == "/keys/k.pem"
    assert settings.audience == "https://test.salesforce.com" and settings.ca_bundle == str(ca)
    assert settings.username == "etl@example.com"
    assert "S3CRET" not in repr(settings) and "TOKEN" not in repr(settings)


# ---- the provider's fields, read by our hook ------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "login_url"),
    [
        ({"domain": "test"}, "https://test.salesforce.com"),
        ({"domain": "acme.my"}, "https://acme.my.salesforce.com"),
        ({"domain": "acme--uat.sandbox.my"}, "https://acme--uat.sandbox.my.salesforce.com"),
        ({"instance_url": "https://acme.my.salesforce.com/"}, "https://acme.my.salesforce.com"),
        ({"instance_url": "acme.my.salesforce.com"}, "https://acme.my.salesforce.com"),
        ({"instance_url": "acme.my"}, "https://acme.my.salesforce.com"),  # simple-salesforce's JWT form
        ({"instance_url": "http://127.0.0.1:8443/x"}, "https://127.0.0.1:8443"),
        ({"domain": "test", "instance_url": "https://acme.my.salesforce.com"}, "https://test.salesforce.com"),
        ({}, "https://login.salesforce.com"),
        ({"domain": "test", "login_url": "https://proxy.internal:8443"}, "https://proxy.internal:8443"),
        ({"domain": "", "instance_url": ""}, "https://login.salesforce.com"),
    ],
)
def test_without_login_url_the_provider_fields_name_the_login_host(extra, login_url):
    settings = AuthSettings.from_connection(_conn(consumer_key="KEY", consumer_secret="S", **extra))
    assert settings.login_url == login_url
    assert settings.flow == "client_credentials"


def test_a_sandbox_domain_gives_the_sandbox_audience_as_simple_salesforce_does(tmp_path):
    settings = AuthSettings.from_connection(_conn(consumer_key="KEY", private_key="---", domain="test"))
    assert settings.flow == "jwt" and settings.audience == "https://test.salesforce.com"
    settings = AuthSettings.from_connection(_conn(client_id="KEY", private_key="---"))
    assert settings.consumer_key == "KEY" and settings.audience == "https://login.salesforce.com"


@pytest.mark.parametrize("domain", ["https://acme.my.salesforce.com", "acme.my.salesforce.com", "acme/x", "a b"])
def test_a_domain_that_is_not_a_name_part_is_refused_naming_it(domain):
    with pytest.raises(SalesforceAuthError) as refused:
        AuthSettings.from_connection(_conn(consumer_key="KEY", consumer_secret="S", domain=domain))
    assert refused.value.error_code == "INVALID_SETTING"
    assert "'sf_fields'" in str(refused.value) and "extra domain=" in str(refused.value)
    assert "login_url" in str(refused.value)


def test_without_a_connected_app_the_provider_login_stays():
    # Username + password + security token is simple-salesforce's SOAP login: no OAuth client to use.
    conn = _conn(domain="test", security_token="TOKEN")
    conn.password = "pw"
    assert AuthSettings.from_connection(conn) is None


def test_salesforce_type_connections_work_exactly_as_before():
    # No login_url: the provider's login, whatever provider fields are set.
    conn = _conn("salesforce", consumer_key="KEY", consumer_secret="S", domain="acme.my")
    assert AuthSettings.from_connection(conn) is None
    conn = _conn("salesforce", consumer_key="KEY", consumer_secret="S", login_url="https://a.my.salesforce.com")
    assert AuthSettings.from_connection(conn).login_url == "https://a.my.salesforce.com"


# ---- the hook against the emulator --------------------------------------------------------------
def _env_conn(monkeypatch, conn_id: str, payload: dict) -> SalesforceApiHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))
    return SalesforceApiHook(conn_id)


def test_instance_url_alone_logs_in_and_the_same_connection_serves_the_providers_hook(sf_emulator, monkeypatch):
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    payload = json.loads(salesforce_connection(sf_emulator.connection_info))
    assert payload["conn_type"] == CONNECTION_TYPE
    payload["extra"]["instance_url"] = payload["extra"].pop("login_url")  # the provider's field only
    # Client credentials need no password; with one (and a token) simple-salesforce would log in by
    # SOAP at https://<domain>.salesforce.com, which no test can reach.
    del payload["password"], payload["extra"]["security_token"]
    hook = _env_conn(monkeypatch, "sf_instance_only", payload)
    assert hook.test_connection()[0] is True
    assert hook.auth_settings.login_url == sf_emulator.connection_info["instance_url"]

    # The provider's hook on the same connection: a direct session (instance_url + session id).
    provider = SalesforceHook(
        salesforce_conn_id="sf_instance_only", session_id=hook.authenticate().access_token, session=hook.http
    )
    assert provider.test_connection() == (True, "Connection successfully tested")
    assert provider.make_query("SELECT Id FROM Account LIMIT 2")["totalSize"] == 2


def test_a_wrong_secret_fails_the_test_naming_the_cause_without_the_secret(sf_emulator, monkeypatch):
    payload = json.loads(salesforce_connection(sf_emulator.connection_info))
    wrong = "Wr0ngSecretValue-" + sf_emulator.connection_info["client_secret"][:6]
    payload["extra"]["consumer_secret"] = wrong
    hook = _env_conn(monkeypatch, "sf_wrong_secret", payload)
    ok, message = hook.test_connection()
    assert ok is False
    assert "invalid_client" in message and "/services/oauth2/token" in message
    assert wrong not in message and sf_emulator.connection_info["client_secret"] not in message


def test_an_unreachable_login_host_fails_the_test_within_seconds(sf_emulator, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens once the socket is closed
    payload = json.loads(salesforce_connection(sf_emulator.connection_info))
    payload["extra"]["login_url"] = f"https://127.0.0.1:{closed_port}"
    hook = _env_conn(monkeypatch, "sf_unreachable", payload)
    started = time.monotonic()
    ok, message = hook.test_connection()
    assert ok is False and "RETRIES_EXHAUSTED" in message and "ConnectionError" in message
    assert "2 attempt(s)" in message
    assert time.monotonic() - started < 15
    # The tasks' patience is back once the test is done.
    assert hook.retry == RetryPolicy() and hook.timeout == (30.0, 300.0)


def test_a_failure_message_never_carries_the_connections_secrets(sf_emulator, monkeypatch):
    payload = json.loads(salesforce_connection(sf_emulator.connection_info))
    hook = _env_conn(monkeypatch, "sf_mask", payload)
    info = sf_emulator.connection_info
    text = f"echoed {info['password']} and {info['client_secret']} and {info['security_token']}"
    masked = hook._without_secrets(text)
    assert info["password"] not in masked and info["client_secret"] not in masked
    assert info["security_token"] not in masked and masked.count("***") == 3
