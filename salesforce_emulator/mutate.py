"""Change simulation: updates, creates, soft deletes and hard deletes with real wall-clock stamps.

- update: a few realistic fields change; LastModifiedDate/SystemModstamp become "now", except a
  ``late_share`` of rows stamped 2-5 minutes in the past (a transaction that committed late: the
  row appears after a watermark that already passed its stamp).
- create: new rows (Tasks and Events also get their who relation rows, with Shared Activities).
- delete: soft delete (IsDeleted = true, stamps bumped; only queryAll and /deleted see it); an
  activity's relation rows follow it.
- hard_delete: the row vanishes and is listed only in /deleted (deletedDate = now); an activity's
  relation rows go with it and are listed in TaskRelation's/EventRelation's /deleted feed.
- TaskWhoRelation / EventWhoRelation: delete/hard_delete remove relation rows for real, listed
  in the /deleted feed of TaskRelation/EventRelation (the objects they are views of, same ids) —
  except an event contact who is also an invitee: that EventRelation record stays, IsParent
  false (an update of it), and leaves EventWhoRelation without a /deleted entry ("demoted");
  create adds a contact to an existing activity. Whether Salesforce bumps the parent activity's
  SystemModstamp then is not documented, so by default it does not (``bump_parent`` does); a
  promoted WhoId (the primary contact removed) is a change of the activity and bumps it.
- User: never deleted; ``delete`` deactivates (IsActive = false, an update).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

from . import objects as md
from . import seed as sd
from . import seed_activities as acts
from . import seed_pools as pools
from .errors import SalesforceError
from .ids import make_ids
from .tables import insert_rows, live_filter
from .tables import q as _q


class Org(Protocol):
    """What the change simulation needs of the org (the store's ``Org`` is one)."""

    @property
    def shared_activities(self) -> bool: ...

    def connection(self) -> sqlite3.Connection: ...

    def schema(self) -> md.Schema: ...

    def sobject(self, object_name: str) -> md.SObject: ...

DAY = sd.DAY
# who relation object -> (parent activity, its reference field, key prefix, the object whose
# /deleted feed lists removed relations, the table holding the rows)
RELATIONS = {
    "TaskWhoRelation": ("Task", "TaskId", "0RT", "TaskRelation", "TaskWhoRelation"),
    "EventWhoRelation": ("Event", "EventId", "0RE", "EventRelation", "EventRelation"),
}
PARENT_RELATIONS = {parent: (table, field, base) for parent, field, _p, base, table in RELATIONS.values()}
# The rows of each table that the who relation view shows.
WHO_ROWS = {"TaskWhoRelation": "1", "EventRelation": "t.\"IsParent\" = 1 AND t.\"IsWhat\" = 0"}


def _phone(r: random.Random) -> str:
    return f"({200 + r.randrange(800)}) 555-{r.randrange(10000):04d}"


# field -> value generator for updates (object-specific, realistic)
UPDATES: dict[str, dict[str, Callable[[random.Random], Any]]] = {
    "Contact": {
        "Title": lambda r: r.choice([t for t in pools.TITLES if t]),
        "Phone": _phone,
        "MobilePhone": lambda r: r.choice([None, _phone(r)]),
        "Email": lambda r: f"updated.{r.randrange(10**9)}@example.com",
        "Department": lambda r: r.choice(pools.DEPARTMENTS),
        "MailingCity": lambda r: r.choice(pools.CITIES)[0],
        "MailingStreet": lambda r: r.choice(pools.STREETS),
        "LeadSource": lambda r: r.choice(md.LEAD_SOURCES),
        "HasOptedOutOfEmail": lambda r: r.random() < 0.3,
        "Specialty__c": lambda r: r.choice(md.SPECIALTIES),
        "Languages__c": lambda r: r.choice(["English", "English;Spanish", "French;German", None]),
        "LastName": lambda r: r.choice(pools.LAST_NAMES),
    },
    "Account": {
        "Phone": _phone,
        "Industry": lambda r: r.choice(md.INDUSTRIES),
        "NumberOfEmployees": lambda r: r.randrange(1, 10000),
        "Description": lambda r: r.choice(pools.DESCRIPTIONS),
        "AnnualRevenue": lambda r: float(r.randrange(1, 5000) * 10000),
    },
    "Lead": {
        "Status": lambda r: r.choice(["Working - Contacted", "Closed - Not Converted"]),
        "Rating": lambda r: r.choice(["Hot", "Warm", "Cold", None]),
        "Phone": _phone,
        "Title": lambda r: r.choice([t for t in pools.TITLES if t]),
    },
    "Task": {
        "Status": lambda r: r.choice(["In Progress", "Completed", "Deferred"]),
        "Priority": lambda r: r.choice(["High", "Normal", "Low"]),
        "Description": lambda r: r.choice(pools.DESCRIPTIONS),
        "Subject": lambda r: r.choice(pools.TASK_SUBJECTS),
    },
    "Event": {
        "Subject": lambda r: r.choice(pools.EVENT_SUBJECTS),
        "Location": lambda r: r.choice(pools.LOCATIONS),
        "Description": lambda r: r.choice(pools.DESCRIPTIONS),
        "ShowAs": lambda r: r.choice(["Busy", "Free", "OutOfOffice"]),
    },
    "User": {
        "Title": lambda r: r.choice(["Sales Rep", "Account Executive", "Sales Manager", "Admin"]),
        "Department": lambda r: r.choice(pools.DEPARTMENTS),
        "LastLoginDate": lambda r: sd.fmt_ts(sd.now_ts() - r.randrange(3600)),
    },
}


def _drift_value(f: md.Field, r: random.Random) -> Any:
    t = f.type
    if t == "boolean":
        return r.random() < 0.5
    if t in ("int", "long"):
        return r.randrange(1000)
    if t in ("double", "currency", "percent"):
        return round(r.random() * 1000, 2)
    if t == "date":
        return sd.fmt_date(sd.now_ts() - r.randrange(365) * DAY)
    if t == "datetime":
        return sd.fmt_ts(sd.now_ts() - r.randrange(365 * DAY))
    if t in ("picklist", "multipicklist") and f.picklist:
        return r.choice(f.picklist)
    if t in md.ID_TYPES:
        return None
    return r.choice(["drift value", "Wert, mit Komma", 'say "hi"', "multi\nline", "ünïcödé 🚀"])


class _Mutation:
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

    # -- operations --
    def update(self, n: int) -> list[str]:
        gens = UPDATES.get(self.obj.name, {})
        gens = {k: v for k, v in gens.items() if self.obj.field(k) is not None}
        users = self.users()
        out = []
        for rowid, rid in self.pick(n):
            names = self.rng.sample(sorted(gens), min(len(gens), 1 + self.rng.randrange(3))) if gens else []
            extra = {k: gens[k](self.rng) for k in names}
            for f in self.drift:
                if self.rng.random() < 0.5:
                    extra[f.name] = _drift_value(f, self.rng)
            self._derived(rowid, extra)
            self.bump(self.obj.name, rowid, self.stamp(), extra, self.rng.choice(users) if users else None)
            out.append(rid)
        return out

    def _derived(self, rowid: int, extra: dict[str, Any]) -> None:
        if "LastName" in extra and self.obj.field("Name") is not None:
            first = self.conn.execute(f"SELECT {_q('FirstName')} FROM {_q(self.obj.name)} WHERE rowid = ?",  # noqa: S608
                                      (rowid,)).fetchone()[0]
            extra["Name"] = f"{first} {extra['LastName']}" if first else extra["LastName"]
        if self.obj.name == "Task" and "Status" in extra:
            extra["IsClosed"] = extra["Status"] == "Completed"
            extra["CompletedDateTime"] = sd.fmt_ts(self.now) if extra["IsClosed"] else None
        if self.obj.name == "Task" and "Priority" in extra:
            extra["IsHighPriority"] = extra["Priority"] == "High"

    def soft_delete(self, n: int) -> list[str]:
        out = []
        for rowid, rid in self.pick(n):
            stamp = self.stamp()
            self.bump(self.obj.name, rowid, stamp, {"IsDeleted": True, "_deleted_at": stamp})
            if self.obj.name in PARENT_RELATIONS:
                # The who relation rows follow their activity (to the recycle bin).
                table, ref, _base = PARENT_RELATIONS[self.obj.name]
                self.conn.execute(
                    f"UPDATE {_q(table)} SET {_q('IsDeleted')} = 1, _deleted_at = ?, "  # noqa: S608
                    f"{_q('LastModifiedDate')} = ?, {_q('SystemModstamp')} = MAX({_q('SystemModstamp')}, ?) "
                    f"WHERE {_q(ref)} = ?", (stamp, stamp, stamp, rid))
            out.append(rid)
        return out

    def hard_delete(self, n: int) -> list[str]:
        picked = self.pick(n)
        stamp = sd.fmt_ts(self.now)
        for rowid, rid in picked:
            self.conn.execute("INSERT INTO _hard_deleted VALUES (?, ?, ?)", (self.obj.name, rid, stamp))
            self.conn.execute(f"DELETE FROM {_q(self.obj.name)} WHERE rowid = ?", (rowid,))  # noqa: S608
            if self.obj.name in PARENT_RELATIONS:
                table, ref, base = PARENT_RELATIONS[self.obj.name]
                self.conn.execute(f"INSERT INTO _hard_deleted SELECT ?, {_q('Id')}, ? FROM {_q(table)} "  # noqa: S608
                                  f"WHERE {_q(ref)} = ?", (base, stamp, rid))
                self.conn.execute(f"DELETE FROM {_q(table)} WHERE {_q(ref)} = ?", (rid,))  # noqa: S608
        return [rid for _, rid in picked]

    def deactivate_users(self, n: int) -> list[str]:
        picked = self.pick(n, where=f"t.{_q('IsActive')} = 1 AND t.rowid > 1")
        for rowid, _rid in picked:
            self.bump("User", rowid, self.stamp(), {"IsActive": False})
        return [rid for _, rid in picked]

    # -- creates --
    def create(self, n: int) -> list[str]:
        if n <= 0:
            return []
        name = self.obj.name
        ctx = sd.GenContext(rng=self.rng, contacts=max(n, 1), anchor=self.now // DAY * DAY + DAY)
        ctx.user_ids = self.users() or [None]
        ctx.active_user_ids = ctx.user_ids
        ctx.account_ids = [rid for _, rid in self.pick(min(n * 2, 5000), table="Account",
                                                        where=f"t.{_q('IsDeleted')} = 0")]
        if name == "Contact":
            ids = self.next_ids(name, "003", n)
            ctx.contact_ids = ids
            n_acc = len(ctx.account_ids)
            ctx.contact_account = [self.rng.randrange(n_acc) if n_acc and self.rng.random() > 0.05 else -1
                                   for _ in range(n)]
            cols = sd.gen_contacts(ctx, 0, n, [0] * n)
            base = int(self.conn.execute("SELECT value FROM _meta WHERE key = 'counter:Contact'").fetchone()[0])
            cols["NPI__c"] = [str(2_000_000_000 + base + i) if v else None for i, v in enumerate(cols["NPI__c"])]
            cols["LastActivityDate"] = [None] * n
        elif name == "Account":
            cols = sd.gen_accounts(ctx, n, self._counter(name, n))
            cols["Id"] = self.next_ids(name, "001", n)
        elif name == "Lead":
            ctx.contact_ids = []
            cols = sd.gen_leads(ctx, n, self._counter(name, n))
            cols["Id"] = self.next_ids(name, "00Q", n)
        elif name == "User":
            cols = sd.gen_users(ctx, n, self._counter(name, n))
            cols["Id"] = self.next_ids(name, "005", n)
        elif name in ("Task", "Event"):
            return self._create_activities(ctx, n)
        else:
            raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION", f"cannot create {name} records")
        self._stamp_new(cols, n)
        self._insert(self.obj, cols)
        return list(cols["Id"])

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
            cols[f.name] = [_drift_value(f, self.rng) if self.rng.random() < 0.7 else None for _ in range(n)]

    def _insert(self, obj: md.SObject, cols: dict[str, list]) -> None:
        insert_rows(self.conn, obj, cols)

    def _create_activities(self, ctx: sd.GenContext, n: int) -> list[str]:
        name = self.obj.name
        contacts: list[tuple[str, str | None]] = []
        picked = self.pick(n, table="Contact", where=f"t.{_q('IsDeleted')} = 0")
        if picked:
            placeholders = ", ".join("?" * len(picked))
            contacts = self.conn.execute(
                f"SELECT {_q('Id')}, {_q('AccountId')} FROM {_q('Contact')} WHERE rowid IN ({placeholders})",  # noqa: S608
                [p[0] for p in picked]).fetchall()
        if not contacts:
            return []
        acc_ids = sorted({a for _, a in contacts if a})
        acc_index = {a: i for i, a in enumerate(acc_ids)}
        ctx.account_ids = acc_ids
        ctx.contact_ids = [c for c, _ in contacts]
        ctx.contact_account = [acc_index[a] if a else -1 for _, a in contacts]
        ctx.contacts = len(contacts)
        ctx.anchor = self.now + 1
        who = [i % len(contacts) for i in range(n)]
        counter = self._counter(name, n)
        if name == "Task":
            ctx.task_counter = counter
            cols = acts.gen_tasks(ctx, who, lead_share=False)
            cols["Id"] = self.next_ids("Task", "00T", len(cols["Id"]))
        else:
            ctx.event_counter = counter
            cols = acts.gen_events(ctx, who)
            cols["Id"] = self.next_ids("Event", "00U", len(cols["Id"]))
        m = len(cols["Id"])
        self._stamp_new(cols, m)
        if name == "Task":
            cols["ActivityDate"] = [sd.fmt_date(self.now + self.rng.randrange(-3, 14) * DAY) for _ in range(m)]
        self._insert(self.obj, cols)
        if name == "Task" and self.org.shared_activities:
            ctx.twr_counter = self._counter("TaskWhoRelation", 0)
            rel = acts.gen_relations(ctx, cols)
            rel["Id"] = self.next_ids("TaskWhoRelation", "0RT", len(rel["Id"]))
            self._insert(self.schema.objects["TaskWhoRelation"], rel)
        elif name == "Event" and self.org.shared_activities:
            rel = acts.gen_event_relations(ctx, cols)
            rel["Id"] = self.next_ids("EventRelation", "0RE", len(rel["Id"]))
            self._insert(self.schema.objects["EventRelation"], rel)
        return list(cols["Id"])

    # -- TaskWhoRelation / EventWhoRelation --
    def remove_relations(self, n: int, hard: bool) -> list[str]:
        del hard  # a who relation has no recycle bin: removal is always for real
        conn = self.conn
        parent, ref, _prefix, base, table = RELATIONS[self.obj.name]
        who = f"t.{_q('IsDeleted')} = 0 AND {WHO_ROWS[table]}"
        where = (f"{who} AND t.{_q('RelationId')} <> COALESCE((SELECT k.{_q('WhoId')} FROM "  # noqa: S608
                 f"{_q(parent)} AS k WHERE k.{_q('Id')} = t.{_q(ref)}), '')")
        picked = self.pick(n, where=where, table=table)
        if len(picked) < n:
            extra = [p for p in self.pick(n - len(picked), where=who, table=table) if p not in picked]
            picked += extra
        out = []
        stamp = self.stamp()
        deleted_at = sd.fmt_ts(self.now)
        for rowid, rid in picked:
            row = conn.execute(f"SELECT {_q(ref)}, {_q('RelationId')} FROM {_q(table)} "  # noqa: S608
                               "WHERE rowid = ?", (rowid,)).fetchone()
            if row is None:
                continue
            pid, rel_id = row
            invitee = table == "EventRelation" and conn.execute(
                f"SELECT {_q('IsInvitee')} FROM {_q(table)} WHERE rowid = ?", (rowid,)).fetchone()[0]  # noqa: S608
            if invitee:  # the record stays for the invitation: no longer a related contact
                self.bump(table, rowid, stamp, {"IsParent": False})
                self.demoted.append(rid)
            else:
                conn.execute(f"DELETE FROM {_q(table)} WHERE rowid = ?", (rowid,))  # noqa: S608
                # TaskRelation/EventRelation /deleted feed (Object Reference: getDeleted() is how
                # removed relation records are detected).
                conn.execute("INSERT INTO _hard_deleted VALUES (?, ?, ?)", (base, rid, deleted_at))
            activity = conn.execute(f"SELECT rowid, {_q('WhoId')} FROM {_q(parent)} WHERE {_q('Id')} = ?",  # noqa: S608
                                    (pid,)).fetchone()
            if activity is not None:
                extra: dict[str, Any] = {}
                if activity[1] == rel_id:   # the primary Who went away: promote another relation
                    nxt = conn.execute(f"SELECT t.{_q('RelationId')} FROM {_q(table)} AS t WHERE "  # noqa: S608
                                       f"t.{_q(ref)} = ? AND {WHO_ROWS[table]} ORDER BY t.{_q('Id')} LIMIT 1",
                                       (pid,)).fetchone()
                    extra["WhoId"] = nxt[0] if nxt else None
                if extra or self.bump_parent:
                    self.bump(parent, activity[0], stamp, extra)
            out.append(rid)
        return out

    def add_relations(self, n: int) -> list[str]:
        conn = self.conn
        parent, ref, prefix, _base, table = RELATIONS[self.obj.name]
        tasks = self.pick(n, table=parent, where=(f"t.{_q('IsDeleted')} = 0 AND t.{_q('IsArchived')} = 0 AND "
                                                  f"substr(t.{_q('WhoId')}, 1, 3) = '003'"))
        contacts = self.pick(len(tasks), table="Contact", where=f"t.{_q('IsDeleted')} = 0")
        if not tasks or not contacts:
            return []
        ids = self.next_ids(table, prefix, len(tasks))
        out = []
        for (trow, tid), (crow, cid), new_id in zip(tasks, contacts * (len(tasks) // len(contacts) + 1), ids,
                                                   strict=False):
            del crow
            exists = conn.execute(f"SELECT 1 FROM {_q(table)} WHERE {_q(ref)} = ? AND "  # noqa: S608
                                  f"{_q('RelationId')} = ?", (tid, cid)).fetchone()
            if exists:
                continue
            acc = conn.execute(f"SELECT {_q('AccountId')} FROM {_q('Contact')} WHERE {_q('Id')} = ?",  # noqa: S608
                               (cid,)).fetchone()[0]
            stamp = self.stamp()
            user = conn.execute(f"SELECT {_q('OwnerId')} FROM {_q(parent)} WHERE rowid = ?", (trow,)).fetchone()[0]  # noqa: S608
            self._insert(self.schema.objects[table], {
                "Id": [new_id], "RelationId": [cid], ref: [tid], "Type": ["Contact"], "AccountId": [acc],
                "IsWhat": [False], "IsParent": [True], "IsInvitee": [False],
                "IsDeleted": [False], "CreatedDate": [stamp], "CreatedById": [user], "LastModifiedDate": [stamp],
                "LastModifiedById": [user], "SystemModstamp": [stamp]})
            if self.bump_parent:
                self.bump(parent, trow, stamp)
            out.append(new_id)
        return out


_BASE_NAMES: dict[str, frozenset[str]] = {}


def _base_field_names(obj_name: str) -> frozenset[str]:
    if obj_name not in _BASE_NAMES:
        _BASE_NAMES[obj_name] = frozenset(f.name for f in md.Schema().objects[obj_name].fields)
    return _BASE_NAMES[obj_name]


def mutate(org: Org, object_name: str, *, update: int = 0, create: int = 0, delete: int = 0,
           hard_delete: int = 0, late_share: float = 0.0, seed: int | None = None,
           bump_parent: bool = False) -> dict:
    obj = org.sobject(object_name)
    rng = random.Random(seed)
    m = _Mutation(org, obj, rng, late_share, bump_parent)
    result: dict[str, list[str]] = {"updated": [], "created": [], "deleted": [], "hard_deleted": []}
    conn = m.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        if obj.name in RELATIONS:
            if update:
                raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION",
                                      f"{obj.name} rows cannot be updated; add or remove relations")
            result["created"] = m.add_relations(create)
            result["deleted"] = m.remove_relations(delete, hard=False)
            result["hard_deleted"] = m.remove_relations(hard_delete, hard=True)
            result["demoted"] = m.demoted  # among the removed: records kept for an invitation
        elif obj.name == "User":
            if hard_delete:
                raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION",
                                      "Users cannot be deleted; deactivate them (IsActive = false)")
            result["updated"] = m.update(update)
            result["created"] = m.create(create)
            deactivated = m.deactivate_users(delete)
            result["updated"] += deactivated
            result["deactivated"] = deactivated
        else:
            result["updated"] = m.update(update)
            result["created"] = m.create(create)
            result["deleted"] = m.soft_delete(delete)
            result["hard_deleted"] = m.hard_delete(hard_delete)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result


# Fields an API update cannot set: the record's identity and the audit stamps Salesforce maintains.
_SYSTEM_FIELDS = frozenset({"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
                            "LastModifiedById", "SystemModstamp"})


def set_values(org: Org, object_name: str, values: dict[str, dict[str, Any]]) -> list[str]:
    """Update given fields of existing records, as an API update would: ``{record id: {field: value}}``.

    Stamps move to now (SystemModstamp never backwards). As in Salesforce, an empty string is
    stored as null, and a text value longer than the field's length is refused
    (``STRING_TOO_LONG``); any other text is stored as given, NUL characters included (Salesforce
    keeps what is pasted in). Returns the ids updated.
    """
    obj = org.sobject(object_name)
    fields: dict[str, md.Field] = {}
    for changes in values.values():
        for name in changes:
            f = obj.field(name)
            if f is None or not f.is_physical or f.name in _SYSTEM_FIELDS:
                raise SalesforceError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                                      f"Unable to create/update fields: {name}", [name])
            fields[name] = f
    m = _Mutation(org, obj, random.Random(0), 0.0)
    stamp = sd.fmt_ts(m.now)
    out = []
    m.conn.execute("BEGIN IMMEDIATE")
    try:
        for record_id, changes in values.items():
            row = m.conn.execute(f"SELECT rowid FROM {_q(obj.name)} WHERE {_q('Id')} = ?",  # noqa: S608
                                 (record_id,)).fetchone()
            if row is None:
                raise SalesforceError(404, "NOT_FOUND", f"{object_name} {record_id} does not exist")
            extra: dict[str, Any] = {}
            for name, value in changes.items():
                f = fields[name]
                if value == "":
                    value = None
                if isinstance(value, str) and f.type in md.TEXT_TYPES and f.length and len(value) > f.length:
                    raise SalesforceError(400, "STRING_TOO_LONG",
                                          f"{f.name}: data value too large (max length={f.length})", [f.name])
                extra[f.name] = value
            m.bump(obj.name, row[0], stamp, extra)
            out.append(record_id)
        m.conn.execute("COMMIT")
    except BaseException:
        m.conn.execute("ROLLBACK")
        raise
    return out
