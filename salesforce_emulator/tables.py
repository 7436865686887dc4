"""How the org's objects are laid out in SQLite: the conventions the store, the SOQL translator
and the change simulation share (see store.py's docstring for the layout itself).

This module depends on the metadata only, so that the SOQL translator and the change simulation
can write SQL for the org's tables without importing the store.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import objects as md

SCHEMA_VERSION = 5
DB_NAME = "org.sqlite"


def q(name: str) -> str:
    """Quote an identifier that comes from metadata (never from a request)."""
    return '"' + name.replace('"', '""') + '"'


def table_columns(obj: md.SObject) -> list[str]:
    cols = [f.name for f in obj.physical_fields]
    if obj.has_is_deleted:
        cols.append("_deleted_at")
    return cols


def live_filter(obj: md.SObject, alias: str, *, include_archived: bool = False) -> str:
    """The rows a query (not queryAll) sees: not in the recycle bin, activities not archived."""
    terms = []
    if obj.has_is_deleted:
        terms.append(f"{alias}.{q('IsDeleted')} = 0")
    if obj.activity and not include_archived:
        # Archived activities are returned only by queryAll.
        terms.append(f"{alias}.{q('IsArchived')} = 0")
    return " AND ".join(terms)


def insert_rows(conn: sqlite3.Connection, obj: md.SObject, cols: dict[str, list[Any]]) -> int:
    """Bulk insert of column lists.

    Two binding costs of Python's sqlite3 dominate generation: ``None`` and ``bool`` are not on
    its fast path (they go through the adapter protocol, ~1 us each). Booleans become 0/1 and
    nulls are bound as '' and turned back into NULL by ``nullif(?, '')`` inside SQLite (the org
    never stores empty strings: Salesforce has none, it has nulls).
    """
    names = table_columns(obj)
    n = len(cols["Id"])
    if "IsDeleted" in names and "_deleted_at" not in cols:
        cols["_deleted_at"] = [None] * n
    booleans = {f.name for f in obj.physical_fields if f.type == "boolean"}
    data = []
    holders = []
    for name in names:
        col = cols.get(name)
        if col is None:
            data.append([""] * n)
            holders.append("nullif(?, '')")
            continue
        if name in booleans:
            col = [1 if v else 0 for v in col]
        if None in col:
            col = ["" if v is None else v for v in col]
            holders.append("nullif(?, '')")
        else:
            holders.append("?")
        data.append(col)
    sql = f"INSERT INTO {q(obj.name)} ({', '.join(q(c) for c in names)}) VALUES ({', '.join(holders)})"  # noqa: S608 - identifiers from metadata
    conn.executemany(sql, zip(*data, strict=True))
    return n
