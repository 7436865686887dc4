"""The embedded stack's configuration errors are one actionable line, never a stack trace."""

from __future__ import annotations

import json
import socket

import pytest

from embedded_stack.connections import postgres_connection, postgres_url_from_connection
from embedded_stack.stack import Stack, StackError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_warehouse_names_the_connection_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFORCE_WAREHOUSE", f"postgres://etl:s3cret-pw@127.0.0.1:{_closed_port()}/analytics"
    )
    with pytest.raises(StackError) as err:
        Stack(local=tmp_path).check_warehouse()
    message = str(err.value)
    assert "AIRFLOW_CONN_SALESFORCE_WAREHOUSE" in message
    assert "\n" not in message
    assert "s3cret-pw" not in message


def test_postgres_connection_round_trips_to_a_url():
    url = "postgresql://etl:p%40ss@db.internal:5433/analytics"
    conn = json.loads(postgres_connection(url))
    assert (conn["host"], conn["port"], conn["schema"]) == ("db.internal", 5433, "analytics")
    assert postgres_url_from_connection(postgres_connection(url)) == url
