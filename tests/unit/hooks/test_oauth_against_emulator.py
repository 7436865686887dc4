"""The hook and the trigger log in as Salesforce documents it, against emulated production and sandbox orgs.

The emulator accepts a JWT bearer assertion only when its ``aud`` is its org kind's authorization
server (https://login.salesforce.com or https://test.salesforce.com), never the My Domain it is
posted to, and reads client credentials only from the form body.
"""

from __future__ import annotations

import pytest

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.hooks.errors import SalesforceAuthError
from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger
from salesforce_emulator.server import EmulatorServer
from tests.support.deferral import trigger_event

SANDBOX = "https://test.salesforce.com"


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("prod_org"), contacts=20, seed=5, bulk_delay=0.1) as server:
        yield server


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with EmulatorServer(
        tmp_path_factory.mktemp("sandbox_org"), contacts=20, seed=6, bulk_delay=0.1, org_kind="sandbox"
    ) as server:
        yield server


def _hook(monkeypatch, org, conn_id: str, **kwargs) -> SalesforceApiHook:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", salesforce_connection(org.connection_info, **kwargs)
    )
    return SalesforceBulk2Hook(conn_id)


def _token_requests(org) -> list[dict]:
    return [e for e in org.audit() if e["kind"] == "oauth"]


@pytest.mark.parametrize("flow", ["client_credentials", "jwt", "password"])
def test_every_flow_logs_in_to_a_production_org(production, monkeypatch, flow):
    hook = _hook(monkeypatch, production, "sf_prod", auth_flow=flow)
    assert hook.describe("Contact")["name"] == "Contact"
    assert hook.auth_settings.flow == flow


def test_jwt_with_the_derived_audience_is_refused_by_a_sandbox_org_with_the_fix_named(sandbox, monkeypatch):
    # The emulator's login URL (https://127.0.0.1:port) is no sandbox host, so the derived audience
    # is production's, which a sandbox org refuses as Salesforce does.
    hook = _hook(monkeypatch, sandbox, "sf_sandbox_default", auth_flow="jwt")
    assert hook.auth_settings.audience == "https://login.salesforce.com"
    sandbox.reset_audit()
    with pytest.raises(SalesforceAuthError) as refused:
        hook.authenticate()
    message = str(refused.value)
    assert refused.value.error_code == "invalid_grant" and "audience is invalid" in message
    assert "set the connection's jwt_audience extra to https://test.salesforce.com" in message
    assert [e["status"] for e in _token_requests(sandbox)] == [400]  # a refusal is not retried


def test_jwt_audience_extra_logs_in_to_a_sandbox_org(sandbox, monkeypatch):
    hook = _hook(monkeypatch, sandbox, "sf_sandbox", auth_flow="jwt", jwt_audience=SANDBOX)
    assert hook.auth_settings.audience == SANDBOX
    assert hook.describe("Contact")["name"] == "Contact"


def test_the_trigger_logs_in_to_a_sandbox_org_with_the_same_settings(sandbox, monkeypatch):
    hook = _hook(monkeypatch, sandbox, "sf_sandbox_trigger", auth_flow="jwt", jwt_audience=SANDBOX)
    job_id = hook.create_query_job("SELECT Id FROM Contact")["id"]
    sandbox.reset_audit()
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id="sf_sandbox_trigger", poll_interval=0.1)
    )
    assert event["status"] == "success", event
    assert (
        event["records"]
        == sandbox.org.query("SELECT Id FROM Contact", include_deleted=False, api="rest").total_size
    )
    assert [e["status"] for e in _token_requests(sandbox)] == [200]  # the trigger's own login
