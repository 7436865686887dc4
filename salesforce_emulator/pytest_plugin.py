"""pytest fixtures serving an emulated org: `pytest_plugins = ["salesforce_emulator.pytest_plugin"]`.

`sf_emulator` (session scope) serves a small org over HTTPS from a thread; its size comes from
SF_EMULATOR_TEST_CONTACTS (default 2000). `sf_session` is a requests.Session trusting its CA.
Tests that set faults must clear them (`sf_emulator.faults.clear()`); `sf_session` does so on
teardown as a safety net.
"""

from __future__ import annotations

import os

import pytest

from salesforce_emulator.client import simple_salesforce_client, trusting_session
from salesforce_emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def sf_emulator(tmp_path_factory):
    contacts = int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "2000"))
    data_dir = tmp_path_factory.mktemp("sf_emulator")
    with EmulatorServer(data_dir, contacts=contacts, seed=42, bulk_delay=0.2) as server:
        yield server


@pytest.fixture
def sf_session(sf_emulator):
    session = trusting_session(sf_emulator.connection_info)
    yield session
    session.close()
    sf_emulator.faults.clear()


@pytest.fixture
def sf_client(sf_emulator, sf_session):
    """simple-salesforce in its direct-session form, holding a fresh token."""
    return simple_salesforce_client(sf_emulator.connection_info, sf_session)
