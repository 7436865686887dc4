"""The REST ``/deleted`` feed of an object for one window, written to a CSV file (``Id,deletedDate``)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.engine.soql import soql_datetime, validate_object_name
from salesforce_elt.engine.windows import DELETED_FEED_DAYS, deleted_feed_start

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook


class DeletedFeedUnavailable(SalesforceApiError):
    """The /deleted feed cannot list every deletion of the window (purged delete log, older than 15 days).

    Salesforce's advice for INVALID_REPLICATION_DATE is a full pull (SOAP getDeleted()): the extract
    reads every current Id instead and the load flags the stored rows missing from it.
    ``reason`` says why, for sync_runs; ``earliest_available`` is Salesforce's earliestDateAvailable
    when the answer named it.
    """

    def __init__(self, object_name: str, reason: str, earliest_available: datetime | None = None) -> None:
        self.object_name = object_name
        self.reason = reason
        self.earliest_available = earliest_available
        super().__init__("INVALID_REPLICATION_DATE", f"{object_name} /deleted feed: {reason}")


def read_deleted_feed(
    hook: SalesforceApiHook, object_name: str, start: datetime, end: datetime, dest: ObjectStoragePath
) -> tuple[int, datetime]:
    """``SalesforceApiHook.deleted``'s work (its docstring tells the contract): returns (rows, start used)."""
    feed_start = deleted_feed_start(start, end, datetime.now(UTC))
    if feed_start is None:
        raise DeletedFeedUnavailable(
            object_name,
            f"the window starts {soql_datetime(start)}, before the {DELETED_FEED_DAYS} days Salesforce's "
            "/deleted feed covers",
        )
    if feed_start < start:
        hook.log.info(
            "%s: /deleted read from %s (the feed needs a start more than one whole minute before the end)",
            object_name,
            soql_datetime(feed_start),
        )
    path = f"sobjects/{validate_object_name(object_name)}/deleted/"
    try:
        answer: dict[str, Any] = hook.get_json(
            path, params={"start": soql_datetime(feed_start), "end": soql_datetime(end)}
        )
    except SalesforceApiError as exc:
        if exc.error_code != "INVALID_REPLICATION_DATE":
            raise
        earliest = _datetime_in(exc.message)
        raise DeletedFeedUnavailable(
            object_name,
            f"Salesforce refused start {soql_datetime(feed_start)}: {exc.error_code}: {exc.message}",
            earliest,
        ) from exc
    # The feed works in whole minutes and covers the current minute only once it is over, and
    # latestDateCovered may lag further behind the end while deletions are in flight: the
    # caller keeps its high-water mark at or before it (deleted_covered_to), so the next
    # window's feed starts there (SOAP getDeleted(): "use this value for the startDate of
    # your next call").
    covered = answer.get("latestDateCovered")
    hook.deleted_covered_to = _parse_sf_datetime(covered) if covered else None
    hook.log.info("%s: /deleted feed covered up to %s", object_name, covered)
    available = answer.get("earliestDateAvailable")
    if available and _parse_sf_datetime(available) > feed_start.replace(second=0, microsecond=0):
        # Salesforce should have refused this start; an answer that silently covers less
        # would lose the deletions before it.
        raise DeletedFeedUnavailable(
            object_name,
            f"the feed covers deletions from {available} only, the window starts {soql_datetime(feed_start)}",
            _parse_sf_datetime(available),
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with dest.open("wb") as binary, io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["Id", "deletedDate"])
        for entry in answer.get("deletedRecords", []):
            writer.writerow([entry["id"], entry["deletedDate"]])
            rows += 1
    return rows, feed_start


_SF_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


def _datetime_in(message: str) -> datetime | None:
    """The date-time an error message names (earliestDateAvailable), if it names one; its wording is undocumented."""
    match = _SF_DATETIME.search(message or "")
    if match is None:
        return None
    value = _parse_sf_datetime(match.group(0))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_sf_datetime(value: str) -> datetime:
    # Salesforce prints 2024-01-02T03:04:05.000+0000; fromisoformat wants +00:00.
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)
