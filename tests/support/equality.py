"""A warehouse table compared field by field with an independent REST read of the emulated org.

Works for any registry spec: REST queryAll (query for objects without queryAll) selecting the
compound fields the pipeline never asks for; derived columns are recomputed from the REST values
with the rules of salesforce_elt.engine.activity. Never compares with the pipeline's own files.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg

from salesforce_elt.engine.registry import SObjectSpec


def salesforce_records(rest, spec: SObjectSpec) -> dict[str, dict]:
    """Every record of ``spec`` (deleted ones too when it has queryAll), compounds as REST returns them."""
    fields = ", ".join(["Id", *(f.sf_name for f in spec.fields)])
    records = rest.query_all_iter(f"SELECT {fields} FROM {spec.name}", include_deleted=spec.query_all)
    return {r["Id"]: r for r in records}


def _without_nul(value: Any) -> Any:
    """Text as the warehouse holds it: NUL characters removed (PostgreSQL cannot store them), and a
    value that was only NULs is NULL."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "") or None
    return value


def expected(sf_type: str, value: Any) -> Any:
    """A REST JSON value as the warehouse should hold it (psycopg's Python value)."""
    value = _without_nul(value)
    if value is None:
        return None
    if sf_type == "datetime":
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    if sf_type == "date":
        return date.fromisoformat(value)
    if sf_type in ("address", "location"):
        parts = {k: _without_nul(v) for k, v in value.items() if k != "attributes"}
        return parts if any(v is not None for v in parts.values()) else None
    if sf_type == "multipicklist":
        return value.split(";")
    if sf_type in ("double", "currency", "percent"):
        return Decimal(str(value))  # numeric columns, exact as Salesforce stores them
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
    """salesforce_id -> row (column -> value) of ``spec``'s table, this object's key prefix only."""
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
    (no queryAll) removed relations and those of deleted tasks. Stops after ``limit`` + 1 problems.
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


def assert_table_equals(url: str, rest, spec: SObjectSpec) -> None:
    problems = differences(url, rest, spec)
    assert problems == [], f"{len(problems)} difference(s) (at most 21 listed): {problems[:10]}"
