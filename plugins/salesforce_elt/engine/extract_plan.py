"""What an extract asks Salesforce, decided without asking it: API, statements, window pieces.

Pure planning for the extract operators (operators/extract.py): no I/O, no Airflow. The window
itself comes from windows.py; this module turns a window (or a targeted id list / condition)
into SOQL statements within Salesforce's length limits, picks the API, and halves the cursor
window of a query that failed (Bulk job Failed, REST QUERY_TIMEOUT).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from salesforce_elt.engine.contract import WindowPiece
from salesforce_elt.engine.registry import SObjectSpec, get_object
from salesforce_elt.engine.soql import (
    build_select,
    build_spec_select,
    chunk_ids_for_soql,
    validate_field_name,
    validate_object_name,
)
from salesforce_elt.engine.windows import SyncWindow, split_point

ApiChoice = Literal["auto", "bulk", "rest"]
QueryOperation = Literal["query", "queryAll"]
API_CHOICES: tuple[str, ...] = ("auto", "bulk", "rest")
REST_SOQL_MAX_CHARS = 10_000  # REST sends SOQL in the URL (~16,000 characters once encoded)
BULK_SOQL_MAX_CHARS = 100_000
ID_FIELDS = ("Id", "IsDeleted")  # the Id list read when the /deleted feed cannot cover a window
SOQL_SUMMARY_CHARS = 4000


class WindowSplitError(ValueError):
    """A failed query's window cannot be halved (any more): the message says which and why."""


def parse_ids(ids: Any) -> list[str] | None:
    """``ids`` as a list: templates render lists to strings (JSON or comma separated)."""
    if ids is None:
        return None
    if isinstance(ids, str):
        text = ids.strip()
        if text.startswith("["):
            return [str(v) for v in json.loads(text)]
        return [part for part in text.replace(",", " ").split() if part]
    return [str(v) for v in ids]


def resolve_api(params: Mapping[str, Any] | None, operator_api: str, spec: SObjectSpec) -> str:
    """The run's ``api`` param, else the operator's, else the registry's; "auto" defers to the next."""
    requested = (params or {}).get("api") or "auto"
    if requested not in API_CHOICES:
        raise ValueError(f"param 'api'={requested!r} must be one of {', '.join(API_CHOICES)}")
    for choice in (requested, operator_api):
        if choice != "auto":
            return str(choice)
    return spec.api


@dataclass(frozen=True)
class ExtractPlan:
    """One run's read: the object (drift-guarded), its window, and a targeted id list or condition."""

    spec: SObjectSpec
    window: SyncWindow
    targeted: bool
    ids: list[str] | None
    soql_where: str | None = None
    id_field: str = "Id"

    @classmethod
    def build(
        cls, spec: SObjectSpec, window: SyncWindow, ids: list[str] | None, soql_where: str | None, id_field: str
    ) -> ExtractPlan:
        targeted = ids is not None or bool(soql_where)
        return cls(spec, window, targeted, ids, soql_where, id_field)

    @property
    def operation(self) -> QueryOperation:
        return query_operation(self.window.query_all)

    def statements(self, api: str, limit: int | None = None) -> list[str]:
        """The SOQL statements: one for a window, id lists chunked under the API's length limit
        (``limit``, default BULK_SOQL_MAX_CHARS or REST_SOQL_MAX_CHARS)."""
        spec, window = self.spec, self.window
        if self.ids is not None:
            where = f"({self.soql_where}) AND " if self.soql_where else ""
            base = f"{build_spec_select(spec)} WHERE {where}"
            if limit is None:
                limit = BULK_SOQL_MAX_CHARS if api == "bulk" else REST_SOQL_MAX_CHARS
            prefix = spec.key_prefix if self.id_field == spec.primary_key else None
            return list(chunk_ids_for_soql(base, self.ids, limit, field=self.id_field, prefix=prefix))
        if window.full_refresh or self.targeted:
            return [build_spec_select(spec, where=self.soql_where)]
        return [build_spec_select(spec, start=window.start, end=window.end, where=self.soql_where)]

    def pieces(self) -> tuple[WindowPiece, ...] | None:
        """The cursor window of the one window statement (to split on failure); None for id lists."""
        if self.ids is not None:
            return None
        bounded = self.window.incremental and not self.targeted
        return (WindowPiece(self.window.start if bounded else None, self.window.end if bounded else None),)


def query_operation(query_all: bool) -> QueryOperation:
    """queryAll also returns soft-deleted (IsDeleted) and archived rows."""
    return "queryAll" if query_all else "query"


def piece_statement(spec: SObjectSpec, piece: WindowPiece, soql_where: str | None) -> str:
    return build_spec_select(spec, start=piece.start, end=piece.end, where=soql_where)


def earliest_cursor_soql(spec: SObjectSpec, soql_where: str | None) -> str:
    """The query for the oldest cursor value of the rows an unbounded window reads."""
    cursor = validate_field_name(spec.cursor_field)
    where = f" WHERE ({soql_where})" if soql_where else ""
    return f"SELECT {cursor} FROM {validate_object_name(spec.name)}{where} ORDER BY {cursor} ASC LIMIT 1"  # noqa: S608


def halve(
    spec: SObjectSpec,
    piece: WindowPiece,
    window_end: datetime,
    *,
    earliest: datetime | None,
    max_split_depth: int,
    reason: str,
) -> tuple[WindowPiece, WindowPiece]:
    """The two halves of a failed piece's cursor window; WindowSplitError past the depth limit.

    ``earliest``: for a piece without a start, the oldest cursor value it reads (None: no rows).
    An unbounded edge stays unbounded, so the halves read exactly what the piece read (a full
    refresh also gets the rows changed since the window's end was computed).
    """
    if piece.depth >= max_split_depth:
        raise WindowSplitError(
            f"{spec.name}: the query for {spec.cursor_field} window {piece.label} failed after {piece.depth} "
            f"split(s) (max_split_depth={max_split_depth}): {reason}. The task's retry runs it again; if it "
            "keeps failing, sync smaller windows with the start/end params"
        )
    start = piece.start if piece.start is not None else earliest
    middle = split_point(start, piece.end or window_end) if start is not None else None
    if middle is None:
        raise WindowSplitError(
            f"{spec.name}: the query for {spec.cursor_field} window {piece.label} failed and the window "
            f"cannot be split further: {reason}"
        )
    return (
        WindowPiece(piece.start, middle, piece.depth + 1),
        WindowPiece(middle, piece.end, piece.depth + 1),
    )


def window_note(piece: WindowPiece | None, max_split_depth: int) -> str:
    """What a failed job's error adds about its window and how to get past it."""
    if piece is None:
        return ""
    return (
        f" (window {piece.label} after {piece.depth} split(s), max_split_depth={max_split_depth}; "
        "the task's retry runs it again, or sync smaller windows with the start/end params)"
    )


def id_soql(spec: SObjectSpec) -> str:
    """Every Id of the object (with IsDeleted): the list compared when the /deleted feed cannot be used."""
    return build_select(spec.name, list(ID_FIELDS))


def dropped_fields(spec: SObjectSpec) -> list[str]:
    """Registry fields the drift guard left out of this run's SELECT list."""
    requested = {name.lower() for name in spec.soql_fields}
    return [name for name in get_object(spec.name).soql_fields if name.lower() not in requested]


def soql_summary(statements: Sequence[str], limit: int = SOQL_SUMMARY_CHARS) -> str:
    """The SOQL for the XCom: in full unless a long id list would bloat it."""
    text = ";\n".join(statements)
    if len(text) <= limit:
        return text
    return f"{statements[0][:1000]}... [{len(statements)} statement(s), {len(text)} characters]"
