"""Schema tools against the emulator over HTTPS and a real Postgres.

The acceptance path: the org gains a custom field -> ``schema diff`` reports it and exits 1 ->
``schema add-fields`` (run on a COPY of the repo, never the real registry or migrations) edits
the registry and autogenerates a revision -> that revision applies on a fresh database and
``alembic check`` passes there. Plus: a removed field shows as removed, and the storage
calculator on a populated table.

The org is this module's own (it is mutated); each database is created here and dropped after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from embedded_stack.connections import salesforce_connection
from salesforce_elt import registry
from salesforce_elt.cli import main
from salesforce_elt.schema.storage import storage_report
from salesforce_emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
REAL_REGISTRY = REPO / "plugins" / "salesforce_elt" / "registry.py"
REAL_VERSIONS = REPO / "migrations" / "versions"


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("schema_emulator"), contacts=60, seed=6, bulk_delay=0.05) as server:
        yield server


@pytest.fixture
def sf_env(org, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(org.connection_info))
    return org


@pytest.fixture(scope="module")
def new_database(warehouse_url):
    """Factory: a fresh, empty database on the test server (dropped at module end); returns its URL."""
    created = []

    def create() -> str:
        name = f"schema_tools_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return sa.make_url(warehouse_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """What add-fields edits: plugins/, migrations/, alembic.ini and sql/ copied to a temp folder."""
    root = tmp_path_factory.mktemp("repo_copy")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("plugins", "migrations", "sql"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    shutil.copy2(REPO / "alembic.ini", root / "alembic.ini")
    return root


def run_in_copy(repo: Path, *args: str, database: str, org: EmulatorServer) -> subprocess.CompletedProcess:
    """A fresh interpreter importing salesforce_elt from the copy (never from the real repo)."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=f"{repo / 'plugins'}{os.pathsep}{repo}",
        SALESFORCE_ELT_WAREHOUSE_URL=database,
        AIRFLOW_CONN_SALESFORCE_DEFAULT=salesforce_connection(org.connection_info),
    )
    return subprocess.run(
        [sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )


def alembic(repo: Path, database: str, org: EmulatorServer, *args: str) -> subprocess.CompletedProcess:
    return run_in_copy(repo, "-m", "alembic", "-c", str(repo / "alembic.ini"), *args, database=database, org=org)


def diff_json(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["schema", "diff", "--json", *args])
    [contact] = [d for d in json.loads(capsys.readouterr().out) if d["object"] == "Contact"]
    return code, contact


def columns_of(database: str, table: str) -> dict[str, tuple[str, int | None]]:
    with psycopg.connect(sa.make_url(database).render_as_string(hide_password=False)) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (registry.warehouse_schema(), table),
        ).fetchall()
    return {name: (data_type, length) for name, data_type, length in rows}


def snapshot_real_repo() -> tuple[bytes, list[str]]:
    return REAL_REGISTRY.read_bytes(), sorted(p.name for p in REAL_VERSIONS.iterdir())


def test_new_custom_field_is_reported_then_adopted_by_a_reviewed_migration(
    sf_env, repo_copy, new_database, capsys
):
    real_before = snapshot_real_repo()
    org = sf_env
    org.org.add_field("Contact", "Region__c", "string", length=40, label="Region")

    code, contact = diff_json(capsys, "--object", "Contact")
    assert code == 1 and contact["drifted"]
    assert {"field": "Region__c", "column": "region", "type": "string", "length": 40} in contact["added"]

    registry_copy = repo_copy / "plugins" / "salesforce_elt" / "registry.py"
    versions_copy = repo_copy / "migrations" / "versions"
    original_copy = registry_copy.read_text()
    add = ("-m", "salesforce_elt", "schema", "add-fields", "--object", "Contact", "--field", "Region__c",
           "--repo-root", str(repo_copy))

    # Autogenerate needs the warehouse at head: on an empty database it fails and changes nothing.
    empty = new_database()
    refused = run_in_copy(repo_copy, *add, database=empty, org=org)
    assert refused.returncode == 2, refused.stderr
    assert "Target database is not up to date" in refused.stderr and "registry left unchanged" in refused.stderr
    assert registry_copy.read_text() == original_copy
    assert sorted(p.name for p in versions_copy.glob("*.py")) == sorted(p.name for p in REAL_VERSIONS.glob("*.py"))

    assert alembic(repo_copy, empty, org, "upgrade", "head").returncode == 0
    added = run_in_copy(repo_copy, *add, database=empty, org=org)
    assert added.returncode == 0, added.stderr
    revision = Path(added.stdout.split("revision: ", 1)[1].splitlines()[0])
    assert revision.parent == versions_copy and revision.name.startswith("0002_add_contact_fields_region")
    source = revision.read_text()
    assert "op.add_column('sf_contacts', sa.Column('region', sa.String(length=40)" in source
    assert "op.drop_column('sf_contacts', 'region'" in source
    assert '        FieldSpec("Region__c", "region", "string", length=40),\n    ),\n)' in registry_copy.read_text()

    # The revision applies on a fresh database, and the models (edited registry) equal the migrations.
    fresh = new_database()
    upgrade = alembic(repo_copy, fresh, org, "upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    check = alembic(repo_copy, fresh, org, "check")
    assert check.returncode == 0, check.stderr + check.stdout
    assert columns_of(fresh, "sf_contacts")["region"] == ("character varying", 40)
    down = alembic(repo_copy, fresh, org, "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    assert "region" not in columns_of(fresh, "sf_contacts")

    assert snapshot_real_repo() == real_before  # the real registry and migrations were never touched


def test_field_removed_from_salesforce_shows_as_removed(sf_env, capsys):
    sf_env.org.remove_field("Contact", "Department")
    code, contact = diff_json(capsys)
    assert code == 1
    assert [f["field"] for f in contact["removed"]] == ["Department"]
    assert contact["missing_soql_fields"] == ["Department"]
    capsys.readouterr()
    assert main(["schema", "diff", "--object", "Contact"]) == 1
    assert "removed   Department  string(80)  column department stays" in capsys.readouterr().out


def test_add_fields_refuses_a_repo_root_it_did_not_import(sf_env, repo_copy, capsys):
    before = (repo_copy / "plugins" / "salesforce_elt" / "registry.py").read_bytes()
    code = main(["schema", "add-fields", "--object", "Contact", "--field", "Region__c", "--repo-root", str(repo_copy)])
    assert code == 2
    assert f"PYTHONPATH={repo_copy / 'plugins'}" in capsys.readouterr().err
    assert (repo_copy / "plugins" / "salesforce_elt" / "registry.py").read_bytes() == before


def test_docs_command_writes_one_page_per_object(sf_env, tmp_path, capsys):
    assert main(["schema", "docs", "--object", "Contact", "--object", "user", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Contact.md", "User.md"]
    contact = (tmp_path / "Contact.md").read_text()
    assert "| `NPI__c` | NPI | string | 20 |" in contact
    assert "Not in the registry" in (tmp_path / "User.md").read_text()


@pytest.fixture(scope="module")
def migrated_database(new_database) -> str:
    url = new_database()
    config = Config(str(REPO / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
    return url


def test_storage_report_splits_bytes_and_projects_the_org(migrated_database):
    schema = registry.warehouse_schema()
    with psycopg.connect(migrated_database) as conn:
        # 300 contacts; every third has a ~6 kB incompressible address, which Postgres moves to TOAST.
        conn.execute(
            f"""
            INSERT INTO {schema}.sf_contacts (salesforce_id, last_name, sf_system_modstamp, is_deleted, mailing_address)
            SELECT '003' || lpad(i::text, 15, '0'), 'Name ' || i, now(), false,
                   CASE WHEN i % 3 = 0 THEN jsonb_build_object('street', (
                       SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 200) j)) END
            FROM generate_series(1, 300) i
            """
        )
        conn.commit()
        conn.execute(f"ANALYZE {schema}.sf_contacts")
        report = storage_report(conn, {"Contact": 30_000})
    [contacts] = [r for r in report if r["table"] == "sf_contacts"]
    assert contacts["objects"] == ["Contact"]
    assert contacts["rows"] == 300 and contacts["estimated_rows"] == 300
    assert contacts["toast_bytes"] > 100 * 6000 * 0.9  # the long addresses live in TOAST
    assert contacts["index_bytes"] > 0 and contacts["table_bytes"] > 0
    total = contacts["total_bytes"]
    assert contacts["table_bytes"] + contacts["index_bytes"] + contacts["toast_bytes"] == total
    assert contacts["bytes_per_row"] == round(total / 300, 1)
    assert contacts["projected_bytes"] == contacts["projected_bytes_by_object"]["Contact"] == round(30_000 * total / 300)


def test_storage_command_projects_with_the_orgs_record_count(sf_env, migrated_database, monkeypatch, capsys):
    monkeypatch.setenv("SALESFORCE_ELT_WAREHOUSE_URL", migrated_database)
    capsys.readouterr()
    assert main(["storage", "--json"]) == 0
    [contacts] = [r for r in json.loads(capsys.readouterr().out) if r["table"] == "sf_contacts"]
    [expected] = sf_env.org.record_counts(["Contact"])
    assert contacts["org_records"] == {"Contact": expected["count"]}
    assert main(["storage", "--no-projection"]) == 0
    text = capsys.readouterr().out
    assert f"{registry.warehouse_schema()}.sf_contacts" in text and "bytes/row" in text


def test_storage_command_on_an_unmigrated_warehouse_says_what_to_do(new_database, monkeypatch, capsys):
    monkeypatch.setenv("SALESFORCE_ELT_WAREHOUSE_URL", new_database())
    assert main(["storage", "--no-projection"]) == 2
    assert "does not exist: apply the migrations (alembic upgrade head)" in capsys.readouterr().err
