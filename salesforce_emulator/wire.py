"""Wire-format variety of a real org, as options of the emulator.

Salesforce answers the same query in more than one shape, and a client must take all of them:

- ``quote_all``: Bulk 2.0 results with every field quoted. The Bulk API 2.0 guide's own example of
  query results ("Get Results for a Query Job") prints ``"Id","Name"`` / ``"005R0000000UyrWIAS","Jane Dunn"``.
  A null is then ``""`` (unverified: it reads as empty either way, and an empty field is null).
- ``java_doubles``: doubles (double, currency, percent; also address latitudes) printed the way
  Java's ``Double.toString`` prints them: plain from 10^-3 to 10^7, else scientific notation
  (``1.6147805824397E13``, ``1.0E-4``), in Bulk CSV (forcedotcom/cli issue 3367: a number(18,0) field
  holding 16147805824397 exported as ``1.6147805824397E13``; forcedotcom/dataloader issue 1204:
  ``"9.9213206E7"``) and in REST JSON (RoseSilverSoftware/IlluminatedCloud issue 3004: "this is how
  the Salesforce SOQL query API works").
- ``short_pages``: REST query pages holding fewer records than the ``Sforce-Query-Options:
  batchSize`` asked for ("There is no guarantee that the requested batch size is the actual batch
  size", REST API Developer Guide, Query Options Header). Page sizes vary from page to page
  (deterministically), between a tenth of the batch and one less than it, and never above
  ``max_page`` when that is set (Salesforce shrinks pages of wide records).
- ``short_bulk_pages``: Bulk 2.0 results pages that at times hold fewer records than the
  ``maxRecords`` asked for ("the request is still subject to the size limits", Bulk API 2.0 and
  Bulk API Developer Guide, Get Results for a Query Job): about every other page holds between
  half of it and one less (deterministically, seeded by the page's first row).
- ``empty_bulk_body``: the results of a Bulk 2.0 job without rows are an empty body, without
  the header row. Whether Salesforce sends the header for no rows is unverified (its guide shows
  only a non-empty example); the empty body is the harder case for a client, which must then
  write the columns itself.
- ``lagging_feeds``: every other ``/updated`` and ``/deleted`` answer has a ``latestDateCovered``
  1 to 3 minutes before its end (never before its start), and lists nothing after it. The SOAP
  API Developer Guide (GetDeletedResult, GetUpdatedResult) allows it: when latestDateCovered is
  before the end, "you must use this value for the startDate of your next call" (changes still in
  flight). How often and how far a real org lags is unverified; this is the harder choice.

Without options the emulator writes the plainest form (minimal quoting, Python's float text, full
pages); ``WireFormat.realistic()`` turns every variation on (the pytest plugin's default).
Whatever the options, a field holding CR, LF, a quote or a comma is quoted (RFC 4180).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

_NAMES = ("quote_all", "java_doubles", "short_pages", "short_bulk_pages", "empty_bulk_body", "lagging_feeds")


@dataclass(frozen=True)
class WireFormat:
    quote_all: bool = False
    java_doubles: bool = False
    short_pages: bool = False
    short_bulk_pages: bool = False
    empty_bulk_body: bool = False
    lagging_feeds: bool = False
    max_page: int | None = None  # REST: at most this many records per page (with short_pages)

    @classmethod
    def realistic(cls, **overrides: Any) -> WireFormat:
        return cls(**{**dict.fromkeys(_NAMES, True), **overrides})

    @classmethod
    def parse(cls, text: str) -> WireFormat:
        """``"realistic"``, ``""`` (plain) or a comma list of option names, ``max_page=N`` included."""
        text = text.strip()
        if text == "realistic":
            return cls.realistic()
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in known:
                raise ValueError(f"unknown wire option {name!r}; known: realistic, {sorted(known)}")
            values[name] = int(value) if name == "max_page" else True
        return cls(**values)

    def page_size(self, batch: int, row: int) -> int:
        """Records in the REST page that starts at result row ``row`` when ``batch`` was asked for."""
        if not self.short_pages:
            return batch
        limit = min(batch, self.max_page or batch)
        low = max(1, limit // 10)
        high = max(low, limit - 1 if limit == batch else limit)
        # Seeded by the row: sizes vary page to page, and are the same on every run.
        return random.Random(row).randint(low, high)


    def bulk_page_size(self, max_records: int, row: int) -> int:
        """Records in the Bulk results page that starts at result row ``row`` when ``max_records`` was asked for."""
        if not self.short_bulk_pages or max_records < 2:
            return max_records
        rng = random.Random(row)
        return max_records if rng.random() < 0.5 else rng.randint(max(1, max_records // 2), max_records - 1)


def java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` prints it (shortest digits that read back the same)."""
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)  # Python prints this range without an exponent, shortest digits as Java
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exponent + len(text) - 1}"


def dumps(value: Any, java_doubles: bool) -> str:
    """Compact JSON, floats printed as Java prints doubles when ``java_doubles``."""
    if not java_doubles:
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dumps(v, True) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v, True) for v in value) + "]"
    if isinstance(value, float):
        return java_double(value)
    return json.dumps(value)
