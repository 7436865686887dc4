"""Changes of the who relations (TaskWhoRelation, EventWhoRelation): contacts added to and removed
from existing activities (see mutate.py for the behaviour)."""

from __future__ import annotations

from typing import Any

from . import seed as sd
from .mutate_base import Mutation
from .tables import q as _q

# who relation object -> (parent activity, its reference field, key prefix, the object whose
# /deleted feed lists removed relations, the table holding the rows)
RELATIONS = {
    "TaskWhoRelation": ("Task", "TaskId", "0RT", "TaskRelation", "TaskWhoRelation"),
    "EventWhoRelation": ("Event", "EventId", "0RE", "EventRelation", "EventRelation"),
}
PARENT_RELATIONS = {parent: (table, field, base) for parent, field, _p, base, table in RELATIONS.values()}
# The rows of each table that the who relation view shows.
WHO_ROWS = {"TaskWhoRelation": "1", "EventRelation": "t.\"IsParent\" = 1 AND t.\"IsWhat\" = 0"}


class RelationMutation(Mutation):
    """Adds contacts to activities and removes them; the relation rows have no recycle bin."""

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
