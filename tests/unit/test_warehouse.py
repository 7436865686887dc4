"""warehouse.py: the Airflow connection through PostgresHook, or the explicit URL; psycopg 3 either way."""

from __future__ import annotations

import json

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict

from salesforce_elt.engine import warehouse

PASSWORD = "p@ss:w/rd %20 ö'\""  # characters a URL or a conninfo string must escape


def _connection(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "postgres", **fields}))


@pytest.fixture
def no_url(monkeypatch):
    monkeypatch.delenv(warehouse.URL_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW__SALESFORCE_ELT__WAREHOUSE_URL", raising=False)
    return monkeypatch


def test_the_connection_maps_to_libpq_parameters_with_only_libpq_extras(no_url):
    _connection(
        no_url, "dwh", host="db.internal", port=6432, login="etl", password=PASSWORD, schema="analytics",
        extra={"sslmode": "require", "connect_timeout": 5, "cursor": "dictcursor", "note": "not libpq"},
    )
    assert conninfo_to_dict(warehouse.conninfo("dwh")) == {
        "host": "db.internal",
        "port": "6432",
        "user": "etl",
        "password": PASSWORD,
        "dbname": "analytics",
        "sslmode": "require",
        "connect_timeout": "5",
        "application_name": "salesforce_elt",
    }
    url = warehouse.sqlalchemy_url("dwh")
    assert url.drivername == "postgresql+psycopg" and url.password == PASSWORD
    assert (url.host, url.port, url.username, url.database) == ("db.internal", 6432, "etl", "analytics")
    assert dict(url.query) == {"sslmode": "require", "connect_timeout": "5"}
    assert sa.make_url(url.render_as_string(hide_password=False)).password == PASSWORD


def test_the_providers_sqlalchemy_scheme_extra_does_not_change_the_driver(no_url):
    _connection(no_url, "dwh", host="h", schema="d", extra={"sqlalchemy_scheme": "postgresql+psycopg2"})
    assert warehouse.sqlalchemy_url("dwh").drivername == "postgresql+psycopg"


def test_the_providers_sqlalchemy_query_extra_passes_only_libpq_options(no_url):
    _connection(no_url, "dwh", host="h", schema="d",
                extra={"sqlalchemy_query": {"sslmode": "verify-full", "pool_pre_ping": "true"}})
    assert dict(warehouse.sqlalchemy_url("dwh").query) == {"sslmode": "verify-full"}


def test_the_url_setting_serves_tools_outside_airflow_and_a_named_connection_wins(no_url):
    _connection(no_url, "salesforce_warehouse", host="from-connection", schema="d")
    assert conninfo_to_dict(warehouse.conninfo())["host"] == "from-connection"
    no_url.setenv("AIRFLOW__SALESFORCE_ELT__WAREHOUSE_URL", "postgresql+psycopg://u@from-airflow-config/d")
    assert conninfo_to_dict(warehouse.conninfo())["host"] == "from-airflow-config"
    no_url.setenv(warehouse.URL_ENV, "postgresql://u@from-url:5433/d?sslmode=disable")
    assert conninfo_to_dict(warehouse.conninfo()) == {
        "host": "from-url", "port": "5433", "user": "u", "dbname": "d", "sslmode": "disable"
    }
    assert str(warehouse.sqlalchemy_url()) == "postgresql+psycopg://u@from-url:5433/d?sslmode=disable"
    assert conninfo_to_dict(warehouse.conninfo("salesforce_warehouse"))["host"] == "from-connection"


def test_connect_opens_a_psycopg3_connection_through_the_airflow_connection(no_url, warehouse_url):
    parts = sa.make_url(warehouse_url)
    _connection(
        no_url, "dwh_real", host=parts.host, port=parts.port, login=parts.username, password=parts.password,
        schema=parts.database, extra={"sslmode": "disable"},
    )
    with warehouse.connect("dwh_real", connect_timeout=10) as conn:
        assert isinstance(conn, psycopg.Connection)
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("salesforce_elt",)
        with conn.cursor().copy("COPY (SELECT 1 AS one) TO STDOUT") as copy:  # the loader streams COPY
            assert b"".join(bytes(block) for block in copy) == b"1\n"
