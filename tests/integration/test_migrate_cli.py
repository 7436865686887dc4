"""`python -m salesforce_elt migrate` against the real Postgres: an empty warehouse to head, an old one
from its revision, a second run that changes nothing, `--sql` for a DBA, and an unreachable warehouse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg

from salesforce_elt.ops.preflight import VERSION_TABLE, alembic_heads
from tests.support.cli import run_cli
from tests.support.databases import fresh_database


def migrate_cli(*args: str, warehouse: str | None) -> subprocess.CompletedProcess:
    return run_cli("migrate", *args, env={"SALESFORCE_ELT_WAREHOUSE_URL": warehouse or None})


def version(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(f"SELECT version_num FROM salesforce.{VERSION_TABLE}")}  # noqa: S608


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'salesforce'")
        }


def test_migrate_creates_an_empty_warehouse_then_changes_nothing(warehouse_url):
    head = ", ".join(sorted(alembic_heads()))
    with fresh_database(warehouse_url, "w_migrate", revision=None) as url:
        first = migrate_cli(warehouse=url)
        assert first.returncode == 0, first.stderr
        assert f"migrated from an empty schema to {head}" in first.stdout
        assert version(url) == alembic_heads()
        assert {"sf_contacts", "sf_activities", "sync_runs", "sync_state"} <= tables(url)
        second = migrate_cli(warehouse=url)
        assert second.returncode == 0, second.stderr
        assert f"already at head ({head})" in second.stdout


def test_migrate_upgrades_from_an_older_revision(warehouse_url):
    with fresh_database(warehouse_url, "w_migrate_old", revision="0003_monitoring") as url:
        result = migrate_cli(warehouse=url)
        assert result.returncode == 0, result.stderr
        assert "migrated from 0003_monitoring to" in result.stdout
        assert version(url) == alembic_heads()
        assert "schema_audit" in tables(url)


def test_migrate_sql_prints_the_ddl_without_touching_the_warehouse(warehouse_url):
    with fresh_database(warehouse_url, "w_migrate_sql", revision=None) as url:
        result = migrate_cli("--sql", warehouse=None)
        assert result.returncode == 0, result.stderr
        assert "CREATE SCHEMA IF NOT EXISTS salesforce;" in result.stdout
        assert "CREATE TABLE salesforce.sf_contacts" in result.stdout
        assert "alembic_version_salesforce_elt" in result.stdout
        assert tables(url) == set()
        partial = migrate_cli("--sql", "--from", "0004_schema_audit", warehouse=None)
        assert partial.returncode == 0, partial.stderr
        assert "CREATE TABLE salesforce.sf_contacts" not in partial.stdout
        assert "ALTER TABLE salesforce.sync_runs ADD COLUMN records_cleaned" in partial.stdout


def test_migrate_names_an_unreachable_warehouse_without_a_traceback():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = migrate_cli(warehouse=f"postgresql://nobody:secret-pw@127.0.0.1:{port}/nowhere")
    assert result.returncode == 2
    assert "SALESFORCE_ELT_WAREHOUSE_URL" in result.stderr and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret-pw" not in result.stderr + result.stdout


def test_migrate_help_names_the_sql_option():
    result = migrate_cli("--help", warehouse=None)
    assert result.returncode == 0 and "--sql" in result.stdout


def test_migrate_through_the_airflow_connection_prints_one_line(warehouse_url):
    """The warehouse named by the `salesforce_warehouse` connection, as a user sets it up; reading an Airflow
    connection sets up Airflow's logging, which must not drown the summary in Alembic's lines."""
    with fresh_database(warehouse_url, "w_migrate_conn", revision=None) as url:
        env = {k: v for k, v in os.environ.items() if k != "SALESFORCE_ELT_WAREHOUSE_URL"}
        env["AIRFLOW_CONN_SALESFORCE_WAREHOUSE"] = url
        result = subprocess.run(
            [sys.executable, "-m", "salesforce_elt", "migrate"],
            cwd="/", env=env, capture_output=True, text=True, timeout=180,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines() == [
            f"warehouse (connection salesforce_warehouse, schema salesforce): migrated from an empty schema to "
            f"{', '.join(sorted(alembic_heads()))}"
        ]
        assert "Running upgrade" not in result.stderr
        assert version(url) == alembic_heads()
