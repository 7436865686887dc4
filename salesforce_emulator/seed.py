"""Deterministic generation of the org's data.

Everything derives from one ``random.Random(seed)`` stream consumed in a fixed order, so the same
(contacts, seed, anchor day) always produces the same rows. Timestamps are expressed relative to
the *anchor*, midnight UTC of the generation day: every CreatedDate / LastModifiedDate /
SystemModstamp is strictly before it (so strictly in the past), spread over about two years.

Generation is column-wise (one list comprehension per column, values drawn from pools) and
row tuples are built with ``zip``; that keeps 1,000,000 contacts plus their activities well
inside the two-minute budget on a small machine.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from . import objects as md
from .ids import make_ids

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


# --- value pools (tricky text on purpose: unicode, commas, quotes, newlines, emoji) -------------

FIRST_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
               "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
               "Charles", "Karen", "José", "Zoë", "Jürgen", "François", "Søren", "Ana María", "Renée",
               "Łukasz", "伟", "芳", "Chloé", "Mohammed", "Priya", "Olu", "Siobhán", "Ånge", "Nguyễn",
               "D'Arcy", "Anne-Marie", "Björn"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
              "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
              "Jackson", "Martin", "O'Brien", "Müller", "Núñez", "王", "李", "Nakamura", "Østergaard",
              "Smith, Jr.", 'Rivera "Rocky"', "van der Berg", "Dupont-Lefèvre", "Kowalczyk", "Ödegaard",
              "Şahin", "Papadopoulos", "Ivanova", "Nguyen", "MacDonald", "Fitzgerald 🍀", "Singh"]
ASCII_FIRST = {n: (n.encode("ascii", "ignore").decode() or "user").replace(" ", "").replace("'", "").lower()
               for n in [*FIRST_NAMES, "Integration"]}
ASCII_LAST = {n: (n.encode("ascii", "ignore").decode().split(",")[0].split('"')[0] or "x")
              .replace(" ", "").replace("'", "").lower() for n in [*LAST_NAMES, "User"]}
TITLES = ["Physician", "Nurse Practitioner", "Office Manager", "VP, Sales", "Director of Operations",
          'Head of "Growth"', "Chief Medical Officer", "Attending Physician", "Résident", "Pharmacist",
          "Practice Administrator", "Chef de Clinique", "主任医师", "CEO & Founder", "Billing Specialist",
          None, None, None]
DEPARTMENTS = ["Cardiology", "Emergency", "Administration", "Billing", "Research & Development", "Pédiatrie",
               "Oncology", None, None, None, None]
CITIES = [("San Francisco", "CA", "US", 37.7749, -122.4194), ("New York", "NY", "US", 40.7128, -74.006),
          ("Chicago", "IL", "US", 41.8781, -87.6298), ("Austin", "TX", "US", 30.2672, -97.7431),
          ("Boston", "MA", "US", 42.3601, -71.0589), ("Montréal", "QC", "CA", 45.5017, -73.5673),
          ("München", "BY", "DE", 48.1351, 11.582), ("São Paulo", "SP", "BR", -23.5505, -46.6333),
          ("上海", "SH", "CN", 31.2304, 121.4737), ("Zürich", "ZH", "CH", 47.3769, 8.5417),
          ("Seattle", "WA", "US", 47.6062, -122.3321), ("Denver", "CO", "US", 39.7392, -104.9903)]
STREETS = ["123 Main St", "1 Market Street\nSuite 300", "742 Evergreen Terrace", "55 Rue de la Paix, Bât. B",
           "Königstraße 12", '10 "Old" Mill Rd', "8 Harbour View,\nUnit 5", "1600 Amphitheatre Pkwy",
           "221B Baker Street", "浦东新区世纪大道100号", "4 Privet Drive", "350 Fifth Avenue, Floor 21"]
ACCOUNT_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Cyberdyne", "Soylent",
                 "Hooli", "Vandelay", "Müller & Söhne", "Clínica São José", "北京医疗", "Smith, Jones & Co",
                 'The "Best" Clinic', "Pied Piper", "Massive Dynamic", "Wonka", "Tyrell", "Aperture"]
ACCOUNT_SUFFIX = ["Health", "Medical Group", "Clinic", "Hospital", "Labs", "Inc.", "LLC", "GmbH", "Partners",
                  "Pharmacy"]
TASK_SUBJECTS = ["Call", "Email", "Send Letter", "Send Quote", "Follow up", "Intro call – re: samples",
                 "Re: your question, again", 'Sent "Q3" brochure', "Lunch 🍱 with team", "Rappel: réunion",
                 "Other", "Demo"]
DESCRIPTIONS = [None, None, None, None, "Left voicemail.", "Discussed pricing, volume discounts, and timeline.",
                'Customer said: "call me next week".', "Line one\nLine two\nLine three",
                "Multi-line, with commas,\nand \"quotes\"\r\nand CRLF too.", "Très bien — à bientôt 👍",
                "客户要求下周回电", "Notes:\n- item 1\n- item 2, with comma", "😀🎉 great meeting"]
EVENT_SUBJECTS = ["Meeting", "Lunch", "Demo", "Site visit", "Conférence annuelle", "Quarterly review, Q4",
                  'Webinar "Best practices"', "Call"]
LOCATIONS = [None, None, "Zoom", "HQ, Room 4", "Café de Flore", "会议室 A", 'Building "B"', "Teams"]
CALL_DISPOSITIONS = [None, None, None, "Left voicemail", "Connected", "No answer", "Wrong number, will retry"]
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "Asia/Shanghai",
              "Australia/Sydney")
PROFILE_IDS = ["00e5g000001AbCdEAA", "00e5g000001AbCeEAA", "00e5g000001AbCfEAA"]
ROLE_IDS = [None, "00E5g000000RoL1EAA", "00E5g000000RoL2EAA"]


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

def _pick(rng: random.Random, pool: list, n: int) -> list:
    """n uniform draws from pool. Pools up to 256 entries use one random byte per draw through a
    256-entry table (about 10x faster than rng.random() per draw; a pool size that does not
    divide 256 is over-represented by at most one table slot per entry, which is fine here)."""
    k = len(pool)
    if k <= 256:
        table = (pool * (256 // k + 1))[:256]
        return list(map(table.__getitem__, rng.randbytes(n)))
    r = rng.random
    return [pool[int(r() * k)] for _ in range(n)]


def _flags(rng: random.Random, n: int, p: float) -> list[bool]:
    """n booleans, each true with probability ~p (1/256 resolution)."""
    t = round(p * 256)
    return [b < t for b in rng.randbytes(n)]


def _timestamps(rng: random.Random, created: list[int], anchor: int) -> tuple[list[str], list[str], list[str]]:
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
    first = _pick(rng, FIRST_NAMES, n)
    last = _pick(rng, LAST_NAMES, n)
    if fresh:
        first[0], last[0] = "Integration", "User"
    created = sorted(ctx.start - 200 * DAY + int(rng.random() * 300 * DAY) for _ in range(n))
    cd, lmd, sms = _timestamps(rng, created, ctx.anchor)
    active = [(i == 0 and fresh) or rng.random() > 0.16 for i in range(n)]
    cities = _pick(rng, CITIES, n)
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
        "Division": _pick(rng, [None, "North America", "EMEA", "APAC"], n),
        "Department": _pick(rng, DEPARTMENTS, n),
        "Title": _pick(rng, ["Sales Rep", "Account Executive", "Sales Manager", "Admin", None], n),
        "Street": _pick(rng, STREETS + [None] * 4, n),
        "City": [c[0] for c in cities], "State": [c[1] for c in cities], "PostalCode": _pick(rng, ["94105", None], n),
        "Country": [c[2] for c in cities], "Latitude": [None] * n, "Longitude": [None] * n,
        "GeocodeAccuracy": [None] * n,
        "Email": [f"{ASCII_FIRST[f]}.{ASCII_LAST[la]}@emulator.example.com"
                  for f, la in zip(first, last, strict=True)],
        "Alias": [(ASCII_FIRST[f][:1] + ASCII_LAST[la][:4] + str(i))[:8]
                  for i, (f, la) in zip(range(first_id - ID_BASE, first_id - ID_BASE + n),
                                        zip(first, last, strict=True), strict=True)],
        "IsActive": active,
        "TimeZoneSidKey": _pick(rng, list(TIME_ZONES), n),
        "LocaleSidKey": _pick(rng, ["en_US", "en_US", "en_GB", "fr_FR", "de_DE", "zh_CN"], n),
        "UserRoleId": _pick(rng, ROLE_IDS, n),
        "ProfileId": _pick(rng, PROFILE_IDS, n),
        "UserType": ["Standard"] * n,
        "ManagerId": [None if i < 3 else ids[int(rng.random() * 3)] for i in range(n)],
        "LastLoginDate": [fmt_ts(ctx.anchor - 1 - int(rng.random() * 30 * DAY)) if a else None for a in active],
        "CreatedDate": cd, "CreatedById": [ctx.user_ids[0] if ctx.user_ids else ids[0]] * n,
        "LastModifiedDate": lmd, "LastModifiedById": [ctx.user_ids[0] if ctx.user_ids else ids[0]] * n,
        "SystemModstamp": sms,
    }


def _owner_cols(ctx: GenContext, n: int) -> dict[str, list]:
    rng = ctx.rng
    owners = _pick(rng, ctx.active_user_ids, n)
    users = ctx.user_ids
    return {
        "OwnerId": owners,
        "CreatedById": [users[0] if rng.random() < 0.3 else o for o in owners],
        "LastModifiedById": [users[0] if rng.random() < 0.5 else o for o in owners],
    }


def _address_cols(rng: random.Random, n: int, prefix: str, null_share: float) -> dict[str, list]:
    r = rng.random
    cities = [None if z else c for c, z in zip(_pick(rng, CITIES, n), _flags(rng, n, null_share), strict=True)]
    streets = _pick(rng, STREETS, n)
    geo = [c is not None and g for c, g in zip(cities, _flags(rng, n, 0.6), strict=True)]
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
    cd, lmd, sms = _timestamps(rng, created, ctx.anchor)
    r = rng.random
    names = [f"{a} {s}" + (f" {i}" if i >= 200 else "")
             for i, (a, s) in enumerate(zip(_pick(rng, ACCOUNT_WORDS, n), _pick(rng, ACCOUNT_SUFFIX, n),
                                            strict=True))]
    cols = {
        "Id": ids, "IsDeleted": [False] * n, "MasterRecordId": [None] * n, "Name": names,
        "Type": _pick(rng, [None, "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"], n),
        "ParentId": [ids[int(r() * i)] if i > 10 and r() < 0.05 else None for i in range(n)],
        **_address_cols(rng, n, "Billing", 0.2),
        "Phone": _phones(rng, n, 0.2),
        "Website": [None if r() < 0.3 else f"https://www.example{i}.com" for i in range(n)],
        "Industry": _pick(rng, [None, *md.INDUSTRIES], n),
        "AnnualRevenue": [None if r() < 0.4 else float(int(r() * 5000) * 10000) for _ in range(n)],
        "NumberOfEmployees": [None if r() < 0.3 else int(r() * 5000) + 1 for _ in range(n)],
        "Description": _pick(rng, DESCRIPTIONS, n),
        **_owner_cols(ctx, n),
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
    first = [None if z else f for f, z in zip(_pick(rng, FIRST_NAMES, n), _flags(rng, n, 0.03), strict=True)]
    last = _pick(rng, LAST_NAMES, n)
    created = _spread_created(ctx, i0, i1, total)
    cd, lmd, sms = _timestamps(rng, created, ctx.anchor)
    physician = _flags(rng, n, 0.4)
    emails = [None if r() < 0.08 else f"{ASCII_FIRST[f] if f else 'info'}.{ASCII_LAST[la]}{i}@example.com"
              for i, f, la in zip(range(i0, i1), first, last, strict=True)]
    cols = {
        "Id": ids, "IsDeleted": [False] * n, "MasterRecordId": [None] * n,
        "AccountId": [ctx.account_ids[a] if a >= 0 else None for a in acc_idx],
        "LastName": last, "FirstName": first,
        "Salutation": _pick(rng, [None, None, *md.SALUTATIONS], n),
        "Name": [f"{f} {la}" if f else la for f, la in zip(first, last, strict=True)],
        **_address_cols(rng, n, "Other", 0.85),
        **_address_cols(rng, n, "Mailing", 0.15),
        "Phone": _phones(rng, n, 0.15), "MobilePhone": _phones(rng, n, 0.6),
        "ReportsToId": [ids[int(r() * k)] if k > 5 and r() < 0.05 else None for k in range(n)],
        "Email": emails,
        "Title": _pasted_nul(_pick(rng, TITLES, n), i0), "Department": _pick(rng, DEPARTMENTS, n),
        "LeadSource": _pick(rng, [None, None, *md.LEAD_SOURCES], n),
        "Birthdate": [None if r() < 0.5 else fmt_date(ctx.anchor - int((25 + r() * 45) * 365.25 * DAY))
                      for _ in range(n)],
        **_owner_cols(ctx, n),
        "HasOptedOutOfEmail": _flags(rng, n, 0.07),
        "DoNotCall": _flags(rng, n, 0.03),
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "LastActivityDate": [fmt_date(ctx.anchor - 1 - int(r() * 300 * DAY)) if plan[i] else None
                             for i in range(i0, i1)],
        "NPI__c": [str(1_000_000_000 + i) if p else None for i, p in zip(range(i0, i1), physician, strict=True)],
        "Specialty__c": [s if p else None
                         for s, p in zip(_pick(rng, list(md.SPECIALTIES), n), physician, strict=True)],
        "Is_Physician__c": physician,
        "Languages__c": _pick(rng, [None, None, "English", "English;Spanish", "French", "English;French;German",
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
    first = [None if r() < 0.05 else f for f in _pick(rng, FIRST_NAMES, n)]
    last = _pick(rng, LAST_NAMES, n)
    created = _spread_created(ctx, 0, n, n)
    cd, lmd, sms = _timestamps(rng, created, ctx.anchor)
    status = _pick(rng, ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                         "Closed - Not Converted"], n)
    converted = [s == "Closed - Converted" for s in status]
    n_acc, n_con = len(ctx.account_ids), len(ctx.contact_ids)
    return {
        "Id": ids, "IsDeleted": [False] * n, "MasterRecordId": [None] * n,
        "LastName": last, "FirstName": first, "Salutation": _pick(rng, [None, *md.SALUTATIONS], n),
        "Name": [f"{f} {la}" if f else la for f, la in zip(first, last, strict=True)],
        "Title": _pick(rng, TITLES, n),
        "Company": [f"{a} {s}" for a, s in zip(_pick(rng, ACCOUNT_WORDS, n), _pick(rng, ACCOUNT_SUFFIX, n),
                                                 strict=True)],
        **_address_cols(rng, n, "", 0.3),
        "Phone": _phones(rng, n, 0.2), "MobilePhone": _phones(rng, n, 0.7),
        "Email": [None if r() < 0.1 else f"lead{i}@example.org" for i in range(first_id - ID_BASE, first_id - ID_BASE + n)],
        "Website": [None] * n,
        "LeadSource": _pick(rng, [None, *md.LEAD_SOURCES], n), "Status": status,
        "Industry": _pick(rng, [None, *md.INDUSTRIES], n), "Rating": _pick(rng, [None, "Hot", "Warm", "Cold"], n),
        **_owner_cols(ctx, n),
        "IsConverted": converted,
        "ConvertedDate": [lmd[i][:10] if c else None for i, c in enumerate(converted)],
        "ConvertedAccountId": [ctx.account_ids[int(r() * n_acc)] if c else None for c in converted],
        "ConvertedContactId": [ctx.contact_ids[int(r() * n_con)] if c and n_con else None for c in converted],
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms, "LastActivityDate": [None] * n,
    }


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
    is_event = _flags(rng, len(who_idx), 0.25)
    t_who = [i for i, e in zip(who_idx, is_event, strict=True) if not e]
    e_who = [i for i, e in zip(who_idx, is_event, strict=True) if e]
    tasks = _gen_tasks(ctx, t_who, lead_share)
    apply_deletions(ctx, "Task", tasks, soft=0.01, hard=0.003)
    events = _gen_events(ctx, e_who)
    apply_deletions(ctx, "Event", events, soft=0.01, hard=0.003)
    relations = _gen_relations(ctx, tasks)
    event_relations = _gen_event_relations(ctx, events)
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


def _gen_tasks(ctx: GenContext, who_contacts: list[int], lead_share: bool) -> dict[str, list]:
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
    cd, lmd, sms = _timestamps(rng, created, ctx.anchor)
    anchor = ctx.anchor
    due = [c + int((r() - 0.3) * 20 * DAY) for c in created]
    status = [("Completed" if d < anchor - 7 * DAY and r() < 0.9 else
               ("Not Started", "In Progress", "Waiting on someone else", "Deferred")[int(r() * 4)]) for d in due]
    closed = [s == "Completed" for s in status]
    archived = [c and d < anchor - 365 * DAY for c, d in zip(closed, due, strict=True)]
    subtype = _pick(rng, ["Task", "Task", "Email", "Email", "Call", "Call", "ListEmail", "Cadence"], n)
    accounts = ctx.account_ids
    acc = [accounts[ctx.contact_account[w[1]]] if w and w[0] == "C" and ctx.contact_account[w[1]] >= 0 else None
           for w in who]
    priority = _pick(rng, ["Normal", "Normal", "Normal", "High", "Low"], n)
    calls = [s == "Call" for s in subtype]
    return {
        "Id": ids,
        "WhoId": [(ctx.contact_ids[w[1]] if w[0] == "C" else ctx.lead_ids[w[1]]) if w else None for w in who],
        "WhatId": [a if a and r() < 0.6 else None for a in acc],
        "Subject": _pick(rng, TASK_SUBJECTS, n),
        "ActivityDate": [None if r() < 0.1 else fmt_date(d) for d in due],
        "Status": status, "Priority": priority, "IsHighPriority": [p == "High" for p in priority],
        **_owner_cols(ctx, n),
        "Description": _pick(rng, DESCRIPTIONS, n),
        "IsDeleted": [False] * n, "AccountId": acc, "IsClosed": closed,
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "IsArchived": archived,
        "CallDurationInSeconds": [int(r() * 1800) if c else None for c in calls],
        "CallType": [("Inbound", "Outbound", "Internal")[int(r() * 3)] if c else None for c in calls],
        "CallDisposition": [d if c else None for d, c in zip(_pick(rng, CALL_DISPOSITIONS, n), calls, strict=True)],
        "ReminderDateTime": [fmt_ts(d - 3600) if r() < 0.1 else None for d in due],
        "IsReminderSet": [False] * n, "IsRecurrence": [False] * n, "TaskSubtype": subtype,
        "CompletedDateTime": [m if c else None for m, c in zip(lmd, closed, strict=True)],
        "_who": who,  # not a column: used to build TaskWhoRelation rows
    }


def _gen_relations(ctx: GenContext, tasks: dict[str, list]) -> dict[str, list]:
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


def _gen_event_relations(ctx: GenContext, events: dict[str, list]) -> dict[str, list]:
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


def _gen_events(ctx: GenContext, who_contacts: list[int]) -> dict[str, list]:
    rng = ctx.rng
    r = rng.random
    n = len(who_contacts)
    ids = make_ids("00U", ctx.event_counter, n)
    ctx.event_counter += n
    created = _activity_times(ctx, who_contacts)
    cd, lmd, sms = _timestamps(rng, created, ctx.anchor)
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
        "Subject": _pick(rng, EVENT_SUBJECTS, n), "Location": _pick(rng, LOCATIONS, n),
        "IsAllDayEvent": all_day,
        "ActivityDateTime": [None if a else fmt_ts(s) for s, a in zip(starts, all_day, strict=True)],
        "ActivityDate": [fmt_date(s) for s in starts], "DurationInMinutes": dur,
        "StartDateTime": [fmt_ts(s) for s in starts], "EndDateTime": [fmt_ts(e) for e in ends],
        "Description": _pick(rng, DESCRIPTIONS, n), "AccountId": acc,
        **_owner_cols(ctx, n),
        "ShowAs": _pick(rng, ["Busy", "Busy", "Busy", "Free", "OutOfOffice"], n),
        "IsDeleted": [False] * n, "IsChild": [False] * n, "IsPrivate": [r() < 0.05 for _ in range(n)],
        "IsGroupEvent": [False] * n,
        "CreatedDate": cd, "LastModifiedDate": lmd, "SystemModstamp": sms,
        "IsArchived": [e < ctx.anchor - 365 * DAY for e in ends],
        "EventSubtype": ["Event"] * n,
        "_who_idx": list(who_contacts),  # not a column: used to build EventRelation rows
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
