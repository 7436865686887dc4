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
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from embedded_stack.connections import postgres_connection, salesforce_connection
from salesforce_elt.engine import registry
from salesforce_elt.ops.cli import main
from salesforce_elt.ops.schema.storage import storage_report
from salesforce_emulator.server import EmulatorServer
from tests.support.databases import create_database, drop_database, migrate

REPO = Path(__file__).resolve().parents[2]
REAL_REGISTRY = REPO / "plugins" / "salesforce_elt" / "engine" / "registry.py"
REAL_VERSIONS = REPO / "migrations" / "versions"
REAL_REGISTRY_BEFORE = REAL_REGISTRY.read_bytes()
REAL_VERSIONS_BEFORE = sorted(p.name for p in REAL_VERSIONS.iterdir())
ORG = {"contacts": 60, "seed": 6, "bulk_delay": 0.05}


@pytest.fixture
def sf_env(org, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(org.connection_info))
    return org


@pytest.fixture(scope="module")
def new_database(warehouse_url):
    """Factory: a fresh, empty database on the test server (dropped at module end); returns its URL."""
    created = []

    def create() -> str:
        created.append(create_database(warehouse_url, "schema_tools", revision=None))
        return created[-1]

    yield create
    for url in created:
        drop_database(warehouse_url, url)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """What add-fields edits: plugins/, migrations/, alembic.ini and sql/ copied to a temp folder."""
    root = tmp_path_factory.mktemp("repo_copy")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("plugins", "migrations", "sql"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    shutil.copy2(REPO / "alembic.ini", root / "alembic.ini")
    return root


def run_in_copy(
    repo: Path, *args: str, database: str, org: EmulatorServer, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """A fresh interpreter importing salesforce_elt from the copy (never from the real repo)."""
    full_env = {
        **os.environ,
        "PYTHONPATH": f"{repo / 'plugins'}{os.pathsep}{repo}",
        "SALESFORCE_ELT_WAREHOUSE_URL": database,
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": salesforce_connection(org.connection_info),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=repo, env=full_env, capture_output=True, text=True, timeout=300
    )


# In the copy's interpreter (its edited registry): upgrade a fresh database to head, `alembic check`,
# then downgrade one revision; prints the sf_contacts columns after the upgrade and after the downgrade.
VERIFY_MIGRATIONS = """
import json, sys
import psycopg
from alembic import command
from alembic.config import Config
from salesforce_elt.engine import registry, warehouse

def columns():
    with warehouse.connect() as conn:
        return dict(conn.execute(
            "SELECT column_name, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'sf_contacts'", (registry.warehouse_schema(),)).fetchall())

config = Config(sys.argv[1])
command.upgrade(config, "head")
command.check(config)  # raises when the models (the edited registry) differ from the migrations
after_upgrade = columns()
command.downgrade(config, "-1")
print(json.dumps({"upgraded": after_upgrade, "downgraded": columns()}))
"""


def parsed_json(out: str):
    """The JSON document in a command's output (in-process, Airflow's log lines may share stdout)."""
    return json.JSONDecoder().raw_decode(out, out.index("["))[0]


def diff_json(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["schema", "diff", "--json", *args])
    [contact] = [d for d in parsed_json(capsys.readouterr().out) if d["object"] == "Contact"]
    return code, contact


@pytest.fixture(scope="module")
def region_field(org) -> EmulatorServer:
    """The org gains Contact.Region__c; some contacts then get a value (updates and creates)."""
    org.org.add_field("Contact", "Region__c", "string", length=40, label="Region")
    org.org.mutate("Contact", update=15, create=5)
    return org


@pytest.fixture(scope="module")
def adopted(region_field, repo_copy, new_database) -> subprocess.CompletedProcess:
    """`schema add-fields --object Contact --field Region__c` run in the repo copy."""
    # Autogenerate compares the models with a warehouse at head (the copy's migrations are the real ones).
    warehouse = new_database()
    migrate(warehouse)
    return run_in_copy(
        repo_copy, "-m", "salesforce_elt", "schema", "add-fields", "--object", "Contact", "--field", "Region__c",
        "--repo-root", str(repo_copy), database=warehouse, org=region_field,
    )


def test_new_custom_field_is_reported_then_adopted_by_a_reviewed_migration(
    sf_env, region_field, adopted, repo_copy, new_database, capsys
):
    code, contact = diff_json(capsys, "--object", "Contact")  # the real registry has no Region__c
    assert code == 1 and contact["drifted"]
    assert {"field": "Region__c", "column": "region", "type": "string", "length": 40} in contact["added"]

    assert adopted.returncode == 0, adopted.stderr
    revision = Path(adopted.stdout.split("revision: ", 1)[1].splitlines()[0])
    assert revision.parent == repo_copy / "migrations" / "versions"
    # Numbered after every revision of the real repo (0001, 0002, ...).
    assert revision.name.endswith("_add_contact_fields_region__c.py")
    assert revision.name[:4] > max(name[:4] for name in REAL_VERSIONS_BEFORE if name[:4].isdigit())
    source = revision.read_text()
    assert "op.add_column('sf_contacts', sa.Column('region', sa.String(length=40)" in source
    assert "op.drop_column('sf_contacts', 'region', schema=SCHEMA)" in source  # SALESFORCE_ELT_SCHEMA works
    registry_copy = repo_copy / "plugins" / "salesforce_elt" / "engine" / "registry.py"
    assert '        FieldSpec("Region__c", "region", "string", length=40),\n    ),\n)' in registry_copy.read_text()

    # The revision applies on a fresh database, the models equal the migrations, and it downgrades.
    fresh = new_database()
    verified = run_in_copy(
        repo_copy, "-c", VERIFY_MIGRATIONS, str(repo_copy / "alembic.ini"), database=fresh, org=region_field
    )
    assert verified.returncode == 0, verified.stderr[-2000:]
    columns = json.loads(verified.stdout.strip().splitlines()[-1])
    assert columns["upgraded"]["region"] == 40
    assert "region" not in columns["downgraded"] and "npi" in columns["downgraded"]


def test_the_real_registry_and_migrations_are_never_touched(adopted):
    assert adopted.returncode == 0
    assert REAL_REGISTRY.read_bytes() == REAL_REGISTRY_BEFORE
    assert sorted(p.name for p in REAL_VERSIONS.iterdir()) == REAL_VERSIONS_BEFORE


# In the copy's interpreter: migrate a fresh warehouse to head (0002 included) and run the Contact
# DAG once, as `airflow dags test` would.
SYNC_IN_COPY = """
from datetime import UTC, datetime, timedelta
from alembic import command
from alembic.config import Config
import sys
command.upgrade(Config(sys.argv[1]), "head")
from salesforce_elt.airflow.dag_factory import build_object_dags
dag = build_object_dags()["salesforce_sync_contacts"]
run = dag.test(logical_date=datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))
print("DAG_STATE", run.state)
"""


@pytest.mark.slow
def test_next_sync_fills_the_new_column(airflow_db, region_field, adopted, repo_copy, new_database):
    assert adopted.returncode == 0, adopted.stderr
    fresh = new_database()
    env = {"AIRFLOW_CONN_SALESFORCE_WAREHOUSE": postgres_connection(fresh)}
    synced = run_in_copy(
        repo_copy, "-c", SYNC_IN_COPY, str(repo_copy / "alembic.ini"), database=fresh, org=region_field, env=env
    )
    assert "DAG_STATE success" in synced.stdout, (synced.stdout + synced.stderr)[-3000:]
    cursor = region_field.org.query(
        "SELECT Id, Region__c FROM Contact WHERE Region__c != null", include_deleted=True, api="rest"
    )
    in_salesforce = {r["Id"]: r["Region__c"] for r in cursor.records()}
    assert in_salesforce  # the mutation gave some contacts a region
    with psycopg.connect(fresh) as conn:
        in_warehouse = dict(
            conn.execute(
                f"SELECT salesforce_id, region FROM {registry.warehouse_schema()}.sf_contacts WHERE region IS NOT NULL"
            ).fetchall()
        )
    assert in_warehouse == in_salesforce


def test_field_removed_from_salesforce_shows_as_removed(sf_env, capsys):
    sf_env.org.remove_field("Contact", "Department")
    try:
        code, contact = diff_json(capsys)
        assert code == 1
        assert [f["field"] for f in contact["removed"]] == ["Department"]
        assert contact["missing_soql_fields"] == ["Department"]
        capsys.readouterr()
        assert main(["schema", "diff", "--object", "Contact"]) == 1
        assert re.search(r"removed +Department +string\(80\) +column department stays", capsys.readouterr().out)
    finally:  # the module's other tests sync Contact: give the field back
        sf_env.org.add_field("Contact", "Department", "string", length=80, label="Department")


def test_add_fields_refuses_a_repo_root_it_did_not_import(sf_env, repo_copy, capsys):
    before = (repo_copy / "plugins" / "salesforce_elt" / "engine" / "registry.py").read_bytes()
    code = main(["schema", "add-fields", "--object", "Contact", "--field", "Region__c", "--repo-root", str(repo_copy)])
    assert code == 2
    assert f"PYTHONPATH={repo_copy / 'plugins'}" in capsys.readouterr().err
    assert (repo_copy / "plugins" / "salesforce_elt" / "engine" / "registry.py").read_bytes() == before


def test_docs_command_writes_one_page_per_object(sf_env, tmp_path, capsys):
    assert main(["schema", "docs", "--object", "Contact", "--object", "lead", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Contact.md", "Lead.md"]
    contact = (tmp_path / "Contact.md").read_text()
    assert "| `NPI__c` | NPI | string | 20 |" in contact
    assert "Not in the registry" in (tmp_path / "Lead.md").read_text()


@pytest.fixture(scope="module")
def migrated_database(new_database) -> str:
    url = new_database()
    migrate(url)
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
    [contacts] = [r for r in parsed_json(capsys.readouterr().out) if r["table"] == "sf_contacts"]
    [expected] = sf_env.org.record_counts(["Contact"])
    assert contacts["org_records"] == {"Contact": expected["count"]}
    assert main(["storage", "--no-projection"]) == 0
    text = capsys.readouterr().out
    assert f"{registry.warehouse_schema()}.sf_contacts" in text and "bytes/row" in text


def test_storage_command_on_an_unmigrated_warehouse_says_what_to_do(new_database, monkeypatch, capsys):
    monkeypatch.setenv("SALESFORCE_ELT_WAREHOUSE_URL", new_database())
    assert main(["storage", "--no-projection"]) == 2
    assert "does not exist: apply the migrations (python -m salesforce_elt migrate)" in capsys.readouterr().err
