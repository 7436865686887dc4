"""The on-disk org: SQLite (WAL), deterministic seeding, change simulation, schema drift, the
``/updated`` and ``/deleted`` feeds and record counts.

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
import gc
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import objects as md
from . import seed as sd
from .errors import SalesforceError

SCHEMA_VERSION = 5
DB_NAME = "org.sqlite"

# Id (unique) and (SystemModstamp, Id) everywhere; TaskId for the relation rows that follow their
# Task. Semi-joins (Id IN (SELECT WhoId FROM Task ...)) are materialized by SQLite and need none.
INDEXES = {
    "User": [("Id",), ("SystemModstamp", "Id")],
    "Account": [("Id",), ("SystemModstamp", "Id")],
    "Contact": [("Id",), ("SystemModstamp", "Id")],
    "Lead": [("Id",), ("SystemModstamp", "Id")],
    "Task": [("Id",), ("SystemModstamp", "Id")],
    "Event": [("Id",), ("SystemModstamp", "Id")],
    "TaskWhoRelation": [("Id",), ("SystemModstamp", "Id"), ("TaskId",)],
    "EventRelation": [("Id",), ("SystemModstamp", "Id"), ("EventId",)],
}
FEED_UPDATED_DAYS = 30
FEED_DELETED_DAYS = 15
FEED_ID_LIMIT = 600_000
DELETE_LOG_PURGED = "delete_log_purged:"  # _meta key prefix: the object's earliestDateAvailable after a purge


def q(name: str) -> str:
    """Quote an identifier that comes from metadata (never from a request)."""
    return '"' + name.replace('"', '""') + '"'


def table_columns(obj: md.SObject) -> list[str]:
    cols = [f.name for f in obj.physical_fields]
    if obj.has_is_deleted:
        cols.append("_deleted_at")
    return cols


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


# --- generation ---------------------------------------------------------------------------------

def _create_tables(conn: sqlite3.Connection, schema: md.Schema) -> None:
    for obj in schema.objects.values():
        if obj.view_of:
            continue
        cols = []
        for f in obj.physical_fields:
            cols.append(f"{q(f.name)} {md.sql_affinity(f.type)}")
        if obj.has_is_deleted:
            cols.append('"_deleted_at" TEXT')
        conn.execute(f"CREATE TABLE {q(obj.name)} ({', '.join(cols)})")
    for obj in schema.objects.values():
        if obj.view_of:
            conn.execute(_view_sql(obj, schema.objects[obj.view_of]))
    conn.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE _hard_deleted (object TEXT, id TEXT, deleted_at TEXT)")
    conn.execute("CREATE TABLE _drift (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT, object TEXT, "
                 "field TEXT, spec TEXT)")


def _view_sql(obj: md.SObject, storage: md.SObject) -> str:
    """A view object (TaskRelation) over its storage table (TaskWhoRelation), same ids and stamps."""
    cols = [f"{q(f.name)}" if storage.field(f.name) is not None else f"{obj.view_values[f.name]} AS {q(f.name)}"
            for f in obj.physical_fields]
    where = f" WHERE {obj.view_where}" if obj.view_where else ""
    return f"CREATE VIEW {q(obj.name)} AS SELECT {', '.join(cols)}, _deleted_at FROM {q(storage.name)}{where}"  # noqa: S608


# Indexes whose keys arrive in increasing order during generation (Id; a relation row's TaskId)
# are created with the table: appending to them is cheap. The others are built after loading.
EARLY_INDEXES = {("Id",), ("TaskId",), ("EventId",)}


def _create_indexes(conn: sqlite3.Connection, objects: tuple[str, ...], *, early: bool) -> None:
    for obj in objects:
        for cols in INDEXES[obj]:
            if (cols in EARLY_INDEXES) != early:
                continue
            name = f"ix_{obj}_{'_'.join(cols)}"
            unique = "UNIQUE " if cols == ("Id",) else ""
            conn.execute(f"CREATE {unique}INDEX {q(name)} ON {q(obj)} ({', '.join(q(c) for c in cols)})")


def _insert(conn: sqlite3.Connection, obj: md.SObject, cols: dict[str, list]) -> int:
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


# Parallel generation: this process writes User and Contact (the bulk of the work); a second
# process writes Account, Lead and the activities into a side file that is merged at the end.
MAIN_OBJECTS = ("User", "Contact")
WORKER_OBJECTS = ("Account", "Lead", "Task", "Event", "TaskWhoRelation", "EventRelation")
# From this many contacts on, generation uses the second process.
PARALLEL_THRESHOLD = 100_000


def _bulk_pragmas(conn: sqlite3.Connection) -> None:
    # A throw-away file renamed into place when complete: no journal, no fsync while loading.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA temp_store=MEMORY")


def load_users_contacts(conn: sqlite3.Connection, schema: md.Schema, ctx: sd.GenContext, users: dict,
                        plan: list[int], deletions: list, seed: int, say: Callable[[str], None],
                        t0: float) -> dict[str, int]:
    objs = schema.objects
    counts = {"User": _insert(conn, objs["User"], users), "Contact": 0}
    for i0 in range(0, ctx.contacts, sd.BATCH):
        i1 = min(i0 + sd.BATCH, ctx.contacts)
        ctx.rng = sd.stream(seed, f"contacts/{i0}")
        cols = sd.gen_contacts(ctx, i0, i1, plan)
        sd.apply_deletions(ctx, "Contact", cols, soft=sd.CONTACT_SOFT_DELETE, hard=sd.CONTACT_HARD_DELETE,
                           plan=deletions[i0:i1])
        counts["Contact"] += _insert(conn, objs["Contact"], cols)
        say(f"contacts {i1}/{ctx.contacts} {time.monotonic() - t0:.1f}s")
    return counts


def load_accounts_leads_activities(conn: sqlite3.Connection, schema: md.Schema, ctx: sd.GenContext,
                                   plan: list[int], seed: int, say: Callable[[str], None],
                                   t0: float) -> dict[str, int]:
    objs = schema.objects
    ctx.rng = sd.stream(seed, "accounts")
    acc = sd.gen_accounts(ctx)
    sd.apply_deletions(ctx, "Account", acc, soft=0.005, hard=0.0)
    counts = {"Account": _insert(conn, objs["Account"], acc)}
    ctx.rng = sd.stream(seed, "leads")
    leads = sd.gen_leads(ctx)
    sd.apply_deletions(ctx, "Lead", leads, soft=0.01, hard=0.002)
    counts["Lead"] = _insert(conn, objs["Lead"], leads)
    counts.update({"Task": 0, "Event": 0, "TaskWhoRelation": 0, "EventRelation": 0})
    for n, i0 in enumerate(range(0, ctx.contacts, sd.BATCH)):
        i1 = min(i0 + sd.BATCH, ctx.contacts)
        ctx.rng = sd.stream(seed, f"activities/{i0}")
        batch = sd.gen_activities(ctx, plan, i0, i1, lead_share=(n == 0))
        counts["Task"] += _insert(conn, objs["Task"], batch.tasks)
        counts["Event"] += _insert(conn, objs["Event"], batch.events)
        counts["TaskWhoRelation"] += _insert(conn, objs["TaskWhoRelation"], batch.relations)
        counts["EventRelation"] += _insert(conn, objs["EventRelation"], batch.event_relations)
        say(f"activities {i1}/{ctx.contacts} {time.monotonic() - t0:.1f}s")
    return counts


def _counters(ctx: sd.GenContext) -> dict[str, str]:
    return {"counter:Task": str(ctx.task_counter), "counter:Event": str(ctx.event_counter),
            "counter:TaskWhoRelation": str(ctx.twr_counter), "counter:EventRelation": str(ctx.ewr_counter)}


def generate_side_file(path: Path, contacts: int, seed: int, anchor: int) -> dict[str, int]:
    """Worker side of parallel generation: Account, Lead and the activities into their own file."""
    gc.disable()
    schema = md.Schema()
    conn = sqlite3.connect(str(path), isolation_level=None)
    _bulk_pragmas(conn)
    conn.execute("BEGIN")
    _create_tables(conn, schema)
    ctx, _users, plan, _deletions = sd.base_context(contacts, seed, anchor)
    parent = os.getppid()

    def orphan_check(_msg: str) -> None:
        if os.getppid() != parent:   # the generating process died: stop, leave nothing behind
            conn.close()
            path.unlink(missing_ok=True)
            os._exit(3)

    counts = load_accounts_leads_activities(conn, schema, ctx, plan, seed, orphan_check, time.monotonic())
    conn.executemany("INSERT INTO _hard_deleted VALUES (?, ?, ?)", ctx.hard_deleted)
    conn.executemany("INSERT INTO _meta VALUES (?, ?)", [
        *_counters(ctx).items(), *((f"count:{k}", str(v)) for k, v in counts.items())])
    conn.execute("COMMIT")
    conn.close()
    return counts


def _merge_side_file(conn: sqlite3.Connection, aux: Path, counts: dict[str, int]) -> dict[str, str]:
    conn.execute("COMMIT")
    conn.execute("ATTACH DATABASE ? AS aux", (str(aux),))
    conn.execute("BEGIN")
    for name in WORKER_OBJECTS:
        # rowid order of the side table is Id order: appends to the Id index
        conn.execute(f"INSERT INTO main.{q(name)} SELECT * FROM aux.{q(name)}")  # noqa: S608
        row = conn.execute("SELECT value FROM aux._meta WHERE key = ?", (f"count:{name}",)).fetchone()
        counts[name] = int(row[0])
    conn.execute("INSERT INTO main._hard_deleted SELECT * FROM aux._hard_deleted")
    counters = dict(conn.execute("SELECT key, value FROM aux._meta WHERE key LIKE 'counter:%'").fetchall())
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE aux")
    conn.execute("BEGIN")
    return counters


def generate(path: Path, contacts: int, seed: int, *, anchor: int | None = None,
             progress: Callable[[str], None] | None = None, parallel: bool | None = None,
             shared_activities: bool = True) -> dict[str, int]:
    """Write a fresh org file at ``path`` (via a temp file renamed into place).

    The data depend only on (contacts, seed, anchor day); ``parallel`` (default: from
    PARALLEL_THRESHOLD contacts on) only decides whether a second process generates Account,
    Lead and the activities, which gives identical rows. Without ``shared_activities`` the org
    has no relation rows: each activity names its one person in WhoId.
    """
    say = progress or (lambda _msg: None)
    schema = md.Schema()
    if anchor is None:
        anchor = sd.now_ts() // sd.DAY * sd.DAY    # midnight UTC today: every timestamp is before it
    if parallel is None:
        parallel = contacts >= PARALLEL_THRESHOLD
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    aux = path.with_name(path.name + f".aux{os.getpid()}")
    # Leftovers of an interrupted generation (callers hold the directory's lock).
    for p in [*path.parent.glob(path.name + ".tmp*"), *path.parent.glob(path.name + ".aux*")]:
        p.unlink(missing_ok=True)
    worker = None
    if parallel:
        worker = subprocess.Popen(
            [sys.executable, "-c", "import sys; from salesforce_emulator.store import generate_side_file as g; "
             "g(__import__('pathlib').Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))",
             str(aux), str(contacts), str(seed), str(anchor)],
            cwd=str(Path(__file__).resolve().parents[1]))
    gc_was_enabled = gc.isenabled()
    gc.disable()     # millions of short-lived containers: the cyclic GC only costs time here
    conn = sqlite3.connect(str(tmp), isolation_level=None)
    _bulk_pragmas(conn)
    t0 = time.monotonic()
    try:
        conn.execute("BEGIN")
        _create_tables(conn, schema)
        _create_indexes(conn, MAIN_OBJECTS + WORKER_OBJECTS, early=True)
        ctx, users, plan, deletions = sd.base_context(contacts, seed, anchor)
        counts = load_users_contacts(conn, schema, ctx, users, plan, deletions, seed, say, t0)
        _create_indexes(conn, MAIN_OBJECTS, early=False)
        say(f"users and contacts loaded and indexed {time.monotonic() - t0:.1f}s")
        if worker is not None:
            if worker.wait() != 0:
                raise RuntimeError(f"generator process failed with exit code {worker.returncode}")
            counters = _merge_side_file(conn, aux, counts)
            say(f"accounts, leads and activities merged {time.monotonic() - t0:.1f}s")
        else:
            counts.update(load_accounts_leads_activities(conn, schema, ctx, plan, seed, say, t0))
            counters = _counters(ctx)
        conn.executemany("INSERT INTO _hard_deleted VALUES (?, ?, ?)", ctx.hard_deleted)
        if not shared_activities:
            for name in ("TaskWhoRelation", "EventRelation"):
                conn.execute(f"DELETE FROM {q(name)}")  # noqa: S608
                counts[name] = 0
        size = sd.sizes(contacts)
        meta = {
            "contacts": str(contacts), "seed": str(seed), "schema_version": str(SCHEMA_VERSION),
            "anchor": str(anchor), "generated_at": datetime.now(UTC).isoformat(),
            "shared_activities": "1" if shared_activities else "0",
            "counter:User": str(sd.ID_BASE + size["User"]), "counter:Account": str(sd.ID_BASE + size["Account"]),
            "counter:Contact": str(sd.ID_BASE + contacts), "counter:Lead": str(sd.ID_BASE + size["Lead"]),
            **counters,
        }
        conn.executemany("INSERT INTO _meta VALUES (?, ?)", sorted(meta.items()))
        conn.execute("PRAGMA threads=2")      # the sorter may use a helper thread now the worker is done
        _create_indexes(conn, WORKER_OBJECTS, early=False)
        conn.execute("CREATE INDEX ix_hard_deleted ON _hard_deleted (object, deleted_at)")
        conn.execute("COMMIT")
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA locking_mode=NORMAL")
        conn.execute("PRAGMA journal_mode=WAL")
        say(f"indexed {time.monotonic() - t0:.1f}s")
    except BaseException:
        conn.close()
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        aux.unlink(missing_ok=True)
        if gc_was_enabled:
            gc.enable()
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    os.replace(tmp, path)
    return counts


# --- the org ------------------------------------------------------------------------------------

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
            where = _live_filter(obj, "t")
            sql = f"SELECT COUNT(*) FROM {q(obj.name)} AS t" + (f" WHERE {where}" if where else "")  # noqa: S608
            out.append({"name": obj.name, "count": conn.execute(sql).fetchone()[0]})
        return out

    # -- query --
    def query(self, soql: str, *, include_deleted: bool = False, api: str = "rest",
              api_version: str = "59.0") -> QueryCursor:
        from .soql import compile_query

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
        live = _live_filter(obj, "t", include_archived=True)
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

    # -- change simulation and drift: see mutate.py-style helpers below --
    def mutate(self, object_name: str, *, update: int = 0, create: int = 0, delete: int = 0,
               hard_delete: int = 0, late_share: float = 0.0, seed: int | None = None,
               bump_parent: bool = False) -> dict:
        from .mutate import mutate

        return mutate(self, object_name, update=update, create=create, delete=delete,
                      hard_delete=hard_delete, late_share=late_share, seed=seed, bump_parent=bump_parent)

    def set_values(self, object_name: str, values: dict[str, dict[str, Any]]) -> list[str]:
        """Update given fields of existing records, as an API update would (see mutate.set_values)."""
        from .mutate import set_values

        return set_values(self, object_name, values)

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


def _live_filter(obj: md.SObject, alias: str, *, include_archived: bool = False) -> str:
    terms = []
    if obj.has_is_deleted:
        terms.append(f"{alias}.{q('IsDeleted')} = 0")
    if obj.activity and not include_archived:
        terms.append(f"{alias}.{q('IsArchived')} = 0")
    return " AND ".join(terms)


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


class QueryCursor:
    """A compiled query bound to its own read snapshot.

    The connection (and its read transaction) is opened at construction so that ``total_size``
    and the rows come from the same snapshot; it is released when ``records()`` /
    ``write_csv()`` finishes, on ``close()``, or when the cursor is garbage-collected. It may be
    consumed from a different thread than the one that created it (not concurrently).
    """

    FETCH = 2000

    def __init__(self, org: Org, plan: Any):
        self.plan = plan
        self.object_name: str = plan.object_name
        self.columns: list[str] = plan.columns
        self.is_count: bool = plan.is_count
        self._conn: sqlite3.Connection | None = org.reader()
        self._conn.execute("BEGIN")
        self.total_size: int = self._conn.execute(plan.count_sql, plan.count_params).fetchone()[0]
        if plan.is_count:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("COMMIT")
            self._conn.close()
            self._conn = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> QueryCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str) -> Iterator[list[tuple]]:
        if self._conn is None:
            raise RuntimeError("query cursor already consumed or closed")
        try:
            cur = self._conn.execute(sql, self.plan.params)
            while True:
                batch = cur.fetchmany(self.FETCH)
                if not batch:
                    break
                yield batch
        finally:
            self.close()

    def records(self) -> Iterator[dict]:
        """REST-shaped records, streamed."""
        if self.is_count:
            return
        build = self.plan.build_record
        for batch in self._rows(self.plan.sql):
            for row in batch:
                yield build(row)

    def write_csv(self, fileobj: Any, *, quote_all: bool = False, java_doubles: bool = False) -> int:
        """Bulk 2.0 CSV (header row, RFC 4180, null -> empty, LF); returns the number of rows.

        ``quote_all`` quotes every field (null -> ``""``); ``java_doubles`` prints floats as Java's
        Double.toString does (see salesforce_emulator.wire). Either way a field holding CR is quoted:
        the csv module quotes only for the characters of its line terminator ("\n"), and RFC 4180
        wants CR quoted too (an unquoted one ends the record for most readers).
        """
        import csv
        import io

        from .wire import java_double

        wrapper = None
        if not isinstance(fileobj, io.TextIOBase):
            wrapper = io.TextIOWrapper(fileobj, encoding="utf-8", newline="", write_through=True)
            out = wrapper
        else:
            out = fileobj
        quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
        csv.writer(out, lineterminator="\n", quoting=quoting).writerow(self.columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=quoting)
        n = 0
        try:
            if not self.is_count:
                for batch in self._rows(self.plan.csv_sql):
                    if java_doubles:
                        batch = [tuple(java_double(v) if type(v) is float else v for v in row) for row in batch]
                    buffer.seek(0)
                    buffer.truncate()
                    writer.writerows(batch)
                    text = buffer.getvalue()
                    if "\r" in text and not quote_all:
                        # Rare: redo this batch, quoting every field of the rows holding a CR.
                        buffer.seek(0)
                        buffer.truncate()
                        row_writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
                        for row in batch:
                            cr = any(isinstance(v, str) and "\r" in v for v in row)
                            (row_writer if cr else writer).writerow(row)
                        text = buffer.getvalue()
                    out.write(text)
                    n += len(batch)
        finally:
            if wrapper is not None:
                wrapper.flush()
                wrapper.detach()
        return n
