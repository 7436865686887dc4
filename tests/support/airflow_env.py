"""Airflow connections (AIRFLOW_CONN_*) pointing at an emulated org and a warehouse database."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from embedded_stack.connections import postgres_connection, salesforce_connection


def connection_env(org, warehouse_url: str) -> dict[str, str]:
    """The settings that point the DAGs at ``org`` and ``warehouse_url``.

    ``org``: an EmulatorServer, or a connection-info dict (e.g. one with wrong credentials).
    """
    return {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": salesforce_connection(getattr(org, "connection_info", org)),
        "AIRFLOW_CONN_SALESFORCE_WAREHOUSE": postgres_connection(warehouse_url),
        "SALESFORCE_ELT_WAREHOUSE_URL": warehouse_url,
    }


@contextmanager
def connections_to(org, warehouse_url: str, **extra_env: str):
    """``connection_env`` (and any extra settings) for this process while the block runs.

    Yields the MonkeyPatch, so callers can patch more; everything is undone afterwards.
    """
    mp = pytest.MonkeyPatch()
    for key, value in {**connection_env(org, warehouse_url), **extra_env}.items():
        mp.setenv(key, value)
    try:
        yield mp
    finally:
        mp.undo()
