"""Raw Salesforce CSV -> typed CSV that ``COPY ... FROM STDIN (FORMAT csv, HEADER match)`` loads.

Pure functions over path-like objects (``ObjectStoragePath`` in Airflow, ``pathlib.Path`` in
tests): no Airflow, no database. One row at a time, so memory does not grow with the object.

Per column the raw position(s) and a converter are computed once (``Plan``); the row loop is
two list comprehensions over that plan. A row with any bad value goes to ``rejects.csv`` (Id, column, value excerpt, reason)
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
from salesforce_elt.registry import DerivedColumn, SObjectSpec

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
class Plan:
    """How one raw header becomes the typed columns.

    Plain columns read ``row[index]`` (a subscript is about twice as fast as an itemgetter call,
    and this loop runs once per value); compounds read their components through an itemgetter.
    Derived columns (registry ``derived``) ride with the compounds: both read a tuple of raw
    values. The typed CSV therefore lists plain columns first, then compounds and derived
    columns, then constants: COPY names its columns, so the order is free.
    """

    plain: tuple[tuple[str, int, Callable[[str], str | None]], ...]
    compound: tuple[tuple[str, Callable[[Sequence[str]], tuple[str, ...]], Callable[[tuple[str, ...]], str | None]], ...]
    constants: tuple[tuple[str, str], ...]

    @property
    def columns(self) -> list[str]:
        return [c[0] for c in self.plain] + [c[0] for c in self.compound] + [name for name, _ in self.constants]


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


def build_plan(spec: SObjectSpec, header: Sequence[str]) -> Plan:
    """Where each target column's raw values are and how they convert (computed once per file)."""
    index = {name.lower(): i for i, name in enumerate(header)}

    def positions(names: tuple[str, ...]) -> tuple[int, ...]:
        missing = [n for n in names if n.lower() not in index]
        if missing:
            raise HeaderMismatch(f"{spec.name}: raw CSV has no column(s) {missing} (header: {list(header)})")
        return tuple(index[n.lower()] for n in names)

    (key_at,) = positions((spec.primary_key,))
    plain = [(spec.key_column, key_at, types.key_converter(spec.name, spec.key_prefix))]
    compound = []
    for f in spec.fields:
        at = positions(f.soql_fields)
        if f.components:
            get = operator.itemgetter(*at) if len(at) > 1 else (lambda row, i=at[0]: (row[i],))
            compound.append((f.column, get, types.compound_converter(f)))
        else:
            convert = types.converter(f)
            plain.append((f.column, at[0], types.required(convert) if not f.nullable else convert))
    for d in spec.derived:
        at = positions(d.inputs)
        compound.append((d.column, operator.itemgetter(*at) if len(at) > 1 else (lambda row, i=at[0]: (row[i],)),
                         _derived_converter(spec, d)))
    return Plan(tuple(plain), tuple(compound), spec.constants)


def _derived_converter(spec: SObjectSpec, derived: DerivedColumn) -> Callable[[tuple[str, ...]], str | None]:
    """The registry's compute function, then the column type's own check; a failure is a reject."""
    check = types.converter(derived.as_field())

    def convert(values: tuple[str, ...]) -> str | None:
        try:
            value = derived.compute(*values)
        except ValueError as exc:
            raise types.ConversionError(f"{spec.name} {derived.column}: {exc}") from None
        return None if value is None else check(value)

    return convert


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


def _reject_row(row: Sequence[str], plan: Plan, width: int, rejects: _Rejects) -> None:
    """Slow path for a bad row: find the first column at fault and record why."""
    record_id = row[0] if row else ""
    if len(row) != width:
        rejects.add(record_id, "*", ",".join(row), f"row has {len(row)} fields, the header {width}")
        return
    checks = [(name, row[i], convert) for name, i, convert in plan.plain]
    checks += [(name, get(row), convert) for name, get, convert in plan.compound]
    for name, value, convert in checks:
        try:
            convert(value)
        except types.ConversionError as exc:
            shown = ";".join(value) if isinstance(value, tuple) else value
            rejects.add(record_id, name, shown, str(exc))
            return


def transform_stream(reader: Iterable[list[str]], writer: Any, plan: Plan, width: int, rejects: _Rejects) -> int:
    """Convert every row of ``reader`` into ``writer``; return the rows written."""
    written = 0
    plain = [(i, convert) for _name, i, convert in plan.plain]
    compound = [(get, convert) for _name, get, convert in plan.compound]
    constants = [value for _name, value in plan.constants]
    writerow = writer.writerow
    for row in reader:
        if len(row) == width:
            try:
                out = [convert(row[i]) for i, convert in plain]
                out += [convert(get(row)) for get, convert in compound]
            except types.ConversionError:
                _reject_row(row, plan, width, rejects)
                continue
            if constants:
                out += constants
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
    result = Result(columns=build_plan(spec, spec.soql_fields).columns)
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
                    result.rows += transform_stream(reader, writer, plan, len(header), rejects)
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
