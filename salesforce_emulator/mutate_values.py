"""The values the change simulation writes: realistic per-object updates, and values for fields
added by schema drift."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from . import objects as md
from . import seed as sd
from . import seed_pools as pools

DAY = sd.DAY


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


def drift_value(f: md.Field, r: random.Random) -> Any:
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
