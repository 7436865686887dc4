"""The transform's column-wise conversion of one block of raw CSV (see transform.py).

Each typed column runs its vectorized kernel (columnar.py); the values a kernel does not vouch for
go through the ``types`` converter one by one, which stays the one definition of what is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from salesforce_elt.engine import columnar, types

if TYPE_CHECKING:
    from salesforce_elt.engine.registry import SObjectSpec
    from salesforce_elt.engine.transform import Plan


@dataclass(frozen=True)
class VectorColumn:
    """One typed column: its raw positions, its fast kernel (None: Python only) and converter."""

    name: str
    positions: tuple[int, ...]
    kernel: Callable[..., tuple[pa.Array[Any], pa.BooleanArray]] | None
    convert: Callable[[Any], str | None]
    compound: bool


def vector_plan(spec: SObjectSpec, plan: Plan) -> list[VectorColumn]:
    """The plan's columns with their kernels: the key's, a field's, none for derived columns
    (registry functions run in Python, value by value)."""
    fields = {f.column: f for f in spec.fields}
    columns: list[VectorColumn] = []
    for name, i, plain in plan.plain:
        kernel = columnar.key_kernel(spec.key_prefix) if name == spec.key_column else columnar.kernel(fields[name])
        columns.append(VectorColumn(name, (i,), kernel, plain, compound=False))
    for name, at, compound in plan.compound:
        compound_kernel = columnar.compound_kernel(fields[name]) if name in fields else None
        columns.append(VectorColumn(name, at, compound_kernel, compound, compound=True))
    return columns


def convert_block(batch: pa.RecordBatch, columns: list[VectorColumn], bad: set[int]) -> list[pa.Array[Any]]:
    """Every typed column of one block; rows with a value no converter accepts land in ``bad``."""
    typed: list[pa.Array[Any]] = []
    for column in columns:
        raw = [batch.column(i) for i in column.positions]
        values: pa.Array[Any]
        accepted: pa.BooleanArray
        if column.kernel is None:
            values, accepted = pa.nulls(len(batch), pa.string()), columnar.nowhere(len(batch))
        else:
            values, accepted = column.kernel(raw if column.compound else raw[0])
        if not pc.all(accepted).as_py():
            values = python_path(values, accepted, raw, column, bad)
        typed.append(values)
    return typed


def python_path(
    values: pa.Array[Any], accepted: pa.BooleanArray, raw: list[pa.Array[Any]], column: VectorColumn, bad: set[int]
) -> pa.Array[Any]:
    """The values the kernel did not vouch for, through the ``types`` converter one by one."""
    declined = pc.invert(accepted)
    rows = pc.indices_nonzero(declined)
    inputs = zip(*[[value or "" for value in c.take(rows).to_pylist()] for c in raw], strict=True)
    replacements: list[str | None] = []
    for row, value in zip((int(r or 0) for r in rows.to_pylist()), inputs, strict=True):  # indices: never null
        try:
            replacements.append(column.convert(value if column.compound else value[0]))
        except types.ConversionError:
            bad.add(row)
            replacements.append(None)
    return cast("pa.Array[Any]", pc.replace_with_mask(values, declined, columnar.texts(replacements)))


def raw_row(batch: pa.RecordBatch, row: int) -> list[str]:
    return [str(batch.column(i)[row].as_py() or "") for i in range(batch.num_columns)]


class QuoteCounter:
    """A binary file that counts the quote characters passing through, and notes a NUL byte.

    pyarrow's CSV parser takes a quoted field left open at the end of a file (a truncated
    download) as a value running to the end; an odd number of quotes is how that shows.
    ``nul`` turns true once a NUL byte has been read: the blocks parsed before hold none, so the
    transform looks for NUL characters only from then on (most files never have one).
    """

    def __init__(self, raw: Any):
        self.raw = raw
        self.quotes = 0
        self.nul = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.raw.read(size)
        self.quotes += data.count(b'"')
        self.nul = self.nul or b"\x00" in data
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
