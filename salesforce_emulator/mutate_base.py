"""What every change of the simulation shares: the org it changes, random picks of live rows,
stamps (a late share among them), id counters, inserts."""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Protocol

from . import objects as md
from . import seed as sd
from .ids import make_ids
from .mutate_values import drift_value
from .tables import insert_rows, live_filter
from .tables import q as _q


class Org(Protocol):
    """What the change simulation needs of the org (the store's ``Org`` is one)."""

    @property
    def shared_activities(self) -> bool: ...

    def connection(self) -> sqlite3.Connection: ...

    def schema(self) -> md.Schema: ...

    def sobject(self, object_name: str) -> md.SObject: ...


class Mutation:
    """One change of one object, inside the caller's transaction."""

    def __init__(self, org: Org, obj: md.SObject, rng: random.Random, late_share: float,
                 bump_parent: bool = False):
        self.org = org
        self.bump_parent = bump_parent
        self.demoted: list[str] = []
        self.obj = obj
        self.rng = rng
        self.late_share = late_share
        self.conn: sqlite3.Connection = org.connection()
        self.now = sd.now_ts()
        self.schema = org.schema()
        self.drift = [f for f in obj.fields if f.is_physical and f.name not in _base_field_names(obj.name)]

    def stamp(self) -> str:
        if self.late_share and self.rng.random() < self.late_share:
            return sd.fmt_ts(self.now - 120 - self.rng.randrange(181))
        return sd.fmt_ts(self.now)

    def live_where(self, alias: str = "t") -> str:
        return live_filter(self.obj, alias) or "1"

    def pick(self, n: int, where: str | None = None, table: str | None = None) -> list[tuple[int, str]]:
        """``n`` random (rowid, Id) pairs matching ``where`` (deterministic for a seeded rng)."""
        if n <= 0:
            return []
        table = table or self.obj.name
        where = where or self.live_where()
        max_row = self.conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {_q(table)}").fetchone()[0]  # noqa: S608
        if max_row <= 200_000:
            rows = self.conn.execute(
                f"SELECT t.rowid, t.{_q('Id')} FROM {_q(table)} AS t WHERE {where} ORDER BY t.rowid").fetchall()  # noqa: S608
            return self.rng.sample(rows, min(n, len(rows)))
        chosen: dict[int, str] = {}
        for _ in range(30):
            want = min(max_row, 2 * (n - len(chosen)) + 16)
            cand = [c for c in self.rng.sample(range(1, max_row + 1), want) if c not in chosen]
            for i in range(0, len(cand), 900):
                part = cand[i:i + 900]
                sql = (f"SELECT t.rowid, t.{_q('Id')} FROM {_q(table)} AS t WHERE t.rowid IN "  # noqa: S608
                       f"({', '.join('?' * len(part))}) AND {where}")
                for rowid, rid in self.conn.execute(sql, part):
                    if len(chosen) < n:
                        chosen[rowid] = rid
            if len(chosen) >= n:
                break
        return sorted(chosen.items())

    def next_ids(self, obj_name: str, prefix: str, n: int) -> list[str]:
        key = f"counter:{obj_name}"
        row = self.conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        start = int(row[0]) if row else sd.ID_BASE + 10_000_000
        self.conn.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (key, str(start + n)))
        return make_ids(prefix, start, n)

    def bump(self, table: str, rowid: int, stamp: str, extra: dict[str, Any] | None = None,
             user: str | None = None) -> None:
        sets = dict(extra or {})
        sets["LastModifiedDate"] = stamp
        if user:
            sets["LastModifiedById"] = user
        assignments = ", ".join(f"{_q(k)} = ?" for k in sets)
        # SystemModstamp never moves backwards for a row, even for a late commit.
        self.conn.execute(
            f"UPDATE {_q(table)} SET {assignments}, {_q('SystemModstamp')} = "  # noqa: S608
            f"MAX({_q('SystemModstamp')}, ?) WHERE rowid = ?", [*sets.values(), stamp, rowid])

    def users(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            f"SELECT {_q('Id')} FROM {_q('User')} WHERE {_q('IsActive')} = 1 ORDER BY {_q('Id')}")]  # noqa: S608

    def _counter(self, name: str, n: int) -> int:
        row = self.conn.execute("SELECT value FROM _meta WHERE key = ?", (f"counter:{name}",)).fetchone()
        return int(row[0]) if row else sd.ID_BASE

    def _stamp_new(self, cols: dict[str, list], n: int) -> None:
        stamps = [self.stamp() for _ in range(n)]
        cols["CreatedDate"] = stamps
        cols["LastModifiedDate"] = stamps
        cols["SystemModstamp"] = stamps
        if "IsDeleted" in cols:
            cols["IsDeleted"] = [False] * n
        if "IsArchived" in cols:
            cols["IsArchived"] = [False] * n
        for f in self.drift:
            cols[f.name] = [drift_value(f, self.rng) if self.rng.random() < 0.7 else None for _ in range(n)]

    def _insert(self, obj: md.SObject, cols: dict[str, list]) -> None:
        insert_rows(self.conn, obj, cols)


_BASE_NAMES: dict[str, frozenset[str]] = {}


def _base_field_names(obj_name: str) -> frozenset[str]:
    if obj_name not in _BASE_NAMES:
        _BASE_NAMES[obj_name] = frozenset(f.name for f in md.Schema().objects[obj_name].fields)
    return _BASE_NAMES[obj_name]
