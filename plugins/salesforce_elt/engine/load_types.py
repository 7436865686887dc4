"""The load's request, result and error types, and its DML templates (sql/): shared by load.py
and load_deletes.py (re-exported from salesforce_elt.engine.load)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from psycopg import sql

from salesforce_elt import settings
from salesforce_elt.engine.registry import SObjectSpec, warehouse_schema

SQL_DIR = settings.project_home() / "sql"
DELETED_HEADER = ("Id", "deletedDate")
ID_LIST_HEADER = ("Id", "IsDeleted")  # the extract's list of every current Id (a queryAll)


class LoadError(RuntimeError):
    """The staged files do not add up (missing file, row count mismatch, bad deleted.csv)."""


@cache
def template(name: str) -> sql.SQL:
    """A DML template from sql/ (identifiers are filled in with psycopg.sql, never by f-strings)."""
    return sql.SQL((SQL_DIR / name).read_text(encoding="utf-8"))


@dataclass
class LoadRequest:
    spec: SObjectSpec
    typed_dir: Any  # ObjectStoragePath or pathlib.Path
    typed_files: list[str]
    columns: list[str]
    expected_rows: int
    sync_run_id: str
    window_end: datetime | None = None
    deleted_file: Any = None  # path of deleted.csv (Id,deletedDate) or None
    # The batch is a complete queryAll read of the object (full refresh, no rejects): live rows
    # missing from it were purged from Salesforce and are marked deleted.
    reconcile_missing: bool = False
    run: dict[str, Any] = field(default_factory=dict)  # extra sync_runs columns (dag_id, api, ...)
    # False for a read that does not start at or before the mark (targeted ids, an explicit
    # window ahead of it): moving the mark would skip what lies between.
    advance_high_water_mark: bool = True
    # latestDateCovered of the window's /deleted feed when it stops before window_end: deletions
    # after it are not listed yet, so the high-water mark stops there.
    deletes_covered_to: datetime | None = None
    relation_scope: RelationScope | None = None  # delete_handling "relations" only
    # The /deleted feed could not cover the window: every current Id instead (see IdReconcile).
    id_reconcile: IdReconcile | None = None
    # COPY straight into the target when it has no rows (False: always the staged upsert).
    allow_direct_copy: bool = True


@dataclass
class RelationScope:
    """Whose relation sets the batch holds in full (delete_handling "relations", TaskWhoRelation).

    Either every relation (``complete``: a full read) or the relations of the parent records
    listed in ``parent_files`` (CSV files whose first column is the parent Id: the parents changed
    in the window, from a queryAll, and the parents in the /deleted feed). A live row of such a
    parent that the batch lacks was removed in Salesforce and is marked deleted.
    """

    parent_column: str  # e.g. "task_id"
    parent_prefix: str  # e.g. "00T": every parent id is checked before it is used
    complete: bool = False
    parent_files: list[Any] = field(default_factory=list)


@dataclass
class IdReconcile:
    """Every current Id of the object (a queryAll, so the recycle bin's too), read because the
    /deleted feed could not list the window's deletions (purged delete log, older than 15 days).

    A stored live row older than the window end whose Id is not in the list was hard-deleted:
    it is marked deleted (sql/mark_missing_deleted.sql, the full refresh's rule).
    """

    ids_dir: Any  # ObjectStoragePath or pathlib.Path of CSV parts whose first column is Id
    files: list[str]
    reason: str  # why the feed could not be used (Salesforce's message), for sync_runs
    earliest_available: str | None = None  # the feed's earliestDateAvailable, when Salesforce named it


@dataclass
class LoadStats:
    copied_rows: int = 0
    new_records: int = 0
    updated_records: int = 0
    deleted_records: int = 0
    high_water_mark: datetime | None = None
    seconds: float = 0.0
    deletes_reconciled: str | None = None  # why and how deletes were found by comparing Ids


def qualified(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(warehouse_schema()), sql.Identifier(name))
