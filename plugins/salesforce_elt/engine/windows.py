"""Which slice of SystemModstamp a run extracts.

Rules, first match wins (``params`` are the manual-trigger form's values):
1. ``full_refresh=True``                 -> everything, no cursor filter.
2. ``start`` [/ ``end``] given           -> exactly that window (no lookback: an explicit window is honoured).
3. no high-water mark (empty table)      -> everything: an incremental window would leave history missing.
4. scheduled/backfill run with a real data interval -> [interval start - lookback, interval end),
   reaching back to the high-water mark when it is older (a failed run left a gap).
5. anything else (plain manual/asset trigger, zero-length interval of CronTriggerTimetable)
                                         -> [high-water mark - lookback, now).
Window edges are whole seconds (SOQL datetime literals have no fractions): starts round down, which
only re-reads a few records; the loader upserts, so overlap is harmless while a gap loses data.

End: ``now`` exactly, no safety margin. Records committed late with an earlier SystemModstamp are
caught by the next window's lookback, so a margin would only delay fresh data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from salesforce_elt.engine.registry import SObjectSpec

WINDOWED_RUN_TYPES = frozenset({"scheduled", "backfill"})
DELETED_FEED_DAYS = 15  # Salesforce's /deleted feed covers at most this, less after a purge
DELETED_FEED_MIN_SPAN = timedelta(minutes=2)  # "more than one minute" between whole-minute dates
DELETED_FEED_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class SyncWindow:
    start: datetime | None  # None: no lower bound
    end: datetime
    full_refresh: bool
    query_all: bool
    reason: str
    # False when loading this window must not move the high-water mark: it does not start at or
    # before the mark (an explicit window ahead of it, a targeted read), so moving would skip the gap.
    advances_high_water_mark: bool = True
    # latestDateCovered of the window's /deleted feed when it stops before ``end``: deletions after
    # it are not listed yet, so the load keeps the high-water mark there (set by the extract).
    deletes_covered_to: datetime | None = None

    @property
    def incremental(self) -> bool:
        return self.start is not None and not self.full_refresh

    def to_json(self) -> dict[str, Any]:
        """The XCom form (the stage contract's ``window``, salesforce_elt.engine.contract)."""
        data: dict[str, Any] = {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat(),
            "full_refresh": self.full_refresh,
            "query_all": self.query_all,
            "reason": self.reason,
            "advances_high_water_mark": self.advances_high_water_mark,
        }
        if self.deletes_covered_to is not None:
            data["deletes_covered_to"] = self.deletes_covered_to.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyncWindow:
        """The window back from its XCom form (``advances_high_water_mark`` defaults to True)."""
        covered = data.get("deletes_covered_to")
        if not data.get("end"):
            raise ValueError(f"window {data!r} has no 'end': every window a sync reads ends somewhere")
        return cls(
            start=datetime.fromisoformat(data["start"]) if data.get("start") else None,
            end=datetime.fromisoformat(data["end"]),
            full_refresh=bool(data.get("full_refresh", False)),
            query_all=bool(data.get("query_all", False)),
            reason=str(data.get("reason", "")),
            advances_high_water_mark=bool(data.get("advances_high_water_mark", True)),
            deletes_covered_to=datetime.fromisoformat(covered) if covered else None,
        )


def _floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _param(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    return None if value in ("", None) else value


def _parse_param(params: dict[str, Any], name: str) -> datetime | None:
    value = _param(params, name)
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"param {name!r}={value!r} is not an ISO 8601 date-time (e.g. 2024-01-02T03:04:05Z)"
            ) from None
    # A value without a zone is read as UTC, the zone every window is in.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _run_type(context: Any) -> str | None:
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    return None if run_type is None else str(getattr(run_type, "value", run_type))


def _explicit_window(
    params: dict[str, Any], spec: SObjectSpec, now: datetime, hwm: datetime | None
) -> SyncWindow | None:
    start, end = _parse_param(params, "start"), _parse_param(params, "end")
    if start is None and end is None:
        return None
    if start is None:
        raise ValueError("param 'end' was given without param 'start'; give both, or start alone (end = now)")
    if start > now:
        raise ValueError(f"param 'start'={start.isoformat()} is in the future (now {now.isoformat()})")
    if end is not None and end > now:
        raise ValueError(f"param 'end'={end.isoformat()} is in the future (now {now.isoformat()})")
    end = end or now
    if end <= start:
        raise ValueError(f"param 'end'={end.isoformat()} must be after param 'start'={start.isoformat()}")
    contiguous = hwm is not None and start <= hwm
    return SyncWindow(
        _floor(start), _floor(end), False, spec.query_all, "explicit start/end params", contiguous
    )


def compute_window(
    context: Any, spec: SObjectSpec, last_high_water_mark: datetime | None, *, now: datetime | None = None
) -> SyncWindow:
    """The window for this run; raises ValueError naming the param when the form's values are wrong."""
    now = _floor(now or datetime.now(UTC))
    params = context.get("params") or {}
    if _truthy(_param(params, "full_refresh")):
        return SyncWindow(None, now, True, spec.query_all, "full_refresh param")
    explicit = _explicit_window(params, spec, now, last_high_water_mark)
    if explicit is not None:
        return explicit
    if last_high_water_mark is None:
        return SyncWindow(None, now, True, spec.query_all, "no high-water mark: initial full load")
    hwm_start = _floor(last_high_water_mark - spec.lookback)

    interval_start, interval_end = context.get("data_interval_start"), context.get("data_interval_end")
    if (
        _run_type(context) in WINDOWED_RUN_TYPES
        and interval_start
        and interval_end
        and interval_end > interval_start
    ):
        start = _floor(interval_start - spec.lookback)
        reason = "data interval minus lookback"
        if last_high_water_mark < interval_start:
            # The warehouse stops before this interval: an earlier run failed or was skipped.
            # Reading from the high-water mark closes the gap instead of leaving it for a backfill.
            start, reason = hwm_start, "data interval, extended back to the high-water mark"
        return SyncWindow(start, min(_floor(interval_end), now), False, spec.query_all, reason)
    return SyncWindow(
        min(hwm_start, now), now, False, spec.query_all, "high-water mark minus lookback to now"
    )


def targeted_window(spec: SObjectSpec, *, now: datetime | None = None) -> SyncWindow:
    """A run that reads given ids (or a given condition) whatever their SystemModstamp."""
    return SyncWindow(
        None, _floor(now or datetime.now(UTC)), False, spec.query_all, "targeted ids/condition", False
    )


def deleted_feed_start(start: datetime, end: datetime, now: datetime) -> datetime | None:
    """The start to ask Salesforce's /deleted feed for when syncing [start, end); None: it cannot cover it.

    Salesforce ignores the seconds of both dates and refuses a start that does not precede the
    end by more than one minute (SOAP getDeleted(): INVALID_REPLICATION_DATE): a narrower window
    reads the feed from two whole minutes before its end instead. Re-reading older deletions is
    harmless (the load never lets a deletion overwrite a newer version). The feed keeps at most
    DELETED_FEED_DAYS; a start older than that (less a margin for the time the call takes) cannot be
    served, so the caller must find the deletions another way (compare Ids) rather than lose them.
    """
    minute_end = end.astimezone(UTC).replace(second=0, microsecond=0)
    feed_start = min(start, minute_end - DELETED_FEED_MIN_SPAN)
    if feed_start < now - timedelta(days=DELETED_FEED_DAYS) + DELETED_FEED_MARGIN:
        return None
    return feed_start


def split_point(start: datetime, end: datetime) -> datetime | None:
    """The whole second halving [start, end), or None when the window cannot be halved any more."""
    middle = _floor(start + (end - start) / 2)
    return middle if start < middle < end else None


def parse_salesforce_datetime(value: str) -> datetime:
    """``2024-01-02T03:04:05.000+0000`` (REST) or ``...000Z`` (Bulk) as an aware datetime."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)
