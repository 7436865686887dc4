"""Raw Salesforce CSV -> typed CSV that ``COPY ... FROM STDIN (FORMAT csv, HEADER match)`` loads.

Pure functions over path-like objects (``ObjectStoragePath`` in Airflow, ``pathlib.Path`` in
tests): no Airflow, no database. Streamed in blocks of ``BLOCK_BYTES`` of raw CSV (pyarrow's
CSV reader and writer), so memory does not grow with the object.

Per column the raw position(s) and a converter are computed once (``Plan``). Each block is
converted column by column by the vectorized kernels of ``columnar``; a value a kernel does not
vouch for goes through the ``types`` converter in Python, which stays the one definition of
what is valid. A row with any bad value goes to ``rejects.csv`` (Id, column, value excerpt,
reason) and is left out of the typed output: loading half a record would be worse than loading
it on the next run after the cause is fixed.

NUL characters are removed from text values (text fields and the text components of addresses)
before anything else: Salesforce stores them when they are pasted in (other replicators meet them
too, and strip them), and PostgreSQL text cannot hold them, so one such value used to fail the
whole load, run after run. The rest of the value and of the record loads; a value that was only
NULs becomes NULL. ``Result.cleaned`` counts the records changed (it goes to
``sync_runs.records_cleaned``) and ``cleaned_ids`` names the first ``CLEANED_IDS`` of them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Protocol, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from salesforce_elt.engine import columnar, types
from salesforce_elt.engine.csv_rows import CsvRowWriter
from salesforce_elt.engine.registry import DerivedColumn, SObjectSpec
from salesforce_elt.engine.transform_blocks import QuoteCounter, convert_block, raw_row, vector_plan

log = logging.getLogger(__name__)

# Long text areas hold up to 131,072 characters; the csv module's default limit is exactly that.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))

REJECTS_HEADER = ("Id", "column", "value", "reason")
EXCERPT = 80
FIRST_REASONS = 5
CLEANED_IDS = 20  # ids of records cleaned of NUL characters kept for the log (all are counted)
BLOCK_BYTES = 2 * 1024 * 1024  # raw CSV per block (~5,000 Contact rows): cache-sized blocks parse fastest
BLOCK_ROWS = 8192  # rows per write batch of the typed CSV


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

    Plain columns read one raw value (its position); compounds read the tuple of their components'
    values (their positions). Derived columns (registry ``derived``) ride with the compounds: both
    read a tuple of raw values. The typed CSV therefore lists plain columns first, then compounds
    and derived columns, then constants: COPY names its columns, so the order is free.
    """

    plain: tuple[tuple[str, int, Callable[[str], str | None]], ...]
    compound: tuple[tuple[str, tuple[int, ...], Callable[[tuple[str, ...]], str | None]], ...]
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
    cleaned: int = 0  # records loaded with NUL characters removed from their text values
    cleaned_ids: list[str] = field(default_factory=list)  # the first CLEANED_IDS of them

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
            compound.append((f.column, at, types.compound_converter(f)))
        else:
            convert = types.converter(f)
            plain.append((f.column, at[0], types.required(convert) if not f.nullable else convert))
    for d in spec.derived:
        compound.append((d.column, positions(d.inputs), _derived_converter(spec, d)))
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


def text_positions(spec: SObjectSpec, header: Sequence[str]) -> tuple[int, ...]:
    """Raw positions of the values that are free text (NUL characters are removed from them)."""
    index = {name.lower(): i for i, name in enumerate(header)}
    names = []
    for f in spec.fields:
        if f.components:
            names += [sf for sf, key in f.components if key not in types.NUMERIC_KEYS]
        elif f.sf_type in types.TEXT_TYPES:
            names.append(f.sf_name)
    return tuple(sorted({index[n.lower()] for n in names if n.lower() in index}))


def _without_nul(batch: pa.RecordBatch, positions: Sequence[int]) -> tuple[pa.RecordBatch, pa.BooleanArray | None]:
    """The block with NUL characters removed from its text columns, and the mask of rows changed."""
    arrays, changed = batch.columns, None
    for i in positions:
        cleaned, found = columnar.without_nul(cast(pa.StringArray, arrays[i]))  # every column is read as text
        if found is not None:
            arrays[i] = cleaned
            changed = found if changed is None else pc.or_(changed, found)
    if changed is None:
        return batch, None
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema), changed


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
            self._writer = CsvRowWriter(self._file)
            self._writer.writerow(REJECTS_HEADER)
            self.result.rejects_file = str(self.path)
        self._writer.writerow((record_id, column, value[:EXCERPT], reason))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _reject_row(row: Sequence[str], plan: Plan, rejects: _Rejects) -> None:
    """Slow path for a bad row: find the first column at fault and record why.

    (A row with too few or too many fields never gets here: the CSV reader's invalid-row handler
    records it.)
    """
    record_id = row[0]
    checks: list[tuple[str, Any, Callable[[Any], object]]] = [(name, row[i], convert) for name, i, convert in plan.plain]
    checks += [(name, tuple(row[i] for i in at), convert) for name, at, convert in plan.compound]
    for name, value, convert in checks:
        try:
            convert(value)
        except types.ConversionError as exc:
            shown = ";".join(value) if isinstance(value, tuple) else value
            rejects.add(record_id, name, shown, str(exc))
            return


def _transform_file(spec: SObjectSpec, requested: Sequence[str], raw_path: PathLike, typed_path: PathLike,
                    name: str, result: Result, rejects: _Rejects) -> None:
    with raw_path.open("rb") as raw_file, typed_path.open("wb") as typed_file:
        header_line = raw_file.readline()
        if not header_line.strip():
            raise HeaderMismatch(f"{spec.name}: {name} is empty (not even a header row)")
        header = next(csv.reader([header_line.decode("utf-8")]))
        check_header(spec, requested, header, name)
        plan = build_plan(spec, header)
        columns = vector_plan(spec, plan)
        texts, key_at = text_positions(spec, header), plan.plain[0][1]
        schema = pa.schema([(column, pa.string()) for column in result.columns])
        constants = [value for _name, value in plan.constants]
        width = len(header)

        def short_or_long_row(row: pcsv.InvalidRow) -> Literal["skip", "error"]:
            fields = next(csv.reader(io.StringIO(row.text)), [])
            rejects.add(fields[0] if fields else "", "*", row.text,
                        f"row has {row.actual_columns} fields, the header {row.expected_columns}")
            return "skip"

        source = QuoteCounter(raw_file)
        source.quotes = header_line.count(b'"')
        writer = pcsv.CSVWriter(typed_file, schema, write_options=pcsv.WriteOptions(batch_size=BLOCK_ROWS))
        try:
            for raw_batch in _read_blocks(source, width, short_or_long_row):
                batch, changed = _without_nul(raw_batch, texts) if source.nul else (raw_batch, None)
                bad: set[int] = set()
                typed = convert_block(batch, columns, bad)
                typed += [columnar.constant(value, len(batch)) for value in constants]
                block = pa.RecordBatch.from_arrays(typed, schema=schema)
                if bad:
                    for row in sorted(bad):
                        _reject_row(raw_row(batch, row), plan, rejects)
                    block = block.filter(pc.invert(columnar.rows_mask(len(batch), bad)))
                writer.write_batch(block)
                result.rows += len(block)
                if changed is not None:
                    _count_cleaned(batch, key_at, changed, bad, result)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{spec.name}: {name} is not valid CSV after row {result.rows}: {exc}") from exc
        finally:
            writer.close()
        if source.quotes % 2:
            raise ValueError(f"{spec.name}: {name} is not valid CSV: a quoted field is never closed "
                             f"(odd number of quote characters; a truncated file?)")


def _count_cleaned(batch: pa.RecordBatch, key_at: int, changed: pa.BooleanArray, bad: set[int], result: Result) -> None:
    """Count the loaded rows whose text lost NUL characters (rejected rows are not loaded)."""
    if bad:
        changed = pc.and_(changed, pc.invert(columnar.rows_mask(len(batch), bad)))
    ids = batch.column(key_at).filter(changed)  # masks, not Python lists: no pandas import
    result.cleaned += len(ids)
    room = CLEANED_IDS - len(result.cleaned_ids)
    if room > 0:
        result.cleaned_ids += [str(record_id) for record_id in ids.slice(0, room).to_pylist()]


def _read_blocks(
    source: QuoteCounter, width: int, on_invalid_row: Callable[[pcsv.InvalidRow], Literal["skip", "error"]]
) -> Iterator[pa.RecordBatch]:
    names = [f"c{i}" for i in range(width)]
    try:
        reader = pcsv.open_csv(
            cast(IO[bytes], source),  # pyarrow reads any object with read()
            read_options=pcsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row),
            # Every column as text, an empty field as null: the kernels and types decide the rest.
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                strings_can_be_null=True, null_values=[""]),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):  # a header and no rows
            return
        raise
    yield from reader


class PartTransformer:
    """Raw parts -> typed parts of the same name, one part at a time, rejects beside them.

    The transform task feeds it every part of the extract; a Bulk extract can feed it each results
    page as it lands (salesforce_elt.engine.transform_stream). ``finish()`` returns the result;
    the reject threshold is checked apart (``check_rejects``), by whoever owns the decision.
    """

    def __init__(self, spec: SObjectSpec, requested: Sequence[str], raw_dir: PathLike, typed_dir: PathLike) -> None:
        missing = [f for f in spec.soql_fields if f.lower() not in {r.lower() for r in requested}]
        if missing:
            raise HeaderMismatch(f"{spec.name}: the extract did not request {missing}, which the registry needs")
        self.spec, self.requested, self.raw_dir, self.typed_dir = spec, requested, raw_dir, typed_dir
        self.result = Result(columns=build_plan(spec, spec.soql_fields).columns)
        if hasattr(typed_dir, "mkdir"):
            typed_dir.mkdir(parents=True, exist_ok=True)
        self._rejects = _Rejects(typed_dir / "rejects.csv", self.result)

    def add(self, name: str) -> None:
        _transform_file(self.spec, self.requested, self.raw_dir / name, self.typed_dir / name, name,
                        self.result, self._rejects)
        self.result.typed_files.append(name)

    def close(self) -> None:
        self._rejects.close()

    def finish(self) -> Result:
        self.close()
        result = self.result
        if result.cleaned:
            log.warning(
                "%s: NUL characters removed from the text values of %d record(s) (PostgreSQL text cannot hold "
                "them; the rest of each value is loaded), ids: %s%s",
                self.spec.name, result.cleaned, ", ".join(result.cleaned_ids),
                " ..." if result.cleaned > len(result.cleaned_ids) else "",
            )
        return result


def conversion_fingerprint(spec: SObjectSpec) -> str:
    """What decides how raw values convert: typed parts made under another fingerprint are stale."""
    derived = [(d.column, d.sf_type, d.inputs, d.length, f"{d.compute.__module__}.{d.compute.__qualname__}")
               for d in spec.derived]
    described = repr((spec.name, spec.primary_key, spec.key_column, spec.key_prefix, spec.fields, derived,
                      spec.constants))
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def first_reasons(rejects_file: PathLike, limit: int = FIRST_REASONS) -> list[str]:
    """The first reasons of a rejects.csv, as ``Result.first_reasons`` words them."""
    with _open_text(rejects_file, "r") as f:
        rows = itertools.islice(csv.DictReader(f), limit)
        return [f"{row['Id'] or '?'} {row['column']}: {row['reason']}" for row in rows]


def check_rejects(spec: SObjectSpec, result: Result, reject_threshold: float) -> None:
    """Raise TooManyRejects when the share of rejected rows exceeds ``reject_threshold``."""
    if result.rejects and result.reject_share > reject_threshold:
        reasons = "; ".join(result.first_reasons)
        raise TooManyRejects(
            f"{spec.name}: {result.rejects} of {result.rows + result.rejects} rows rejected "
            f"({result.reject_share:.2%} > threshold {reject_threshold:.2%}, "
            f"SALESFORCE_ELT_REJECT_THRESHOLD). First reasons: {reasons}. All: {result.rejects_file}"
        )


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
    transformer = PartTransformer(spec, requested, raw_dir, typed_dir)
    try:
        for name in files:
            transformer.add(name)
    finally:
        transformer.close()
    result = transformer.finish()
    check_rejects(spec, result, reject_threshold)
    return result
