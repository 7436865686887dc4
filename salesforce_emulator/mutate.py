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
from typing import Any

from . import objects as md
from . import seed as sd
from . import seed_activities as acts
from .errors import SalesforceError
from .mutate_base import Mutation, Org
from .mutate_relations import PARENT_RELATIONS, RELATIONS, RelationMutation
from .mutate_values import UPDATES, drift_value
from .tables import q as _q

DAY = sd.DAY


class RecordMutation(Mutation):
    """Updates, creates and deletes of records (every object but the who relations)."""

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
                    extra[f.name] = drift_value(f, self.rng)
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


def mutate(org: Org, object_name: str, *, update: int = 0, create: int = 0, delete: int = 0,
           hard_delete: int = 0, late_share: float = 0.0, seed: int | None = None,
           bump_parent: bool = False) -> dict:
    obj = org.sobject(object_name)
    rng = random.Random(seed)
    kind = RelationMutation if obj.name in RELATIONS else RecordMutation
    m = kind(org, obj, rng, late_share, bump_parent)
    result: dict[str, list[str]] = {"updated": [], "created": [], "deleted": [], "hard_deleted": []}
    conn = m.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        if isinstance(m, RelationMutation):
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
    m = Mutation(org, obj, random.Random(0), 0.0)
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
