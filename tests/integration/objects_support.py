"""Shared pieces of the every-object and targeted sync tests.

The warehouse is compared field by field with an independent read of the emulator: simple-
salesforce on its own session, REST queryAll (query for objects without queryAll), selecting the
compound address fields the pipeline never asks for. Derived columns are recomputed from the
REST values with the rules of salesforce_elt.activity.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
import requests

from salesforce_elt.registry import REGISTRY, SObjectSpec, tables

ORDER = (
    "salesforce_sync_users",
    "salesforce_sync_contacts",
    "salesforce_sync_activities",
    "salesforce_sync_task_who_relations",
)


def rest_client(org):
    """simple-salesforce on a session trusting the emulator's CA (the independent reader)."""
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.verify = org.connection_info["ca_file"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    info = org.connection_info
    token = session.post(
        f"{info['login_url']}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
        timeout=30,
    )
    token.raise_for_status()
    return Salesforce(
        instance_url=info["instance_url"], session_id=token.json()["access_token"], session=session
    )


def salesforce_records(rest, spec: SObjectSpec) -> dict[str, dict]:
    fields = ", ".join(["Id", *(f.sf_name for f in spec.fields)])
    records = rest.query_all_iter(f"SELECT {fields} FROM {spec.name}", include_deleted=spec.query_all)
    return {r["Id"]: r for r in records}


def expected(sf_type: str, value: Any) -> Any:
    """A REST JSON value as the warehouse should hold it (psycopg's Python value)."""
    if value is None:
        return None
    if sf_type == "datetime":
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    if sf_type == "date":
        return date.fromisoformat(value)
    if sf_type == "address":
        return {k: v for k, v in value.items() if k != "attributes"}
    if sf_type == "multipicklist":
        return value.split(";")
    return value


def _raw(value: Any) -> str:
    """A REST value as the extract's CSV prints it (what derived columns are computed from)."""
    if value is None:
        return ""
    return str(value)


def expected_derived(spec: SObjectSpec, record: dict) -> dict[str, Any]:
    out: dict[str, Any] = dict(spec.constants)
    for d in spec.derived:
        value = d.compute(*(_raw(record[name]) for name in d.inputs))
        out[d.column] = int(value) if value is not None and d.sf_type == "int" else value
    return out


def warehouse_rows(url: str, spec: SObjectSpec) -> dict[str, dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            f"SELECT * FROM salesforce.{spec.table} WHERE left(salesforce_id, 3) = %s",  # noqa: S608
            (spec.key_prefix,),
        )
        names = [d.name for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur}


def differences(url: str, rest, spec: SObjectSpec, limit: int = 20) -> list[str]:
    """Field-by-field differences between the warehouse and Salesforce for one object (empty: equal).

    Rows the org no longer returns must be marked deleted: purged records, and for relations
    (no queryAll) removed relations and those of deleted tasks.
    """
    records, rows = salesforce_records(rest, spec), warehouse_rows(url, spec)
    problems = [
        f"{spec.name} {i}: in Salesforce, not in the warehouse" for i in sorted(records.keys() - rows.keys())
    ]
    for record_id, record in records.items():
        row = rows.get(record_id)
        if row is None:
            continue
        if spec.delete_handling == "relations" and row["is_deleted"]:
            problems.append(f"{spec.name} {record_id}: live in Salesforce, flagged deleted in the warehouse")
        for f in spec.fields:
            want, got = expected(f.sf_type, record[f.sf_name]), row[f.column]
            if want != got:
                problems.append(f"{spec.name} {record_id}.{f.column}: Salesforce {want!r}, warehouse {got!r}")
        for column, want in expected_derived(spec, record).items():
            if row[column] != want:
                problems.append(
                    f"{spec.name} {record_id}.{column}: expected {want!r}, warehouse {row[column]!r}"
                )
        if len(problems) > limit:
            return problems
    for record_id in sorted(rows.keys() - records.keys()):
        row = rows[record_id]
        if not (row.get("is_deleted") and row["sf_deleted_at"]):
            problems.append(f"{spec.name} {record_id}: gone from Salesforce but live in the warehouse")
    return problems[: limit + 1]


def all_differences(url: str, rest) -> list[str]:
    return [problem for spec in REGISTRY.values() for problem in differences(url, rest, spec)]


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every synced table's rows, sync metadata included (a no-op run must not touch anything)."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM salesforce.{table} ORDER BY salesforce_id").fetchall()  # noqa: S608
            for table in tables()
        }


def run_dag(dag, logical_date: datetime | None = None):
    for task in dag.tasks:
        task.retries = 0  # fail fast here; retries are the scheduler's business
    dag_run = dag.test(logical_date=logical_date)
    assert dag_run.state == "success", f"{dag.dag_id} run {dag_run.run_id} ended {dag_run.state}"
    return dag_run


def run_object_dags(logical_date: datetime | None = None) -> None:
    """Every registry DAG once, in make demo's order, each freshly built as a parse would."""
    from salesforce_elt.dag_factory import build_object_dags

    for dag_id in ORDER:
        run_dag(build_object_dags()[dag_id], logical_date)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
