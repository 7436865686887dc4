"""Deterministic generation of the org's data.

Everything derives from one ``random.Random(seed)`` stream consumed in a fixed order, so the same
(contacts, seed, anchor day) always produces the same rows. Timestamps are expressed relative to
the *anchor*, midnight UTC of the generation day: every CreatedDate / LastModifiedDate /
SystemModstamp is strictly before it (so strictly in the past), spread over about two years.

Generation is column-wise (one list comprehension per column, values drawn from pools) and
row tuples are built with ``zip``; that keeps 1,000,000 contacts plus their activities well
inside the two-minute budget on a small machine.

This module: the clock and text helpers, the shared context, users, accounts, contacts, leads
and deletions; ``seed_activities`` the tasks, events and their relations; ``seed_pools`` the
value pools.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from . import objects as md
from .ids import make_ids
from .seed_pools import (
    ACCOUNT_SUFFIX,
    ACCOUNT_WORDS,
    ASCII_FIRST,
    ASCII_LAST,
    CITIES,
    DEPARTMENTS,
    DESCRIPTIONS,
    FIRST_NAMES,
    LAST_NAMES,
    PROFILE_IDS,
    ROLE_IDS,
    STREETS,
    TIME_ZONES,
    TITLES,
)

DAY = 86400
SPAN_DAYS = 730            # data spread over ~2 years before the anchor
ID_BASE = 10 * 62**5 + 4_000_000   # first record counter: ids look like 0035g00000A....
BATCH = 50_000

_EPOCH = date(1970, 1, 1)
_TOD = [f"T{h:02d}:{m:02d}:{s:02d}.000+0000" for h in range(24) for m in range(60) for s in range(60)]
# Day strings for 1900..2199 by (day number since the epoch + _D0): a list index is the fastest lookup.
_D0 = (_EPOCH - date(1900, 1, 1)).days
_DAYLIST = [(date(1900, 1, 1) + timedelta(days=d)).isoformat() for d in range(_D0 + 84_000)]


def day_str(day_number: int) -> str:
    return _DAYLIST[day_number + _D0]


def fmt_ts(ts: int) -> str:
    """Epoch seconds -> Salesforce datetime text (second precision, as Salesforce stores it)."""
    return _DAYLIST[ts // 86400 + _D0] + _TOD[ts % 86400]


def fmt_date(ts: int) -> str:
    return _DAYLIST[ts // 86400 + _D0]


def stream(seed: int, name: str) -> random.Random:
    """An independent, deterministic random stream per purpose (str seeds hash with SHA-512, so
    they do not depend on PYTHONHASHSEED). Independent streams let the activities be generated in
    another process while the contacts are generated here, with identical results."""
    return random.Random(f"{seed}/{name}")


def now_ts() -> int:
    return int(datetime.now(UTC).timestamp())

@dataclass
class GenContext:
    rng: random.Random
    contacts: int
    anchor: int                       # epoch seconds, midnight UTC of generation day
    user_ids: list[str] = field(default_factory=list)
    active_user_ids: list[str] = field(default_factory=list)
    account_ids: list[str] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)
    contact_account: list[int] = field(default_factory=list)   # account index or -1
    lead_ids: list[str] = field(default_factory=list)
    task_counter: int = ID_BASE
    twr_counter: int = ID_BASE
    ewr_counter: int = ID_BASE
    event_counter: int = ID_BASE
    hard_deleted: list[tuple[str, str, str]] = field(default_factory=list)  # (object, id, deletedDate)

    @property
    def start(self) -> int:
        return self.anchor - SPAN_DAYS * DAY


CONTACT_SOFT_DELETE = 0.01
CONTACT_HARD_DELETE = 0.003


def base_context(contacts: int, seed: int, anchor: int) -> tuple[GenContext, dict[str, list], list[int],
                                                                  list[tuple[float, int]]]:
    """What both generation processes derive identically: users, the ids of every object, each
    contact's account, the activity plan and the contacts' deletion plan."""
    ctx = GenContext(rng=stream(seed, "users"), contacts=contacts, anchor=anchor)
    users = gen_users(ctx)
    size = sizes(contacts)
    ctx.account_ids = make_ids("001", ID_BASE, size["Account"])
    ctx.contact_ids = make_ids("003", ID_BASE, contacts)
    ctx.lead_ids = make_ids("00Q", ID_BASE, size["Lead"])
    r = stream(seed, "contact-account").random
    n_acc = len(ctx.account_ids)
    ctx.contact_account = [-1 if r() < 0.05 else int(r() * n_acc) for _ in range(contacts)]
    ctx.rng = stream(seed, "activity-plan")
    plan = activity_plan(ctx)
    deletions = deletion_plan(stream(seed, "contact-deletions"), contacts, anchor)
    for i, (x, _) in enumerate(deletions):
        if x < CONTACT_HARD_DELETE:
            plan[i] = 0          # a hard-deleted contact took its activities with it
    return ctx, users, plan, deletions


def sizes(contacts: int) -> dict[str, int]:
    return {
        "User": 50,
        "Account": min(max(contacts // 10, 5), 100_000),
        "Lead": min(max(contacts // 20, 3), 100_000),
        "Contact": contacts,
    }


# --- helpers ------------------------------------------------------------------------------------

def pick(rng: random.Random, pool: list, n: int) -> list:
    """n uniform draws from pool. Pools up to 256 entries use one random byte per draw through a
    256-entry table (about 10x faster than rng.random() per draw; a pool size that does not
    divide 256 is over-represented by at most one table slot per entry, which is fine here)."""
    k = len(pool)
    if k <= 256:
        table = (pool * (256 // k + 1))[:256]
        return list(map(table.__getitem__, rng.randbytes(n)))
    r = rng.random
    return [pool[int(r() * k)] for _ in range(n)]


def flags(rng: random.Random, n: int, p: float) -> list[bool]:
    """n booleans, each true with probability ~p (1/256 resolution)."""
    t = round(p * 256)
    return [b < t for b in rng.randbytes(n)]


def timestamps(rng: random.Random, created: list[int], anchor: int) -> tuple[list[str], list[str], list[str]]:
    """CreatedDate <= LastModifiedDate <= SystemModstamp < anchor, as text."""
    r = rng.random
    days, tod, d0 = _DAYLIST, _TOD, _D0
    cd, lmd, sms = [], [], []
    last = anchor - 1
    for c in created:
        x = r()
        m = c if x < 0.45 else c + int((last - c) * (x - 0.45) / 0.55 * r())
        s = m if x > 0.12 else m + int((last - m) * r() * 0.3)
        cd.append(days[c // 86400 + d0] + tod[c % 86400])
        lmd.append(days[m // 86400 + d0] + tod[m % 86400])
        sms.append(days[s // 86400 + d0] + tod[s % 86400])
    return cd, lmd, sms


def _phones(rng: random.Random, n: int, null_share: float) -> list[str | None]:
    r = rng.random
    return [None if r() < null_share else f"({200 + int(r() * 800)}) 555-{int(r() * 10000):04d}" for _ in range(n)]


# --- generators: each returns {column: values} for a batch ------------------------------------

def gen_users(ctx: GenContext, n: int | None = None, first_id: int = ID_BASE) -> dict[str, list]:
    rng = ctx.rng
    fresh = n is None
    n = sizes(ctx.contacts)["User"] if n is None else n
    ids = make_ids("005", first_id, n)
    first = pick(rng, FIRST_NAMES, n)
    last = pick(rng, LAST_NAMES, n)
    if fresh:
        first[0], last[0] = "Integration", "User"
    created = sorted(ctx.start - 200 * DAY + int(rng.random() * 300 * DAY) for _ in range(n))
    cd, lmd, sms = timestamps(rng, created, ctx.anchor)
    active = [(i == 0 and fresh) or rng.random() > 0.16 for i in range(n)]
    cities = pick(rng, CITIES, n)
    if fresh:
        ctx.user_ids = ids
        ctx.active_user_ids = [u for u, a in zip(ids, active, strict=True) if a]
    return {
        "Id": ids,
        "Username": [f"{ASCII_FIRST[f]}.{ASCII_LAST[la]}.{i}@emulator.example.com"
                     for i, (f, la) in zip(range(first_id - ID_BASE, first_id - ID_BASE + n),
                                           zip(first, last, strict=True), strict=True)],
        "FirstName": first, "LastName": last, "Name": [f"{f} {la}" for f, la in zip(first, last, strict=True)],
        "CompanyName": ["Emulated Org"] * n,
        "Division": pick(rng, [None, "North America", "EMEA", "APAC"], n),
        "Department": pick(rng, DEPARTMENTS, n),
        "Title": pick(rng, ["Sales Rep", "Account Executive", "Sales Manager", "Admin", None], n),
        "Street": pick(rng, STREETS + [None] * 4, n),
        "City": [c[0] for c in cities], "State": [c[1] for c in cities], "PostalCode": pick(rng, ["94105", None], n),
        "Country": [c[2] for c in cities], "Latitude": [None] * n, "Longitude": [None] * n,
        "GeocodeAccuracy": [None] * n,
        "Email": [f"{ASCII_FIRST[f]}.{ASCII_LAST[la]}@emulator.example.com"
                  for f, la in zip(first, last, strict=True)],
        "Alias": [(ASCII_FIRST[f][:1] + ASCII_LAST[la][:4] + str(i))[:8]
                  for i, (f, la) in zip(range(first_id - ID_BASE, first_id - ID_BASE + n),
                                        zip(first, last, strict=True), strict=True)],
        "IsActive": active,
        "TimeZoneSidKey": pick(rng, list(TIME_ZONES), n),
        "LocaleSidKey": pick(rng, ["en_US", "en_US", "en_GB", "fr_FR", "de_DE", "zh_CN"], n),
        "UserRoleId": pick(rng, ROLE_IDS, n),
        "ProfileId": pick(rng, PROFILE_IDS, n),
        "UserType": ["Standard"] * n,
        "ManagerId": [None if i < 3 else ids[int(rng.random() * 3)] for i in range(n)],
        "LastLoginDate": [fmt_ts(ctx.anchor - 1 - int(rng.random() * 30 * DAY)) if a else None for a in active],
        "CreatedDate": cd, "CreatedById": [ctx.user_ids[0] if ctx.user_ids else ids[0]] * n,
        "LastModifiedDate": lmd, "LastModifiedById": [ctx.user_ids[0] if ctx.user_ids else ids[0]] * n,
        "SystemModstamp": sms,
    }


def owner_cols(ctx: GenContext, n: int) -> dict[str, list]:
    rng = ctx.rng
    owners = pick(rng, ctx.active_user_ids, n)
    users = ctx.user_ids
    return {
        "OwnerId": owners,
        "CreatedById": [users[0] if rng.random() < 0.3 else o for o in owners],
        "LastModifiedById": [users[0] if rng.random() < 0.5 else o for o in owners],
    }


def _address_cols(rng: random.Random, n: int, prefix: str, null_share: float) -> dict[str, list]:
    r = rng.random
    cities = [None if z else c for c, z in zip(pick(rng, CITIES, n), flags(rng, n, null_share), strict=True)]
    streets = pick(rng, STREETS, n)
    geo = [c is not None and g for c, g in zip(cities, flags(rng, n, 0.6), strict=True)]
    return {
        f"{prefix}Street": [s if c else None for s, c in zip(streets, cities, strict=True)],
        f"{prefix}City": [c[0] if c else None for c in cities],
        f"{prefix}State": [c[1] if c else None for c in cities],
        f"{prefix}PostalCode": [f"{int(r() * 90000) + 10000}" if c else None for c in cities],
        f"{prefix}Country": [c[2] if c else None for c in cities],
        f"{prefix}Latitude": [round(c[3] + (r() - 0.5) / 10, 6) if g else None
                              for c, g in zip(cities, geo, strict=True)],
        f"{prefix}Longitude": [round(c[4] + (r() - 0.5) / 10, 6) if g else None
                               for c, g in zip(cities, geo, strict=True)],
        f"{prefix}GeocodeAccuracy": [("Address" if r() < 0.7 else "Zip") if g else None for g in geo],
    }


def _spread_created(ctx: GenContext, i0: int, i1: int, total: int, offset_days: int = 0) -> list[int]:
    """Creation times increasing with the row index (ids are roughly chronological in Salesforce)."""
    start = ctx.start + offset_days * DAY
    step = (ctx.anchor - DAY - start) / max(total, 1)
    r = ctx.rng.random
    return [int(start + (i + r()) * step) for i in range(i0, i1)]


def gen_accounts(ctx: GenContext, n: int | None = None, first_id: int = ID_BASE) -> dict[str, list]:
    rng = ctx.rng
    fresh = n is None
    n = sizes(ctx.contacts)["Account"] if n is None else n
    ids = make_ids("001", first_id, n)
    if fresh:
        ctx.account_ids = ids
    created = _spread_created(ctx, 0, n, n, offset_days=-60)
    cd, lmd, sms = timestamps(rng, created, ctx.anchor)
    r = rng.random
    names = [f"{a} {s}" + (f" {i}" if i >= 200 else "")
             for i, (a, s) in enumerate(zip(pick(rng, ACCOUNT_WORDS, n), pick(rng, ACCOUNT_SUFFIX, n),
                                            strict=True))]
    cols = {
        "Id": ids, "IsDeleted": [False] * n, "MasterRecordId": [None] * n, "Name": names,
        "Type": pick(rng, [None, "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"], n),
        "ParentId": [ids[int(r() * i)] if i > 10 and r() < 0.05 else None for i in range(n)],
        **_address_cols(rng, n, "Billing", 0.2),
        "Phone": _phones(rng, n, 0.2),
        "Website": [None if r() < 0.3 else f"https://www.example{i}.com" for i in range(n)],
        "Industry": pick(rng, [None, *md.INDUSTRIES], n),
        "AnnualRevenue": [None if r() < 0.4 else float(int(r() * 5000) * 10000) for _ in range(n)],
        "NumberOfEmployees": [None if r() < 0.3 else int(r() * 5000) + 1 for _ in range(n)],
        "Description": pick(rng, DESCRIPTIONS, n),
        **owner_cols(ctx, n),
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "LastActivityDate": [None] * n,
    }
    return cols


def activity_plan(ctx: GenContext) -> list[int]:
    """Number of activities per contact: ~80% none, most of the rest 1-5, a few 6-19, ~0.4% 20-50."""
    r = ctx.rng.random
    plan = []
    for _ in range(ctx.contacts):
        x = r()
        if x < 0.80:
            plan.append(0)
        elif x < 0.98:
            plan.append(1 + int(r() * 5))
        elif x < 0.996:
            plan.append(6 + int(r() * 14))
        else:
            plan.append(20 + int(r() * 31))
    return plan


# A few text values carry a NUL character, as text pasted from other systems does in real orgs
# (Airbyte's and singer-io's Salesforce connectors met them); deterministic, no random draw.
NUL_EVERY, NUL_AT = 500, 250


def _pasted_nul(values: list, i0: int) -> list:
    return [f"{v[:2]}\x00{v[2:]}" if v and (i0 + k) % NUL_EVERY == NUL_AT else v for k, v in enumerate(values)]


def gen_contacts(ctx: GenContext, i0: int, i1: int, plan: list[int]) -> dict[str, list]:
    rng, n, total = ctx.rng, i1 - i0, ctx.contacts
    r = rng.random
    ids = ctx.contact_ids[i0:i1]
    acc_idx = ctx.contact_account[i0:i1]
    first = [None if z else f for f, z in zip(pick(rng, FIRST_NAMES, n), flags(rng, n, 0.03), strict=True)]
    last = pick(rng, LAST_NAMES, n)
    created = _spread_created(ctx, i0, i1, total)
    cd, lmd, sms = timestamps(rng, created, ctx.anchor)
    physician = flags(rng, n, 0.4)
    emails = [None if r() < 0.08 else f"{ASCII_FIRST[f] if f else 'info'}.{ASCII_LAST[la]}{i}@example.com"
              for i, f, la in zip(range(i0, i1), first, last, strict=True)]
    cols = {
        "Id": ids, "IsDeleted": [False] * n, "MasterRecordId": [None] * n,
        "AccountId": [ctx.account_ids[a] if a >= 0 else None for a in acc_idx],
        "LastName": last, "FirstName": first,
        "Salutation": pick(rng, [None, None, *md.SALUTATIONS], n),
        "Name": [f"{f} {la}" if f else la for f, la in zip(first, last, strict=True)],
        **_address_cols(rng, n, "Other", 0.85),
        **_address_cols(rng, n, "Mailing", 0.15),
        "Phone": _phones(rng, n, 0.15), "MobilePhone": _phones(rng, n, 0.6),
        "ReportsToId": [ids[int(r() * k)] if k > 5 and r() < 0.05 else None for k in range(n)],
        "Email": emails,
        "Title": _pasted_nul(pick(rng, TITLES, n), i0), "Department": pick(rng, DEPARTMENTS, n),
        "LeadSource": pick(rng, [None, None, *md.LEAD_SOURCES], n),
        "Birthdate": [None if r() < 0.5 else fmt_date(ctx.anchor - int((25 + r() * 45) * 365.25 * DAY))
                      for _ in range(n)],
        **owner_cols(ctx, n),
        "HasOptedOutOfEmail": flags(rng, n, 0.07),
        "DoNotCall": flags(rng, n, 0.03),
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "LastActivityDate": [fmt_date(ctx.anchor - 1 - int(r() * 300 * DAY)) if plan[i] else None
                             for i in range(i0, i1)],
        "NPI__c": [str(1_000_000_000 + i) if p else None for i, p in zip(range(i0, i1), physician, strict=True)],
        "Specialty__c": [s if p else None
                         for s, p in zip(pick(rng, list(md.SPECIALTIES), n), physician, strict=True)],
        "Is_Physician__c": physician,
        "Languages__c": pick(rng, [None, None, "English", "English;Spanish", "French", "English;French;German",
                                    "Mandarin", "Arabic;English"], n),
    }
    return cols


def gen_leads(ctx: GenContext, n: int | None = None, first_id: int = ID_BASE) -> dict[str, list]:
    rng = ctx.rng
    r = rng.random
    fresh = n is None
    n = sizes(ctx.contacts)["Lead"] if n is None else n
    ids = make_ids("00Q", first_id, n)
    if fresh:
        ctx.lead_ids = ids
    first = [None if r() < 0.05 else f for f in pick(rng, FIRST_NAMES, n)]
    last = pick(rng, LAST_NAMES, n)
    created = _spread_created(ctx, 0, n, n)
    cd, lmd, sms = timestamps(rng, created, ctx.anchor)
    status = pick(rng, ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                         "Closed - Not Converted"], n)
    converted = [s == "Closed - Converted" for s in status]
    n_acc, n_con = len(ctx.account_ids), len(ctx.contact_ids)
    return {
        "Id": ids, "IsDeleted": [False] * n, "MasterRecordId": [None] * n,
        "LastName": last, "FirstName": first, "Salutation": pick(rng, [None, *md.SALUTATIONS], n),
        "Name": [f"{f} {la}" if f else la for f, la in zip(first, last, strict=True)],
        "Title": pick(rng, TITLES, n),
        "Company": [f"{a} {s}" for a, s in zip(pick(rng, ACCOUNT_WORDS, n), pick(rng, ACCOUNT_SUFFIX, n),
                                                 strict=True)],
        **_address_cols(rng, n, "", 0.3),
        "Phone": _phones(rng, n, 0.2), "MobilePhone": _phones(rng, n, 0.7),
        "Email": [None if r() < 0.1 else f"lead{i}@example.org" for i in range(first_id - ID_BASE, first_id - ID_BASE + n)],
        "Website": [None] * n,
        "LeadSource": pick(rng, [None, *md.LEAD_SOURCES], n), "Status": status,
        "Industry": pick(rng, [None, *md.INDUSTRIES], n), "Rating": pick(rng, [None, "Hot", "Warm", "Cold"], n),
        **owner_cols(ctx, n),
        "IsConverted": converted,
        "ConvertedDate": [lmd[i][:10] if c else None for i, c in enumerate(converted)],
        "ConvertedAccountId": [ctx.account_ids[int(r() * n_acc)] if c else None for c in converted],
        "ConvertedContactId": [ctx.contact_ids[int(r() * n_con)] if c and n_con else None for c in converted],
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms, "LastActivityDate": [None] * n,
    }


def deletion_plan(rng: random.Random, n: int, anchor: int) -> list[tuple[float, int]]:
    """Per row (x, when): x decides soft/hard deletion against the shares, when is the deletion
    time (within the last 14 days: still in the recycle bin / the deleted feed window)."""
    r = rng.random
    return [(r(), anchor - 1 - int(r() * 14 * DAY)) for _ in range(n)]


def apply_deletions(ctx: GenContext, obj: str, cols: dict[str, list], soft: float, hard: float,
                    plan: list[tuple[float, int]] | None = None) -> None:
    """Mark a share of rows soft-deleted (deleted in the last 14 days, still in the recycle bin)
    and drop a share as hard-deleted (listed only in the deleted feed)."""
    n = len(cols["Id"])
    if plan is None:
        plan = deletion_plan(ctx.rng, n, ctx.anchor)
    deleted_at: list[str | None] = [None] * n
    dropped: list[int] = []
    cut = hard + soft
    ids, sms, lmd, is_deleted = cols["Id"], cols["SystemModstamp"], cols["LastModifiedDate"], cols.get("IsDeleted")
    for i in [i for i, (x, _) in enumerate(plan) if x < cut]:
        x, when_ts = plan[i]
        when = fmt_ts(when_ts)
        if x < hard:
            ctx.hard_deleted.append((obj, ids[i], when))
            dropped.append(i)
        elif when > sms[i] and is_deleted is not None:
            is_deleted[i] = True
            sms[i] = when
            if lmd[i] > when:
                lmd[i] = when
            deleted_at[i] = when
    cols["_deleted_at"] = deleted_at
    if dropped:
        mask = [True] * n
        for i in dropped:
            mask[i] = False
        for k, v in cols.items():
            if isinstance(v, list) and len(v) == n:
                cols[k] = list(itertools.compress(v, mask))


def rows(cols: dict[str, list], names: list[str]) -> Iterator[tuple]:
    n = len(cols["Id"])
    none = [None] * n
    return zip(*[cols.get(c, none) for c in names], strict=True)


Progress = Callable[[str], None]
