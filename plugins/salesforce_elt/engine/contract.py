"""The stage contract: what extract -> transform -> load hand each other, and the Bulk resume state.

Inside the code these are frozen dataclasses; they become plain JSON only where Airflow stores
them: the XCom of each task and the Bulk trigger's event (``to_json``/``from_json``). The JSON
keys are the ones the Airflow UI shows and the tests read, and ``from_json`` accepts every key
an earlier release wrote, so a run deferred before an upgrade resumes after it.

Extract result (the ``extract`` task's XCom)::

    object, api ("bulk" | "rest"), soql, fields, dropped_fields, raw_uri, files, records, job_ids,
    deleted_uri, deleted_records, window (windows.SyncWindow.to_json), api_usage {before, after},
    api_calls, [id_reconcile], [relation_scope], [seconds {extract}], [typed] (TypedParts: the
    parts a Bulk extract converted while it downloaded)

Transform result (the ``transform`` task's XCom): the extract result plus ``typed_uri``,
``typed_files``, ``columns``, ``rows``, ``rejects``, ``rejects_uri``, ``cleaned`` and
``seconds.transform``.

Bulk resume state (the trigger's ``carry``): which jobs of the window are done, the window
pieces a failed job was split into, the deadline and the API calls spent so far.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from salesforce_elt.engine.windows import SyncWindow

Json = dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _datetime(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


@dataclass(frozen=True)
class WindowPiece:
    """A cursor window one query reads; a failed query's piece is halved (``depth`` + 1)."""

    start: datetime | None  # None: unbounded (a full read)
    end: datetime | None  # None: up to the run's window end
    depth: int = 0

    @property
    def label(self) -> str:
        return f"[{_iso(self.start) or 'beginning'}, {_iso(self.end) or 'now'})"

    def to_json(self) -> Json:
        return {"start": _iso(self.start), "end": _iso(self.end), "depth": self.depth}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WindowPiece:
        return cls(_datetime(data.get("start")), _datetime(data.get("end")), int(data.get("depth", 0)))


@dataclass(frozen=True)
class RelationScope:
    """delete_handling "relations": whose relation sets the batch holds in full.

    ``complete``: every relation (a full read, or a re-read because a /deleted feed could not
    cover the window: ``reason``); otherwise the parents listed in ``parent_uris`` (CSV files
    whose first column is the parent Id).
    """

    complete: bool
    parent_uris: tuple[str, ...] = ()
    reason: str | None = None

    def to_json(self) -> Json:
        return {"complete": self.complete, "parent_uris": list(self.parent_uris), "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RelationScope:
        return cls(bool(data["complete"]), _strings(data.get("parent_uris")), data.get("reason"))


@dataclass(frozen=True)
class IdReconcile:
    """Every current Id of the object, read because the /deleted feed could not cover the window.

    ``reason``/``earliest_available``: why (Salesforce's message). While the Bulk job reading the
    Ids runs, ``job_id`` names it and ``records`` is Salesforce's count; once staged, ``uri`` and
    ``files`` are the Id,IsDeleted parts the load compares the table with.
    """

    reason: str
    earliest_available: str | None = None
    job_id: str | None = None
    records: int | None = None
    uri: str | None = None
    files: tuple[str, ...] | None = None

    def to_json(self) -> Json:
        data: Json = {"reason": self.reason, "earliest_available": self.earliest_available}
        if self.job_id is not None:
            data["job_id"] = self.job_id
        if self.records is not None:
            data["records"] = self.records
        if self.uri is not None:
            data["uri"] = self.uri
        if self.files is not None:
            data["files"] = list(self.files)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IdReconcile:
        files = data.get("files")
        return cls(
            reason=str(data["reason"]),
            earliest_available=data.get("earliest_available"),
            job_id=data.get("job_id"),
            records=None if data.get("records") is None else int(data["records"]),
            uri=data.get("uri"),
            files=None if files is None else _strings(files),
        )


@dataclass(frozen=True)
class TypedParts:
    """Typed parts a Bulk extract converted while it downloaded (engine.transform_stream).

    The same files and counts the transform task would have written; the transform task checks
    ``rejects`` against the threshold and passes them on, unless ``fingerprint`` (how the registry
    said to convert, transform.conversion_fingerprint) no longer matches: then it converts again.
    ``seconds`` is the conversion's own time, which overlapped the download. No values: the
    rejects' reasons stay in ``rejects_uri``.
    """

    uri: str
    files: tuple[str, ...]
    columns: tuple[str, ...]
    rows: int
    rejects: int
    rejects_uri: str | None
    cleaned: int
    fingerprint: str
    seconds: float

    def to_json(self) -> Json:
        return {
            "uri": self.uri,
            "files": list(self.files),
            "columns": list(self.columns),
            "rows": self.rows,
            "rejects": self.rejects,
            "rejects_uri": self.rejects_uri,
            "cleaned": self.cleaned,
            "fingerprint": self.fingerprint,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TypedParts:
        return cls(
            uri=str(data["uri"]),
            files=_strings(data.get("files")),
            columns=_strings(data.get("columns")),
            rows=int(data["rows"]),
            rejects=int(data.get("rejects") or 0),
            rejects_uri=data.get("rejects_uri"),
            cleaned=int(data.get("cleaned") or 0),
            fingerprint=str(data.get("fingerprint") or ""),
            seconds=float(data.get("seconds") or 0.0),
        )


@dataclass(frozen=True)
class ExtractResult:
    """What the extract staged for the transform (raw Bulk-2.0-format CSV parts) and how."""

    object_name: str
    api: str
    soql: str
    fields: tuple[str, ...]
    dropped_fields: tuple[str, ...]
    raw_uri: str
    files: tuple[str, ...]
    records: int
    job_ids: tuple[str, ...]
    deleted_uri: str | None
    deleted_records: int
    window: SyncWindow
    api_usage_before: str | None
    api_usage_after: str | None
    api_calls: int
    id_reconcile: IdReconcile | None = None
    relation_scope: RelationScope | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)
    typed: TypedParts | None = None  # converted while downloading; None: the transform task converts

    def to_json(self) -> Json:
        data: Json = {
            "object": self.object_name,
            "api": self.api,
            "soql": self.soql,
            "fields": list(self.fields),
            "dropped_fields": list(self.dropped_fields),
            "raw_uri": self.raw_uri,
            "files": list(self.files),
            "records": self.records,
            "job_ids": list(self.job_ids),
            "deleted_uri": self.deleted_uri,
            "deleted_records": self.deleted_records,
            "window": self.window.to_json(),
            "api_usage": {"before": self.api_usage_before, "after": self.api_usage_after},
            "api_calls": self.api_calls,
        }
        if self.id_reconcile is not None:
            data["id_reconcile"] = self.id_reconcile.to_json()
        if self.relation_scope is not None:
            data["relation_scope"] = self.relation_scope.to_json()
        if self.seconds:
            data["seconds"] = dict(self.seconds)
        if self.typed is not None:
            data["typed"] = self.typed.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExtractResult:
        usage = data.get("api_usage") or {}
        reconcile, scope, typed = data.get("id_reconcile"), data.get("relation_scope"), data.get("typed")
        return cls(
            object_name=str(data["object"]),
            api=str(data.get("api") or ""),
            soql=str(data.get("soql") or ""),
            fields=_strings(data.get("fields")),
            dropped_fields=_strings(data.get("dropped_fields")),
            raw_uri=str(data["raw_uri"]),
            files=_strings(data.get("files")),
            records=int(data.get("records") or 0),
            job_ids=_strings(data.get("job_ids")),
            deleted_uri=data.get("deleted_uri"),
            deleted_records=int(data.get("deleted_records") or 0),
            window=SyncWindow.from_json(data["window"]),
            api_usage_before=usage.get("before"),
            api_usage_after=usage.get("after"),
            api_calls=int(data.get("api_calls") or 0),
            id_reconcile=IdReconcile.from_json(reconcile) if reconcile else None,
            relation_scope=RelationScope.from_json(scope) if scope is not None else None,
            seconds=dict(data.get("seconds") or {}),
            typed=TypedParts.from_json(typed) if typed else None,
        )


@dataclass(frozen=True)
class TransformResult:
    """The extract result plus the typed CSV parts ready for COPY (salesforce_elt.engine.transform)."""

    extract: ExtractResult
    typed_uri: str
    typed_files: tuple[str, ...]
    columns: tuple[str, ...]
    rows: int
    rejects: int
    rejects_uri: str | None
    cleaned: int

    def to_json(self) -> Json:
        return {
            **self.extract.to_json(),
            "typed_uri": self.typed_uri,
            "typed_files": list(self.typed_files),
            "columns": list(self.columns),
            "rows": self.rows,
            "rejects": self.rejects,
            "rejects_uri": self.rejects_uri,
            "cleaned": self.cleaned,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransformResult:
        return cls(
            extract=ExtractResult.from_json(data),
            typed_uri=str(data["typed_uri"]),
            typed_files=_strings(data.get("typed_files")),
            columns=_strings(data.get("columns")),
            rows=int(data["rows"]),
            rejects=int(data.get("rejects") or 0),
            rejects_uri=data.get("rejects_uri"),
            cleaned=int(data.get("cleaned") or 0),
        )


@dataclass(frozen=True)
class BulkCarry:
    """The Bulk extract's state across a deferral: travels in the trigger and comes back in its event.

    ``job_ids[index]`` is the job being waited for; ``job_records`` Salesforce's row count of each
    job before it (checked against the download). ``pieces`` are the cursor windows of the jobs
    (None for id lists, which are not split). ``id_reconcile`` is set while the job reading every
    Id runs (the window's jobs are then all done).
    """

    object_name: str
    dropped_fields: tuple[str, ...]
    soql: str
    job_ids: tuple[str, ...]
    pieces: tuple[WindowPiece, ...] | None
    index: int
    window: SyncWindow
    incremental_deletes: bool
    attempt_uri: str
    deadline: float
    api_usage_before: str | None
    api_calls: int
    job_records: tuple[int | None, ...] = ()
    id_reconcile: IdReconcile | None = None

    @property
    def piece(self) -> WindowPiece | None:
        return self.pieces[self.index] if self.pieces else None

    def to_json(self) -> Json:
        data: Json = {
            "object": self.object_name,
            "dropped_fields": list(self.dropped_fields),
            "soql": self.soql,
            "job_ids": list(self.job_ids),
            "pieces": None if self.pieces is None else [p.to_json() for p in self.pieces],
            "index": self.index,
            "window": self.window.to_json(),
            "incremental_deletes": self.incremental_deletes,
            "attempt_uri": self.attempt_uri,
            "deadline": self.deadline,
            "api_usage_before": self.api_usage_before,
            "api_calls": self.api_calls,
        }
        if self.job_records:
            data["job_records"] = list(self.job_records)
        if self.id_reconcile is not None:
            data["id_reconcile"] = self.id_reconcile.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BulkCarry:
        pieces, reconcile = data.get("pieces"), data.get("id_reconcile")
        return cls(
            object_name=str(data["object"]),
            dropped_fields=_strings(data.get("dropped_fields")),
            soql=str(data.get("soql") or ""),
            job_ids=_strings(data["job_ids"]),
            pieces=None if not pieces else tuple(WindowPiece.from_json(p) for p in pieces),
            index=int(data.get("index", 0)),
            window=SyncWindow.from_json(data["window"]),
            incremental_deletes=bool(data.get("incremental_deletes", False)),
            attempt_uri=str(data["attempt_uri"]),
            deadline=float(data["deadline"]),
            api_usage_before=data.get("api_usage_before"),
            api_calls=int(data.get("api_calls") or 0),
            job_records=tuple(None if r is None else int(r) for r in data.get("job_records") or ()),
            id_reconcile=IdReconcile.from_json(reconcile) if reconcile else None,
        )


@dataclass(frozen=True)
class JobEvent:
    """How a Bulk job ended: the trigger's event (or the same, built by the worker's brief wait).

    ``calls``: the API calls the triggerer made while waiting (absent from older events).
    """

    status: str  # success | failed | aborted | timeout | error
    job_id: str | None
    state: str | None = None
    message: str | None = None
    records: int | None = None
    carry: BulkCarry | None = None
    calls: Any = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_json(self) -> Json:
        data: Json = {
            "status": self.status,
            "job_id": self.job_id,
            "state": self.state,
            "message": self.message,
            "records": self.records,
            "carry": None if self.carry is None else self.carry.to_json(),
        }
        if self.calls is not None:
            data["calls"] = self.calls
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobEvent:
        carry = data.get("carry")
        return cls(
            status=str(data.get("status")),
            job_id=data.get("job_id"),
            state=data.get("state"),
            message=data.get("message"),
            records=None if data.get("records") is None else int(data["records"]),
            carry=BulkCarry.from_json(carry) if carry else None,
            calls=data.get("calls"),
        )
