"""Raw Salesforce CSV -> typed CSV that ``COPY ... FROM STDIN (FORMAT csv, HEADER match)`` loads.

Pure functions over path-like objects (``ObjectStoragePath`` in Airflow, ``pathlib.Path`` in
tests): no Airflow, no database. One row at a time, so memory does not grow with the object.

Per column a getter (``operator.itemgetter`` on the raw row: one index, or the component indexes
of a compound) and a converter are computed once; the row loop is a list comprehension over
that plan. A row with any bad value goes to ``rejects.csv`` (Id, column, value excerpt, reason)
and is left out of the typed output: loading half a record would be worse than loading it on
the next run after the cause is fixed.
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from salesforce_elt import types
from salesforce_elt.registry import SObjectSpec

# Long text areas hold up to 131,072 characters; the csv module's default limit is exactly that.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))

REJECTS_HEADER = ("Id", "column", "value", "reason")
EXCERPT = 80
FIRST_REASONS = 5


class PathLike(Protocol):
    def __truediv__(self, other: str) -> PathLike: ...
    def open(self, mode: str = ...) -> Any: ...


class HeaderMismatch(ValueError):
    """A raw file's columns are not the ones requested from Salesforce."""


class TooManyRejects(ValueError):
    """More rows failed conversion than ``settings.reject_threshold()`` allows."""


@dataclass(frozen=True)
class Column:
    name: str
    sf_names: tuple[str, ...]  # raw columns feeding it (the Id for the key, components for compounds)
    get: Callable[[Sequence[str]], Any]
    convert: Callable[[Any], str | None]


@dataclass
class Result:
    columns: list[str]
    typed_files: list[str] = field(default_factory=list)
    rows: int = 0  # rows written to the typed files
    rejects: int = 0
    rejects_file: str | None = None
    first_reasons: list[str] = field(default_factory=list)

    @property
    def reject_share(self) -> float:
        total = self.rows + self.rejects
        return self.rejects / total if total else 0.0


def build_plan(spec: SObjectSpec, header: Sequence[str]) -> list[Column]:
    """Getter + converter per target column, in ``spec.columns`` order (constants excluded)."""
    index = {name.lower(): i for i, name in enumerate(header)}

    def positions(names: tuple[str, ...]) -> tuple[int, ...]:
        missing = [n for n in names if n.lower() not in index]
        if missing:
            raise HeaderMismatch(f"{spec.name}: raw CSV has no column(s) {missing} (header: {list(header)})")
        return tuple(index[n.lower()] for n in names)

    (key_at,) = positions((spec.primary_key,))
    plan = [Column(spec.key_column, (spec.primary_key,), operator.itemgetter(key_at), types.key_converter(spec.name, spec.key_prefix))]
    for f in spec.fields:
        at = positions(f.soql_fields)
        if f.components:
            convert = types.compound_converter(f)
            get = operator.itemgetter(*at) if len(at) > 1 else (lambda row, i=at[0]: (row[i],))
        else:
            convert = types.converter(f)
            if not f.nullable:
                convert = types.required(convert)
            get = operator.itemgetter(at[0])
        plan.append(Column(f.column, f.soql_fields, get, convert))
    return plan


def check_header(spec: SObjectSpec, requested: Sequence[str], header: Sequence[str], source: str) -> None:
    """The raw header must be exactly the requested SELECT list (names compare case-insensitively)."""
    if [h.lower() for h in header] == [r.lower() for r in requested]:
        return
    got = {h.lower() for h in header}
    wanted = {r.lower() for r in requested}
    missing = [r for r in requested if r.lower() not in got]
    unexpected = [h for h in header if h.lower() not in wanted]
    detail = f"missing {missing}, unexpected {unexpected}" if missing or unexpected else "columns out of order"
    raise HeaderMismatch(f"{spec.name}: header of {source} does not match the requested fields: {detail}")


def _open_text(path: PathLike, mode: str) -> io.TextIOWrapper:
    # Binary + our own wrapper: works the same for local paths and fsspec-backed storage.
    return io.TextIOWrapper(path.open(mode + "b"), encoding="utf-8", newline="")


class _Rejects:
    """rejects.csv, created on the first reject."""

    def __init__(self, path: PathLike | None, result: Result):
        self.path = path
        self.result = result
        self._file: io.TextIOWrapper | None = None
        self._writer: Any = None

    def add(self, record_id: str, column: str, value: str, reason: str) -> None:
        self.result.rejects += 1
        if len(self.result.first_reasons) < FIRST_REASONS:
            self.result.first_reasons.append(f"{record_id or '?'} {column}: {reason}")
        if self.path is None:
            return
        if self._writer is None:
            self._file = _open_text(self.path, "w")
            self._writer = csv.writer(self._file, lineterminator="\n")
            self._writer.writerow(REJECTS_HEADER)
            self.result.rejects_file = str(self.path)
        self._writer.writerow((record_id, column, value[:EXCERPT], reason))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _reject_row(row: Sequence[str], plan: list[Column], width: int, rejects: _Rejects) -> None:
    """Slow path for a bad row: find the first column at fault and record why."""
    record_id = row[0] if row else ""
    if len(row) != width:
        rejects.add(record_id, "*", ",".join(row), f"row has {len(row)} fields, the header {width}")
        return
    for column in plan:
        value = column.get(row)
        try:
            column.convert(value)
        except types.ConversionError as exc:
            shown = ";".join(value) if isinstance(value, tuple) else value
            rejects.add(record_id, column.name, shown, str(exc))
            return


def transform_stream(
    reader: Iterable[list[str]], writer: Any, plan: list[Column], constants: tuple[str, ...], width: int,
    rejects: _Rejects,
) -> int:
    """Convert every row of ``reader`` into ``writer``; return the rows written."""
    written = 0
    steps = [(c.get, c.convert) for c in plan]
    writerow = writer.writerow
    for row in reader:
        if len(row) == width:
            try:
                out = [convert(get(row)) for get, convert in steps]
            except types.ConversionError:
                _reject_row(row, plan, width, rejects)
                continue
            if constants:
                out.extend(constants)
            writerow(out)
            written += 1
        else:
            _reject_row(row, plan, width, rejects)
    return written


def transform_files(
    spec: SObjectSpec,
    requested: Sequence[str],
    raw_dir: PathLike,
    files: Sequence[str],
    typed_dir: PathLike,
    *,
    reject_threshold: float,
) -> Result:
    """Transform each raw part into a typed part of the same name; write rejects beside them."""
    missing = [f for f in spec.soql_fields if f.lower() not in {r.lower() for r in requested}]
    if missing:
        raise HeaderMismatch(f"{spec.name}: the extract did not request {missing}, which the registry needs")
    constants = tuple(value for _name, value in spec.constants)
    result = Result(columns=list(spec.columns))
    if hasattr(typed_dir, "mkdir"):
        typed_dir.mkdir(parents=True, exist_ok=True)
    rejects = _Rejects(typed_dir / "rejects.csv", result)
    try:
        for name in files:
            source = raw_dir / name
            with _open_text(source, "r") as raw, _open_text(typed_dir / name, "w") as typed:
                reader = csv.reader(raw, strict=True)
                header = next(reader, None)
                if header is None:
                    raise HeaderMismatch(f"{spec.name}: {name} is empty (not even a header row)")
                check_header(spec, requested, header, name)
                writer = csv.writer(typed, lineterminator="\n")
                writer.writerow(result.columns)
                plan = build_plan(spec, header)
                try:
                    result.rows += transform_stream(reader, writer, plan, constants, len(header), rejects)
                except csv.Error as exc:
                    raise ValueError(f"{spec.name}: {name} is not valid CSV near line {reader.line_num}: {exc}") from exc
            result.typed_files.append(name)
    finally:
        rejects.close()
    if result.rejects and result.reject_share > reject_threshold:
        reasons = "; ".join(result.first_reasons)
        raise TooManyRejects(
            f"{spec.name}: {result.rejects} of {result.rows + result.rejects} rows rejected "
            f"({result.reject_share:.2%} > threshold {reject_threshold:.2%}, "
            f"SALESFORCE_ELT_REJECT_THRESHOLD). First reasons: {reasons}. All: {result.rejects_file}"
        )
    return result
