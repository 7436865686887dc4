"""Airflow connections (AIRFLOW_CONN_*) pointing at an emulated org and a warehouse database."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from embedded_stack.connections import postgres_connection, salesforce_connection


@contextmanager
def connections_to(org, warehouse_url: str, **extra_env: str):
    """AIRFLOW_CONN_* (and any extra settings) for this process while the block runs.

    ``org``: an EmulatorServer, or a connection-info dict (e.g. one with wrong credentials).
    Yields the MonkeyPatch, so callers can patch more; everything is undone afterwards.
    """
    mp = pytest.MonkeyPatch()
    info = getattr(org, "connection_info", org)
    mp.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(info))
    mp.setenv("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", postgres_connection(warehouse_url))
    mp.setenv("SALESFORCE_ELT_WAREHOUSE_URL", warehouse_url)
    for key, value in extra_env.items():
        mp.setenv(key, value)
    try:
        yield mp
    finally:
        mp.undo()
