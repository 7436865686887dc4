"""SOQL date literals (TODAY, LAST_N_DAYS:n, ...) and dateTime literals."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta


def _month_start(d: date, delta_months: int = 0) -> date:
    m = d.month - 1 + delta_months
    return date(d.year + m // 12, m % 12 + 1, 1)


def date_literal_range(name: str, n: int | None, today: date) -> tuple[date, date] | None:
    """[start, end) in days for a SOQL date literal (UTC is the user's zone here)."""
    one = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)   # weeks start on Sunday (en_US)
    simple = {
        "TODAY": (today, today + one),
        "YESTERDAY": (today - one, today),
        "TOMORROW": (today + one, today + 2 * one),
        "THIS_WEEK": (week_start, week_start + 7 * one),
        "LAST_WEEK": (week_start - 7 * one, week_start),
        "NEXT_WEEK": (week_start + 7 * one, week_start + 14 * one),
        "THIS_MONTH": (_month_start(today), _month_start(today, 1)),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
    }
    if n is None:
        return simple.get(name)
    with_n = {
        # LAST_N_DAYS:n covers today and the n days before it (unverified edge: some sources
        # say it starts "n days ago"; including today is what an ELT user expects).
        "LAST_N_DAYS": (today - n * one, today + one),
        "NEXT_N_DAYS": (today + one, today + (n + 1) * one),
        "N_DAYS_AGO": (today - n * one, today - (n - 1) * one),
        "LAST_N_WEEKS": (week_start - 7 * n * one, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * one, week_start + 7 * (n + 1) * one),
        "LAST_N_MONTHS": (_month_start(today, -n), _month_start(today)),
        "NEXT_N_MONTHS": (_month_start(today, 1), _month_start(today, n + 1)),
        "LAST_N_YEARS": (date(today.year - n, 1, 1), date(today.year, 1, 1)),
        "NEXT_N_YEARS": (date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1)),
    }
    return with_n.get(name)


def fmt_dt(d: datetime) -> str:
    d = d.astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def parse_datetime_literal(text: str) -> datetime:
    t = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", t):
        t = t[:-2] + ":" + t[-2:]
    return datetime.fromisoformat(t)

