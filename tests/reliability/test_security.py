"""Issue 9, case 8: no secret anywhere, injection refused, read-only access to Salesforce.

A real DAG run (``dag.test()``) with known secret values — consumer secret, password, security
token, an inline JWT private key, and every access token the org issued — then a search of
everything the pipeline leaves behind: Airflow's task logs and XCom table, the process output,
exception messages, the warehouse's monitoring tables, the staging files.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from airflow.exceptions import AirflowException

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.dag_factory import build_object_dags
from salesforce_elt.engine import registry
from salesforce_elt.engine.registry import CONTACT, FieldSpec
from salesforce_elt.engine.staging import attempt_dir
from tests.reliability.helpers import (
    DAG_ID,
    assert_table_equals_emulator,
    extract_operator,
    run_extract,
    task_context,
)

PRIVATE_KEY_LINES = 3  # PEM body lines searched for (each 64 base64 characters)


def _jwt_connection(info: dict) -> str:
    """The JWT flow with the private key inline, plus a secret, password and token that must not leak."""
    payload = json.loads(salesforce_connection(info, auth_flow="jwt"))
    extra = payload["extra"]
    extra["private_key"] = Path(extra.pop("private_key_file_path")).read_text(encoding="utf-8")
    return json.dumps(payload)


def _secrets(org) -> dict[str, str]:
    info = org.connection_info
    key_body = [
        line
        for line in Path(info["jwt_private_key_file"]).read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("-----")
    ]
    found = {
        "consumer_secret": info["client_secret"],
        "password": info["password"],
        "security_token": info["security_token"],
        **{f"private_key_line_{n}": line for n, line in enumerate(key_body[:PRIVATE_KEY_LINES])},
    }
    # Every access token the org handed out during the module (read from the emulator itself).
    found.update({f"access_token_{n}": token for n, token in enumerate(org.sessions._access)})
    return found


def _leaks(text: str, secrets: dict[str, str], where: str) -> list[str]:
    return [f"{name} in {where}" for name, value in secrets.items() if value and value in text]


def _warehouse_text(url: str) -> str:
    with psycopg.connect(url) as conn:
        tables = ["sync_runs"]
        if conn.execute("SELECT to_regclass('salesforce.api_call_log')").fetchone()[0]:
            tables.append("api_call_log")
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f"SELECT t::text FROM salesforce.{table} t")
        )


def _files_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


def test_no_secret_in_logs_xcom_errors_monitoring_or_staging(empty_table, monkeypatch, logs, airflow_db):
    org, url = empty_table.org, empty_table.warehouse
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", _jwt_connection(org.connection_info))
    dag = build_object_dags()[DAG_ID]
    for task in dag.tasks:
        task.retries = 0
    run = dag.test(logical_date=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    assert run.state == "success"
    assert_table_equals_emulator(url, org)

    # Failures carry messages too: refused credentials, and an aborted Bulk job.
    errors = []
    bad = {**org.connection_info, "client_secret": org.connection_info["client_secret"][::-1]}
    monkeypatch.setenv("AIRFLOW_CONN_SF_BAD", salesforce_connection(bad))
    for operator in (
        extract_operator("rest", conn_id="sf_bad"),
        extract_operator("bulk", job_timeout=timedelta(seconds=0.01)),
    ):
        with pytest.raises(Exception) as err:
            run_extract(operator, task_context("manual__secrets_failures", "extract"))
        errors.append(f"{type(err.value).__name__}: {err.value}")

    secrets = _secrets(org)
    assert len(secrets) > 3 + PRIVATE_KEY_LINES  # tokens were issued and are searched for
    with sqlite3.connect(airflow_db / "airflow.db") as meta:
        xcom = "\n".join(repr(row) for row in meta.execute("SELECT key, value FROM xcom"))
    assert "raw_uri" in xcom  # the run's XCom is there to be searched
    staging = Path(empty_table.staging.removeprefix("file://"))
    assert list((staging / DAG_ID).glob("manual__*/Contact/extract/try-1/raw/part-*.csv"))  # and its files
    leaks = [
        *_leaks(logs(), secrets, "process output"),
        # dag.test() prints task logs to the process output (searched above); files when a runner wrote any.
        *_leaks(_files_text(Path(os.environ["AIRFLOW_HOME"]) / "logs"), secrets, "Airflow task log files"),
        *_leaks(xcom, secrets, "the XCom table"),
        *_leaks("\n".join(errors), secrets, "exception messages"),
        *_leaks(_warehouse_text(url), secrets, "sync_runs/api_call_log"),
        *_leaks(_files_text(staging), secrets, "staging files"),
    ]
    assert leaks == []


ALLOWED_WRITES = (
    ("POST", r"/services/oauth2/token"),
    ("POST", r"/services/data/v\d+\.\d/jobs/query"),
    ("PATCH", r"/services/data/v\d+\.\d/jobs/query/750\w+"),
    ("DELETE", r"/services/data/v\d+\.\d/jobs/query/750\w+"),
)


def test_the_pipeline_never_changes_anything_in_salesforce(empty_table):
    """Bulk with a split and an abort, REST with a page cut: only reads, jobs and their cleanup."""
    import re

    org = empty_table.org
    org.faults.set(bulk_fail_next=1, reset_rest_page_next=1)
    run_extract(extract_operator("bulk"), task_context("manual__readonly_bulk", "extract"))
    run_extract(extract_operator("rest"), task_context("manual__readonly_rest", "extract"))
    with pytest.raises(AirflowException, match="ended timeout"):
        run_extract(
            extract_operator("bulk", job_timeout=timedelta(seconds=0.01)),
            task_context("manual__readonly_abort", "extract"),
        )
    entries = [e for e in org.audit() if e["kind"] != "admin"]
    methods = {e["method"] for e in entries}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods  # every kind of call was exercised ...
    writes = [e for e in entries if e["method"] != "GET"]
    unexpected = [
        (e["method"], e["path"])
        for e in writes
        if not any(e["method"] == m and re.fullmatch(p, e["path"].split("?")[0]) for m, p in ALLOWED_WRITES)
    ]
    assert unexpected == []  # ... and none of them touched a record


# ---- injection through params, ids, names ---------------------------------------------------------------
ATTACKS = [
    ("start", {"start": "2024-01-01T00:00:00Z OR Id != null"}, {}, r"param 'start'=.* is not an ISO 8601"),
    (
        "end",
        {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01' OR ''='"},
        {},
        r"param 'end'=.* is not an ISO",
    ),
    ("ids", {}, {"ids": ["0035g0000A0Gma8AQC", "003' OR Name != '"]}, r"invalid Salesforce id .003' OR Name"),
    ("object", {}, {"object_name": "Contact WHERE Id != null"}, r"not in the registry"),
]


@pytest.mark.parametrize("name, params, kwargs, pattern", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_injection_through_params_ids_and_names_is_refused(empty_table, name, params, kwargs, pattern):
    operator = extract_operator("bulk", **kwargs)
    with pytest.raises((ValueError, KeyError), match=pattern):
        run_extract(operator, task_context(f"manual__attack_{name}", "extract", **params))
    assert not [e for e in empty_table.org.audit() if "/query" in e["path"]]  # no statement was sent


def test_field_and_column_names_from_the_registry_are_validated(empty_table, monkeypatch):
    soql_attack = FieldSpec("Name FROM User WHERE Name != null --", "name2", "string", length=10)
    spec = registry.SObjectSpec(**{**CONTACT.__dict__, "fields": (*CONTACT.fields, soql_attack)})
    monkeypatch.setitem(registry.REGISTRY, "Contact", spec)
    with pytest.raises(ValueError, match=r"invalid Salesforce field name 'Name FROM User"):
        run_extract(extract_operator("bulk"), task_context("manual__attack_field", "extract"))
    assert not [e for e in empty_table.org.audit() if "/query" in e["path"]]

    sql_attack = FieldSpec("Title", 'title"; DROP TABLE salesforce.sf_contacts; --', "string", length=10)
    bad_column = registry.SObjectSpec(**{**CONTACT.__dict__, "fields": (*CONTACT.fields[:5], sql_attack)})
    with pytest.raises(
        ValueError, match=r"column 'title\"; DROP TABLE .* is not a snake_case Postgres identifier"
    ):
        registry.validate([bad_column])


def test_run_ids_cannot_steer_staging_outside_its_folder(empty_table, tmp_path):
    ti = SimpleNamespace(
        dag_id=DAG_ID, run_id="../../../../etc/evil", task_id="extract", map_index=-1, try_number=1
    )
    path = attempt_dir({"ti": ti}, "Contact", base=f"file://{tmp_path}")
    assert Path(path.path).resolve().is_relative_to(tmp_path.resolve())
