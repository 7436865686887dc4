"""Fixtures of the reliability suite: one org per module, mutated, with the module's warehouse database
(``warehouse_db``, tests/conftest.py) behind fast hook retries and staging of its own (helpers.py has the rest)."""

from __future__ import annotations

import functools
import logging
from types import SimpleNamespace

import pytest

from salesforce_elt.airflow.hooks import salesforce as salesforce_hook_module
from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_emulator.server import EmulatorServer
from tests.reliability.helpers import FAST_RETRY, ORG_CONTACTS, reset_warehouse
from tests.support.airflow_env import connections_to
from tests.support.logs import captured_logs


# ---- the org and the warehouse ------------------------------------------------------------------
@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """This module's own emulated org (mutated by some cases), soft deletes included."""
    with EmulatorServer(
        tmp_path_factory.mktemp("reliability_org"), contacts=ORG_CONTACTS, seed=23, bulk_delay=0.2
    ) as server:
        server.org.mutate("Contact", update=20, delete=15)
        yield server


@pytest.fixture(scope="module")
def sync_env(airflow_db, org, warehouse_db, tmp_path_factory):
    """Connections at this module's org and warehouse, fast hook retries, a staging folder of its own."""
    staging = f"file://{tmp_path_factory.mktemp('staging')}"
    with connections_to(org, warehouse_db, SALESFORCE_ELT_STAGING_URL=staging) as mp:
        # The hooks' own policy, with millisecond backoff so bursts cost no wall time.
        mp.setattr(
            salesforce_hook_module,
            "RetryPolicy",
            functools.partial(
                RetryPolicy,
                max_retries=FAST_RETRY.max_retries,
                backoff_base=FAST_RETRY.backoff_base,
                backoff_max=FAST_RETRY.backoff_max,
            ),
        )
        yield SimpleNamespace(org=org, warehouse=warehouse_db, staging=staging)


@pytest.fixture
def empty_table(sync_env):
    """Each case starts from an empty warehouse (its first run is a full load) and a clean org state."""
    reset_warehouse(sync_env.warehouse)
    sync_env.org.faults.clear()
    sync_env.org.reset_audit()
    yield sync_env
    sync_env.org.faults.clear()


@pytest.fixture
def logs(caplog, capfd):
    return captured_logs(caplog, capfd, logging.INFO)
