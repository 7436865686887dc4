"""pytest fixtures serving an emulated org: `pytest_plugins = ["salesforce_emulator.pytest_plugin"]`.

`sf_emulator` (session scope) serves a small org over HTTPS from a thread; its size comes from
SF_EMULATOR_TEST_CONTACTS (default 2000). Its wire format is the realistic one (every Bulk field
quoted, doubles in Java's notation, REST pages shorter than asked for: salesforce_emulator.wire);
SF_EMULATOR_TEST_WIRE overrides it ("" for the plainest form). `sf_session` is a requests.Session
trusting its CA.
Tests that set faults must clear them (`sf_emulator.faults.clear()`); `sf_session` does so on
teardown as a safety net.
"""

from __future__ import annotations

import os

import pytest

from salesforce_emulator.client import simple_salesforce_client, trusting_session
from salesforce_emulator.server import EmulatorServer
from salesforce_emulator.wire import WireFormat


@pytest.fixture(scope="session")
def sf_emulator(tmp_path_factory):
    contacts = int(os.environ.get("SF_EMULATOR_TEST_CONTACTS", "2000"))
    data_dir = tmp_path_factory.mktemp("sf_emulator")
    wire = WireFormat.parse(os.environ.get("SF_EMULATOR_TEST_WIRE", "realistic"))
    with EmulatorServer(data_dir, contacts=contacts, seed=42, bulk_delay=0.2, wire=wire) as server:
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
