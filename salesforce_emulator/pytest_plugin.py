"""pytest fixtures serving an emulated org: `pytest_plugins = ["salesforce_emulator.pytest_plugin"]`.

`sf_emulator` (session scope) serves a small org over HTTPS from a thread; its size comes from
SF_EMULATOR_TEST_CONTACTS (default 2000). `sf_session` is a requests.Session trusting its CA.
Tests that set faults must clear them (`sf_emulator.faults.clear()`); `sf_session` does so on
teardown as a safety net.
"""

from __future__ import annotations

import os

import pytest
import requests

from salesforce_emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def sf_emulator(tmp_path_factory):
    contacts = int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "2000"))
    data_dir = tmp_path_factory.mktemp("sf_emulator")
    with EmulatorServer(data_dir, contacts=contacts, seed=42, bulk_delay=0.2) as server:
        yield server


@pytest.fixture
def sf_session(sf_emulator):
    session = requests.Session()
    session.verify = sf_emulator.connection_info["ca_file"]
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify when trust_env
    # is on (requests issue #3829); this machine sets them, so the CA would be ignored.
    session.trust_env = False
    yield session
    session.close()
    sf_emulator.faults.clear()


def client_credentials_token(connection_info: dict, session: requests.Session) -> str:
    """An access token from the emulator's OAuth endpoint (client-credentials flow)."""
    response = session.post(
        f"{connection_info['login_url']}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(connection_info["client_id"], connection_info["client_secret"]),
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture
def sf_client(sf_emulator, sf_session):
    """simple-salesforce in its direct-session form, holding a fresh token."""
    from simple_salesforce import Salesforce

    info = sf_emulator.connection_info
    return Salesforce(
        instance_url=info["instance_url"],
        session_id=client_credentials_token(info, sf_session),
        session=sf_session,
    )
