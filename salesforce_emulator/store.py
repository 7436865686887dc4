"""The on-disk org: SQLite (WAL), opened (and generated on first use, see generate.py), schema
drift, the ``/updated`` and ``/deleted`` feeds, record counts; queries compiled by ``soql`` and
streamed by ``cursor``, changes simulated by ``mutate``.

Storage conventions (the SOQL translator relies on them):
- one table per object, named like the object, one column per physical field named like the
  field (canonical case); compound fields (addresses) and formula fields have no column;
- datetimes are TEXT in Salesforce's wire format ``YYYY-MM-DDTHH:MM:SS.000+0000`` (always UTC,
  fixed width, so text order is time order; Salesforce keeps second precision); dates are
  ``YYYY-MM-DD``; booleans are 0/1;
- objects with ``IsDeleted`` also carry ``_deleted_at`` (when the row went to the recycle bin);
- ``_hard_deleted`` logs rows removed for good (emptied recycle bin) for the ``/deleted`` feed;
  ``_meta``'s ``delete_log_purged:<Object>`` is where a purge of that log left the feed's start;
- ``_meta`` holds (contacts, seed, schema version, anchor, id counters), ``_drift`` the
  persisted ``add_field`` / ``remove_field`` operations (replayed on open, and re-read when
  another process changes them).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import objects as md
from . import seed as sd
from .cursor import QueryCursor
from .errors import SalesforceError
from .generate import generate
from .mutate import mutate as _mutate
from .mutate import set_values as _set_values
from .soql import compile_query
from .tables import DB_NAME, SCHEMA_VERSION, live_filter, q, table_columns

# Kept importable from here: the names callers used before the generation, the table layout
# and the cursor had modules of their own.
__all__ = ["DB_NAME", "SCHEMA_VERSION", "Org", "QueryCursor", "generate", "q", "table_columns"]

FEED_UPDATED_DAYS = 30
FEED_DELETED_DAYS = 15
FEED_ID_LIMIT = 600_000
DELETE_LOG_PURGED = "delete_log_purged:"  # _meta key prefix: the object's earliestDateAvailable after a purge


def _connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=check_same_thread, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Cross-process lock so that only one process generates the org file."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_meta(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return dict(conn.execute("SELECT key, value FROM _meta").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return None


class Org:
    """An emulated org backed by ``DIR/org.sqlite``; safe to share between threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema: md.Schema | None = None
        self._drift_seq = -1
        self.meta = dict(self._conn().execute("SELECT key, value FROM _meta").fetchall())

    @classmethod
    def open(cls, data_dir: Path | str, *, contacts: int = 2000, seed: int = 42,
             progress: Callable[[str], None] | None = None, shared_activities: bool = True) -> Org:
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / DB_NAME
        with _file_lock(data_dir / ".org.lock"):
            meta = _read_meta(path)
            wanted = {"contacts": str(contacts), "seed": str(seed), "schema_version": str(SCHEMA_VERSION),
                      "shared_activities": "1" if shared_activities else "0"}
            if meta is None or any(meta.get(k) != v for k, v in wanted.items()):
                generate(path, contacts, seed, progress=progress, shared_activities=shared_activities)
        return cls(path)

    @classmethod
    def attach(cls, data_dir: Path | str) -> Org:
        """Open an existing org file whatever its parameters (for the ``mutate`` CLI)."""
        path = Path(data_dir) / DB_NAME
        if _read_meta(path) is None:
            raise FileNotFoundError(path)
        return cls(path)

    @property
    def shared_activities(self) -> bool:
        """Whether the org has Shared Activities (TaskRelation, TaskWhoRelation, EventWhoRelation)."""
        return self.meta.get("shared_activities", "1") == "1"

    # -- connections and schema --
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; callers open their own transactions)."""
        return self._conn()

    def reader(self) -> sqlite3.Connection:
        """A dedicated connection for one streaming query (may be handed to another thread)."""
        return _connect(self.path, check_same_thread=False)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def schema(self) -> md.Schema:
        seq = self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM _drift").fetchone()[0]
        with self._schema_lock:
            if self._schema is None or seq != self._drift_seq:
                schema = md.Schema(shared_activities=self.shared_activities)
                for op, obj, fname, spec in self._conn().execute(
                        "SELECT op, object, field, spec FROM _drift ORDER BY seq"):
                    if op == "add":
                        if schema.objects[obj].field(fname) is None:
                            schema.add_field(obj, md.field_from_json(json.loads(spec)))
                    else:
                        schema.remove_field(obj, fname)
                self._schema, self._drift_seq = schema, seq
            return self._schema

    def sobject(self, object_name: str) -> md.SObject:
        obj = self.schema().get(object_name)
        if obj is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    # -- describe --
    def describe_global(self, api_version: str = "59.0") -> dict:
        return self.schema().describe_global(api_version)

    def describe(self, object_name: str, api_version: str = "59.0") -> dict:
        obj = self.sobject(object_name)
        return self.schema().describe(obj, api_version)

    def record_counts(self, names: list[str]) -> list[dict]:
        out = []
        conn = self._conn()
        for name in names:
            obj = self.schema().get(name)
            if obj is None:
                continue
            where = live_filter(obj, "t")
            sql = f"SELECT COUNT(*) FROM {q(obj.name)} AS t" + (f" WHERE {where}" if where else "")  # noqa: S608
            out.append({"name": obj.name, "count": conn.execute(sql).fetchone()[0]})
        return out

    # -- query --
    def query(self, soql: str, *, include_deleted: bool = False, api: str = "rest",
              api_version: str = "59.0") -> QueryCursor:
        if api not in ("rest", "bulk"):
            raise ValueError(f"api must be 'rest' or 'bulk', not {api!r}")
        plan = compile_query(soql, self.schema(), include_deleted=include_deleted, api=api,
                             api_version=api_version)
        return QueryCursor(self, plan)

    # -- feeds --
    def updated(self, object_name: str, start: datetime, end: datetime,
                lag: timedelta = timedelta(0)) -> dict:
        """``lag``: latestDateCovered stays that far behind ``end`` (changes still in flight)."""
        obj = self._replication_object(object_name, "getUpdated")
        now = self._now()
        # The feeds work at minute granularity: seconds of start/end are ignored.
        start, end = _floor_minute(_utc(start)), _floor_minute(_utc(end))
        _check_window(start, end, now, FEED_UPDATED_DAYS)
        latest = max(start, _floor_minute(min(end, now)) - lag)
        live = live_filter(obj, "t", include_archived=True)
        sql = (f"SELECT t.{q('Id')} FROM {q(obj.name)} AS t WHERE t.{q('SystemModstamp')} >= ? "  # noqa: S608
               f"AND t.{q('SystemModstamp')} < ?" + (f" AND {live}" if live else "") + f" ORDER BY t.{q('Id')}")
        ids = [r[0] for r in self._conn().execute(sql, (sd.fmt_ts(int(start.timestamp())),
                                                         sd.fmt_ts(int(latest.timestamp()))))]
        if len(ids) > FEED_ID_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT",
                                  "record limit reached. Please narrow the date range")
        return {"ids": ids, "latestDateCovered": _iso(latest)}

    def deleted(self, object_name: str, start: datetime, end: datetime,
                lag: timedelta = timedelta(0)) -> dict:
        """``lag``: latestDateCovered stays that far behind ``end``, and later deletions are not listed."""
        obj = self._replication_object(object_name, "getDeleted")
        now = self._now()
        start, end = _floor_minute(_utc(start)), _floor_minute(_utc(end))
        earliest = self._earliest_deleted(obj.name, now)
        if start < earliest:
            # The code is documented (SOAP getDeleted(): "If purging has been performed before your
            # getDeleted() call is executed, an INVALID_REPLICATION_DATE error is returned"); the
            # message text is not (unverified).
            raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                                  f"startDate cannot be before earliestDateAvailable: {_iso(earliest)}")
        _check_window(start, end, now, None)
        if end - start <= timedelta(minutes=1):
            # getDeleted(): startDate must precede endDate "by more than one minute", and the seconds
            # are ignored; compared here after dropping them (the stricter reading).
            raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                                  "startDate must chronologically precede endDate by more than one minute")
        latest = max(start, _floor_minute(min(end, now)) - lag)
        lo, hi = sd.fmt_ts(int(start.timestamp())), sd.fmt_ts(int(latest.timestamp()))
        conn = self._conn()
        rows: list[tuple[str, str]] = []
        if obj.has_is_deleted:
            rows += conn.execute(
                f"SELECT {q('Id')}, _deleted_at FROM {q(obj.name)} WHERE _deleted_at >= ? AND _deleted_at < ?",  # noqa: S608
                (lo, hi)).fetchall()
        rows += conn.execute("SELECT id, deleted_at FROM _hard_deleted WHERE object = ? AND deleted_at >= ? "
                             "AND deleted_at < ?", (obj.name, lo, hi)).fetchall()
        if len(rows) > FEED_ID_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "record limit reached. Please narrow the date range")
        rows.sort(key=lambda r: (r[1], r[0]))
        return {"deletedRecords": [{"id": i, "deletedDate": d} for i, d in rows],
                "earliestDateAvailable": _iso(earliest), "latestDateCovered": _iso(latest)}

    def _earliest_deleted(self, object_name: str, now: datetime) -> datetime:
        """earliestDateAvailable: 15 days back, or later where the delete log was purged."""
        earliest = _floor_minute(now - timedelta(days=FEED_DELETED_DAYS))
        row = self._conn().execute("SELECT value FROM _meta WHERE key = ?",
                                   (f"{DELETE_LOG_PURGED}{object_name}",)).fetchone()
        return max(earliest, _parse_wire(row[0])) if row else earliest

    def purge_delete_log(self, object_name: str | None = None, before: datetime | None = None) -> dict:
        """Trim the delete log as Salesforce's background job does when it has grown large.

        The new earliestDateAvailable of ``object_name`` (every object when None) is the first
        whole minute at or after ``before`` (default: now): the entries deleted before it leave the
        log, and ``/deleted`` answers INVALID_REPLICATION_DATE for any earlier start. Records in the
        recycle bin stay there (queryAll still returns them); only the feed forgets them.
        Returns {object: earliestDateAvailable}.
        """
        before = _utc(before or self._now())
        minute = _floor_minute(before)
        earliest = minute if minute == before else minute + timedelta(minutes=1)
        names = ([self._replication_object(object_name, "getDeleted").name] if object_name else
                 [o.name for o in self.schema().objects.values() if o.replicateable])
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                conn.execute("DELETE FROM _hard_deleted WHERE object = ? AND deleted_at < ?", (name, _iso(earliest)))
                key = f"{DELETE_LOG_PURGED}{name}"
                row = conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
                if row is None or _parse_wire(row[0]) < earliest:  # a purge never brings entries back
                    conn.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (key, _iso(earliest)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {name: _iso(self._earliest_deleted(name, self._now())) for name in names}

    @staticmethod
    def _now() -> datetime:
        """Wall-clock "now" of the feeds (tests patch it to look past the current minute)."""
        return datetime.now(UTC)

    def _replication_object(self, object_name: str, op: str) -> md.SObject:
        obj = self.sobject(object_name)
        if not obj.replicateable:
            # Unverified: the exact code/message for getUpdated/getDeleted on a non-replicateable
            # entity; INVALID_TYPE_FOR_OPERATION is the code Salesforce uses for "this entity does
            # not support this operation".
            raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION",
                                  f"entity type {obj.name} does not support {op}")
        return obj

    # -- change simulation (mutate.py) and schema drift --
    def mutate(self, object_name: str, *, update: int = 0, create: int = 0, delete: int = 0,
               hard_delete: int = 0, late_share: float = 0.0, seed: int | None = None,
               bump_parent: bool = False) -> dict:
        return _mutate(self, object_name, update=update, create=create, delete=delete,
                      hard_delete=hard_delete, late_share=late_share, seed=seed, bump_parent=bump_parent)

    def set_values(self, object_name: str, values: dict[str, dict[str, Any]]) -> list[str]:
        """Update given fields of existing records, as an API update would (see mutate.set_values)."""
        return _set_values(self, object_name, values)

    def add_field(self, object_name: str, field_name: str, field_type: str = "string",
                  **describe_attrs: Any) -> None:
        obj = self.sobject(object_name)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,42}", field_name):
            raise SalesforceError(400, "INVALID_FIELD", f"Invalid field API name: {field_name!r}")
        if obj.field(field_name) is not None:
            raise SalesforceError(400, "DUPLICATE_DEVELOPER_NAME", f"Field {field_name} already exists")
        if field_type not in md.SOAP_TYPES or field_type in md.COMPOUND_TYPES or field_type == "id":
            raise SalesforceError(400, "INVALID_TYPE", f"Unsupported field type for schema drift: {field_type!r}")
        f = md.make_field(field_name, field_type, **describe_attrs)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = {r[1] for r in conn.execute(f"PRAGMA table_info({q(obj.name)})")}
            if f.name not in existing:
                conn.execute(f"ALTER TABLE {q(obj.name)} ADD COLUMN {q(f.name)} {md.sql_affinity(f.type)}")
            elif existing:
                # re-adding a removed field: it comes back empty, like a new field
                conn.execute(f"UPDATE {q(obj.name)} SET {q(f.name)} = NULL")  # noqa: S608
            if f.type == "boolean":
                conn.execute(f"UPDATE {q(obj.name)} SET {q(f.name)} = 0")  # noqa: S608
            conn.execute("INSERT INTO _drift (op, object, field, spec) VALUES ('add', ?, ?, ?)",
                         (obj.name, f.name, json.dumps(md.field_to_json(f))))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def remove_field(self, object_name: str, field_name: str) -> None:
        obj = self.sobject(object_name)
        f = obj.field(field_name)
        if f is None:
            raise SalesforceError(404, "NOT_FOUND", f"No such field {object_name}.{field_name}")
        if f.name in ("Id", "IsDeleted", "SystemModstamp", "CreatedDate", "LastModifiedDate"):
            raise SalesforceError(400, "CANNOT_DELETE_MANAGED_OBJECT", f"Cannot remove standard field {f.name}")
        # The column stays in the table (like data of a deleted field awaiting purge); the field
        # disappears from describe and from SOQL.
        self._conn().execute("INSERT INTO _drift (op, object, field, spec) VALUES ('remove', ?, ?, NULL)",
                             (obj.name, f.name))


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _floor_minute(d: datetime) -> datetime:
    return d.replace(second=0, microsecond=0)


def _iso(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse_wire(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000+0000").replace(tzinfo=UTC)


def _check_window(start: datetime, end: datetime, now: datetime, max_days: int | None) -> None:
    if end <= start:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    if max_days is not None and start < now - timedelta(days=max_days):
        raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                              f"startDate cannot be more than {max_days} days ago")

