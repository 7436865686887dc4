"""Generated activities: Tasks and Events for a batch of contacts, with their who relation rows
(TaskWhoRelation, EventRelation). Drawn from the same streams, in the same order, as before they
had a module of their own (see seed.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .ids import make_ids
from .seed import DAY, GenContext, apply_deletions, flags, fmt_date, fmt_ts, owner_cols, pick, timestamps
from .seed_pools import CALL_DISPOSITIONS, DESCRIPTIONS, EVENT_SUBJECTS, LOCATIONS, TASK_SUBJECTS


@dataclass
class ActivityBatch:
    tasks: dict[str, list]
    events: dict[str, list]
    relations: dict[str, list]
    event_relations: dict[str, list]


def _who_list(ctx: GenContext, plan: list[int], i0: int, i1: int) -> list[int]:
    out: list[int] = []
    for i in range(i0, i1):
        k = plan[i]
        if k:
            out.extend([i] * k)
    return out


def gen_activities(ctx: GenContext, plan: list[int], i0: int, i1: int, lead_share: bool) -> ActivityBatch:
    """Tasks and events for contacts i0..i1 (and, once, tasks for ~10% of leads)."""
    rng = ctx.rng
    who_idx = _who_list(ctx, plan, i0, i1)
    is_event = flags(rng, len(who_idx), 0.25)
    t_who = [i for i, e in zip(who_idx, is_event, strict=True) if not e]
    e_who = [i for i, e in zip(who_idx, is_event, strict=True) if e]
    tasks = gen_tasks(ctx, t_who, lead_share)
    apply_deletions(ctx, "Task", tasks, soft=0.01, hard=0.003)
    events = gen_events(ctx, e_who)
    apply_deletions(ctx, "Event", events, soft=0.01, hard=0.003)
    relations = gen_relations(ctx, tasks)
    event_relations = gen_event_relations(ctx, events)
    return ActivityBatch(tasks, events, relations, event_relations)


def _activity_times(ctx: GenContext, who: list[int]) -> list[int]:
    r = ctx.rng.random
    total, start = max(ctx.contacts, 1), ctx.start
    step = (ctx.anchor - DAY - start) / total
    out = []
    for i in who:
        c0 = int(start + (i + 1) * step)      # after the contact's creation
        out.append(c0 + int((ctx.anchor - 1 - c0) * r()))
    return out


def gen_tasks(ctx: GenContext, who_contacts: list[int], lead_share: bool) -> dict[str, list]:
    rng = ctx.rng
    r = rng.random
    # who: ("C", contact index) | ("L", lead index) | None (no WhoId)
    who: list[tuple[str, int] | None] = [None if r() < 0.04 else ("C", i) for i in who_contacts]
    if lead_share and ctx.lead_ids:
        leads = [li for li in range(len(ctx.lead_ids)) if r() < 0.15] or [0]   # at least one lead has tasks
        for li in leads:
            who.extend([("L", li)] * (1 + int(r() * 3)))
    n = len(who)
    ids = make_ids("00T", ctx.task_counter, n)
    ctx.task_counter += n
    created = _activity_times(ctx, [w[1] if w and w[0] == "C" else int(r() * ctx.contacts) for w in who])
    cd, lmd, sms = timestamps(rng, created, ctx.anchor)
    anchor = ctx.anchor
    due = [c + int((r() - 0.3) * 20 * DAY) for c in created]
    status = [("Completed" if d < anchor - 7 * DAY and r() < 0.9 else
               ("Not Started", "In Progress", "Waiting on someone else", "Deferred")[int(r() * 4)]) for d in due]
    closed = [s == "Completed" for s in status]
    archived = [c and d < anchor - 365 * DAY for c, d in zip(closed, due, strict=True)]
    subtype = pick(rng, ["Task", "Task", "Email", "Email", "Call", "Call", "ListEmail", "Cadence"], n)
    accounts = ctx.account_ids
    acc = [accounts[ctx.contact_account[w[1]]] if w and w[0] == "C" and ctx.contact_account[w[1]] >= 0 else None
           for w in who]
    priority = pick(rng, ["Normal", "Normal", "Normal", "High", "Low"], n)
    calls = [s == "Call" for s in subtype]
    return {
        "Id": ids,
        "WhoId": [(ctx.contact_ids[w[1]] if w[0] == "C" else ctx.lead_ids[w[1]]) if w else None for w in who],
        "WhatId": [a if a and r() < 0.6 else None for a in acc],
        "Subject": pick(rng, TASK_SUBJECTS, n),
        "ActivityDate": [None if r() < 0.1 else fmt_date(d) for d in due],
        "Status": status, "Priority": priority, "IsHighPriority": [p == "High" for p in priority],
        **owner_cols(ctx, n),
        "Description": pick(rng, DESCRIPTIONS, n),
        "IsDeleted": [False] * n, "AccountId": acc, "IsClosed": closed,
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "IsArchived": archived,
        "CallDurationInSeconds": [int(r() * 1800) if c else None for c in calls],
        "CallType": [("Inbound", "Outbound", "Internal")[int(r() * 3)] if c else None for c in calls],
        "CallDisposition": [d if c else None for d, c in zip(pick(rng, CALL_DISPOSITIONS, n), calls, strict=True)],
        "ReminderDateTime": [fmt_ts(d - 3600) if r() < 0.1 else None for d in due],
        "IsReminderSet": [False] * n, "IsRecurrence": [False] * n, "TaskSubtype": subtype,
        "CompletedDateTime": [m if c else None for m, c in zip(lmd, closed, strict=True)],
        "_who": who,  # not a column: used to build TaskWhoRelation rows
    }


def gen_relations(ctx: GenContext, tasks: dict[str, list]) -> dict[str, list]:
    r = ctx.rng.random
    cols: dict[str, list] = {k: [] for k in ("TaskId", "RelationId", "Type", "AccountId", "IsDeleted",
                                            "CreatedDate", "CreatedById", "LastModifiedDate",
                                            "LastModifiedById", "SystemModstamp", "_deleted_at")}
    n_con = len(ctx.contact_ids)
    for j, w in enumerate(tasks["_who"]):
        if not w:
            continue
        related = [w]
        if w[0] == "C" and r() < 0.10:   # shared activity: a few more contacts
            related += [("C", int(r() * n_con)) for _ in range(1 + int(r() * 3))]
            related = list(dict.fromkeys(related))
        for kind, idx in related:
            if kind == "C":
                a = ctx.contact_account[idx]
                cols["RelationId"].append(ctx.contact_ids[idx])
                cols["Type"].append("Contact")
                cols["AccountId"].append(ctx.account_ids[a] if a >= 0 else None)
            else:
                cols["RelationId"].append(ctx.lead_ids[idx])
                cols["Type"].append("Lead")
                cols["AccountId"].append(None)
            cols["TaskId"].append(tasks["Id"][j])
            cols["IsDeleted"].append(tasks["IsDeleted"][j])
            for k in ("_deleted_at", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"):
                cols[k].append(tasks[k][j])
    n = len(cols["TaskId"])
    cols["Id"] = make_ids("0RT", ctx.twr_counter, n)
    ctx.twr_counter += n
    return cols


def gen_event_relations(ctx: GenContext, events: dict[str, list]) -> dict[str, list]:
    """EventRelation rows of an event's contacts (IsParent: its WhoId, and for ~15% of events 1-3 more
    contacts); about a third of them are invitees too (IsInvitee, one record per person)."""
    r = ctx.rng.random
    cols: dict[str, list] = {k: [] for k in ("EventId", "RelationId", "AccountId", "IsWhat", "IsParent",
                                            "IsInvitee", "Status", "IsDeleted", "CreatedDate", "CreatedById",
                                            "LastModifiedDate", "LastModifiedById", "SystemModstamp",
                                            "_deleted_at")}
    n_con = len(ctx.contact_ids)
    for j, idx in enumerate(events["_who_idx"]):
        if events["WhoId"][j] is None:
            continue
        related = [idx]
        if r() < 0.15:
            related = list(dict.fromkeys(related + [int(r() * n_con) for _ in range(1 + int(r() * 3))]))
        for c in related:
            a = ctx.contact_account[c]
            invitee = r() < 0.35
            cols["EventId"].append(events["Id"][j])
            cols["RelationId"].append(ctx.contact_ids[c])
            cols["AccountId"].append(ctx.account_ids[a] if a >= 0 else None)
            cols["IsWhat"].append(False)
            cols["IsParent"].append(True)
            cols["IsInvitee"].append(invitee)
            cols["Status"].append(("New", "Accepted", "Declined")[int(r() * 3)] if invitee else None)
            cols["IsDeleted"].append(events["IsDeleted"][j])
            for k in ("_deleted_at", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                      "SystemModstamp"):
                cols[k].append(events[k][j])
    n = len(cols["EventId"])
    cols["Id"] = make_ids("0RE", ctx.ewr_counter, n)
    ctx.ewr_counter += n
    return cols


def gen_events(ctx: GenContext, who_contacts: list[int]) -> dict[str, list]:
    rng = ctx.rng
    r = rng.random
    n = len(who_contacts)
    ids = make_ids("00U", ctx.event_counter, n)
    ctx.event_counter += n
    created = _activity_times(ctx, who_contacts)
    cd, lmd, sms = timestamps(rng, created, ctx.anchor)
    all_day = [r() < 0.1 for _ in range(n)]
    starts = [(c // 3600 + int((r() - 0.2) * 24 * 30)) * 3600 for c in created]
    dur = [1440 if a else (15, 30, 30, 45, 60, 60, 90, 120)[int(r() * 8)] for a in all_day]
    starts = [s - s % DAY if a else s for s, a in zip(starts, all_day, strict=True)]
    ends = [s + d * 60 for s, d in zip(starts, dur, strict=True)]
    accounts = ctx.account_ids
    acc = [accounts[ctx.contact_account[i]] if ctx.contact_account[i] >= 0 else None for i in who_contacts]
    return {
        "Id": ids,
        "WhoId": [None if r() < 0.03 else ctx.contact_ids[i] for i in who_contacts],
        "WhatId": [a if a and r() < 0.5 else None for a in acc],
        "Subject": pick(rng, EVENT_SUBJECTS, n), "Location": pick(rng, LOCATIONS, n),
        "IsAllDayEvent": all_day,
        "ActivityDateTime": [None if a else fmt_ts(s) for s, a in zip(starts, all_day, strict=True)],
        "ActivityDate": [fmt_date(s) for s in starts], "DurationInMinutes": dur,
        "StartDateTime": [fmt_ts(s) for s in starts], "EndDateTime": [fmt_ts(e) for e in ends],
        "Description": pick(rng, DESCRIPTIONS, n), "AccountId": acc,
        **owner_cols(ctx, n),
        "ShowAs": pick(rng, ["Busy", "Busy", "Busy", "Free", "OutOfOffice"], n),
        "IsDeleted": [False] * n, "IsChild": [False] * n, "IsPrivate": [r() < 0.05 for _ in range(n)],
        "IsGroupEvent": [False] * n,
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "IsArchived": [e < ctx.anchor - 365 * DAY for e in ends],
        "EventSubtype": ["Event"] * n,
        "_who_idx": list(who_contacts),  # not a column: used to build EventRelation rows
    }
