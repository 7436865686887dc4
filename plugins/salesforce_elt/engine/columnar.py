"""Vectorized fast path of the value converters in ``types`` (pyarrow compute kernels).

A kernel takes one raw column of a block (a pyarrow string array; an empty CSV field is null)
and returns ``(typed, accepted)``: the COPY text of every value, and a mask of the values it
vouches for. A value the kernel accepts becomes exactly what the ``types`` converter returns
for it. A value it does not accept is handed to that Python converter, one by one, which
either converts it (a shape the kernel does not know, such as the REST API's ``+0000`` offsets
with other fractional digits) or raises ``ConversionError`` (a reject). So ``types`` stays the
one definition of what is valid, and ordinary data never leaves C++.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar, cast

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from salesforce_elt.engine import types
from salesforce_elt.engine.registry import FieldSpec

# A kernel's column and typed values are string arrays, its verdict a boolean array.
Kernel = Callable[[pa.StringArray], "tuple[pa.StringArray, pa.BooleanArray]"]
CompoundKernel = Callable[["list[pa.StringArray]"], "tuple[pa.StringArray, pa.BooleanArray]"]

# Every scalar handed to a kernel is built from buffers: converting a Python object makes pyarrow
# import pandas (about 2 s and 40 MB per task process), which nothing else in the transform uses.

_ArrayT = TypeVar("_ArrayT", pa.StringArray, pa.BooleanArray)
_DataTypeT = TypeVar("_DataTypeT", bound=pa.DataType)


def texts(values: Sequence[str | None]) -> pa.StringArray:
    """A string array of ``values`` (None: null)."""
    data = [b"" if v is None else v.encode() for v in values]
    offsets = [0]
    for item in data:
        offsets.append(offsets[-1] + len(item))
    nulls = [i for i, v in enumerate(values) if v is None]
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(struct.pack(f"<{len(offsets)}i", *offsets)), pa.py_buffer(b"".join(data)),
        mask_buffer(len(values), nulls, set_bits=False) if nulls else None,
    )


def mask_buffer(length: int, rows: Iterable[int], *, set_bits: bool = True) -> pa.Buffer:
    """A bitmap of ``length`` bits, ``rows`` set (or, with ``set_bits=False``, the only ones clear)."""
    bits = bytearray(b"\x00" if set_bits else b"\xff") * ((length + 7) // 8)
    for row in rows:
        bits[row // 8] ^= 1 << (row % 8)
    return pa.py_buffer(bytes(bits))


def rows_mask(length: int, rows: Iterable[int]) -> pa.BooleanArray:
    """A boolean array, True at ``rows``."""
    # The stub of from_buffers does not tie the array's class to the type it is given.
    return cast(pa.BooleanArray, pa.Array.from_buffers(pa.bool_(), length, [None, mask_buffer(length, rows)]))


def text(value: str) -> pa.StringScalar:
    return texts([value])[0]


def _fixed_width(arrow_type: _DataTypeT, packed: bytes) -> pa.Scalar[_DataTypeT]:
    return pa.Array.from_buffers(arrow_type, 1, [None, pa.py_buffer(packed)])[0]


TRUE, FALSE = rows_mask(1, [0])[0], rows_mask(1, [])[0]
NULL_TEXT = pa.nulls(1, pa.string())[0]
_EMPTY, _QUOTE, _COMMA, _NULL_LITERAL = text(""), text('"'), text(","), text("null")


def _fill_null(values: _ArrayT, fill: pa.StringScalar | pa.BooleanScalar) -> _ArrayT:
    """``values`` with every null replaced by ``fill`` (a scalar of their type)."""
    # Its stub gives fill_null coalesce's signature (only arrays, or only scalars, of one type);
    # an array filled from a scalar keeps the array's type.
    return cast(_ArrayT, pc.fill_null(values, fill))


def _join(*parts: pa.StringArray | pa.StringScalar) -> pa.StringArray:
    """Row by row, the parts joined with the last one between them (scalars repeat on every row)."""
    # Called by name: the stub of pc.binary_join_element_wise takes only arrays, or only scalars,
    # where the kernel broadcasts scalars over the arrays.
    joined: pa.StringArray = pc.call_function("binary_join_element_wise", list(parts))
    return joined


def constant(value: str, length: int) -> pa.StringArray:
    """``value`` ``length`` times."""
    return _fill_null(pa.nulls(length, pa.string()), text(value))


def without_nul(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray | None]:
    """Text with its NUL characters removed (a value left empty becomes null), and the mask of the
    values that had one (None when none had: the column is returned as it was)."""
    found = _fill_null(pc.match_substring(column, "\x00"), FALSE)
    if not pc.any(found).as_py():
        return column, None
    cleaned = pc.replace_substring(column, "\x00", "")
    emptied_to_null: pa.StringArray = pc.if_else(pc.equal(cleaned, _EMPTY), NULL_TEXT, cleaned)
    return emptied_to_null, found


def nowhere(length: int) -> pa.BooleanArray:
    """A mask of ``length`` False values."""
    return _fill_null(pa.nulls(length, pa.bool_()), FALSE)


def everywhere(length: int) -> pa.BooleanArray:
    """A mask of ``length`` True values."""
    return _fill_null(pa.nulls(length, pa.bool_()), TRUE)


def _accepted(checked: pa.BooleanArray, column: pa.StringArray, *, nullable: bool) -> pa.BooleanArray:
    """The check's verdict, with null values accepted for a nullable column (they stay NULL)."""
    verdict: pa.BooleanArray = pc.if_else(
        pc.is_null(column), TRUE if nullable else FALSE, _fill_null(checked, FALSE)
    )
    return verdict


def _regex(pattern: str, *, nullable: bool = True) -> Kernel:
    def kernel(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
        return column, _accepted(pc.match_substring_regex(column, pattern), column, nullable=nullable)

    return kernel


def _string(limit: int | None, *, nullable: bool) -> Kernel:
    longest = None if limit is None else _fixed_width(pa.int32(), struct.pack("<i", limit))

    def kernel(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
        if longest is None:
            return column, _accepted(everywhere(len(column)), column, nullable=nullable)
        return column, _accepted(pc.less_equal(pc.utf8_length(column), longest), column, nullable=nullable)

    return kernel


_BOOLEAN_TEXTS = texts(["true", "false"])


def _boolean(*, nullable: bool) -> Kernel:
    def kernel(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
        lowered = pc.ascii_lower(column)
        return lowered, _accepted(pc.is_in(lowered, _BOOLEAN_TEXTS), column, nullable=nullable)

    return kernel


def _valid(
    values: pa.StringArray, shaped: pa.BooleanArray, arrow_type: pa.DataType, fmt: str, placeholder: pa.StringScalar
) -> pa.BooleanArray:
    """Which shaped values are real dates/times (not 2023-02-29, 24:00, :60).

    One cast of the whole column when every shaped value is valid, as in ordinary data (a cast
    fails as a whole); otherwise strptime each value and check that it prints back identically
    (strptime alone rolls an impossible date into the next month).
    """
    try:
        pc.cast(pc.if_else(shaped, values, placeholder), arrow_type)
        return shaped
    except pa.ArrowInvalid:
        parsed = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
        return pc.and_(shaped, pc.equal(pc.strftime(parsed, format=fmt), values))


_DATE = r"^\d{4}-\d\d-\d\d$"
# The Bulk API's form (Z) and the REST API's (+0000), milliseconds as both print them.
_DATETIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|\+0000)$"


_A_DATE, _A_DATETIME = text("2000-01-01"), text("2000-01-01T00:00:00")  # valid stand-ins for the cast


def _date(*, nullable: bool) -> Kernel:
    def kernel(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
        shaped = _fill_null(pc.match_substring_regex(column, _DATE), FALSE)
        valid = _valid(column, shaped, pa.date32(), "%Y-%m-%d", _A_DATE)
        return column, _accepted(valid, column, nullable=nullable)

    return kernel


def _datetime(*, nullable: bool) -> Kernel:
    def kernel(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
        shaped = _fill_null(pc.match_substring_regex(column, _DATETIME), FALSE)
        seconds = pc.utf8_slice_codeunits(column, 0, 19)
        valid = _valid(seconds, shaped, pa.timestamp("s"), "%Y-%m-%dT%H:%M:%S", _A_DATETIME)
        zulu = pc.ends_with(column, "Z")
        if not pc.all(_fill_null(zulu, TRUE)).as_py():  # "+0000" -> "+00:00", as types.datetime_text does
            column = pc.if_else(zulu, column, pc.utf8_replace_slice(column, -2, -2, ":"))
        return column, _accepted(valid, column, nullable=nullable)

    return kernel


def _integer_pattern(bits: int) -> str:
    # Canonical digits only (what str(int(value)) prints); 9 resp. 18 digits always fit.
    digits = 9 if bits == 32 else 18
    return rf"^(?:0|-?[1-9]\d{{0,{digits - 1}}})$"


def _numeric_pattern(precision: int | None, scale: int | None) -> str:
    fraction = r"(?:\.\d+)?"
    if precision is None:
        # double precision: digits a double can hold without overflow or underflow; longer ones (and
        # scientific notation) take the Python path, which checks the range.
        return r"^-?\d{1,300}(?:\.\d{1,300})?$"
    integer_digits = precision - (scale or 0)
    if integer_digits <= 0:
        return rf"^-?0{fraction}$"
    return rf"^-?(?:0|[1-9]\d{{0,{integer_digits - 1}}}){fraction}$"


_ARRAY_OPEN, _ARRAY_CLOSE = text('{"'), text('"}')


def _multipicklist(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
    """"a;b" -> '{"a","b"}' (a Postgres text[] literal), escaping as types._pg_array_item does."""
    escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
    items = pc.replace_substring(escaped, ";", '","')
    return _join(_ARRAY_OPEN, items, _ARRAY_CLOSE, _EMPTY), everywhere(len(column))


def _opaque(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
    return column, everywhere(len(column))


def kernel(field: FieldSpec) -> Kernel | None:
    """The fast path for a non-compound field, or None (every value then takes the Python path)."""
    t, nullable = field.sf_type, field.nullable
    if t in types.STRING_TYPES:
        column = types.column_type(field)
        limit = column.length if isinstance(column, sa.String) and column.length else None
        return _string(limit, nullable=nullable)
    if t in types.ID_TYPES:
        return _regex(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$", nullable=nullable)
    if t == "boolean":
        return _boolean(nullable=nullable)
    if t in ("int", "long"):
        return _regex(_integer_pattern(32 if t == "int" else 64), nullable=nullable)
    if t in types.DECIMAL_TYPES:
        return _regex(_numeric_pattern(field.precision, field.scale), nullable=nullable)
    if t == "date":
        return _date(nullable=nullable)
    if t == "datetime":
        return _datetime(nullable=nullable)
    if t == "multipicklist" and nullable:
        return _multipicklist
    if t in ("anyType", "complexvalue") and nullable:
        return _opaque
    return None  # time and the rare required multipicklist/opaque: Python per value


def key_kernel(key_prefix: str) -> Kernel:
    """The record Id: present, alphanumeric, 15 or 18 characters, of this object's key prefix."""
    rest = 15 - len(key_prefix)
    return _regex(rf"^{key_prefix}[A-Za-z0-9]{{{rest}}}(?:[A-Za-z0-9]{{3}})?$", nullable=False)


_JSON_NUMBER = f"^(?:{types.JSON_NUMBER.pattern})$"
# What json's encode_basestring escapes by name; other control characters take the Python path.
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
                 ("\b", "\\b"), ("\f", "\\f"))
_JSON_SPECIAL = r'[\x00-\x1f"\\]'
_JSON_UNNAMED_CONTROL = r"[\x00-\x07\x0b\x0e-\x1f]"


def _json_string(column: pa.StringArray) -> tuple[pa.StringArray, pa.BooleanArray]:
    """Text -> a JSON string literal, as json.encoder.encode_basestring prints it."""
    if pc.any(pc.match_substring_regex(column, _JSON_SPECIAL)).as_py():
        for plain, escaped in _JSON_ESCAPES:
            column = pc.replace_substring(column, plain, escaped)
        accepted = pc.invert(pc.match_substring_regex(column, _JSON_UNNAMED_CONTROL))
    else:
        accepted = everywhere(len(column))
    return _join(_QUOTE, column, _QUOTE, _EMPTY), accepted


_OPEN, _CLOSE = text("{"), text("}")


def compound_kernel(field: FieldSpec) -> CompoundKernel:
    """Address/location components -> the JSON object text of ``types.compound_converter``."""
    keys = [text(json.dumps(key) + ":") for _sf, key in field.components]
    numeric = [key in types.NUMERIC_KEYS for _sf, key in field.components]

    def kernel(components: list[pa.StringArray]) -> tuple[pa.StringArray, pa.BooleanArray]:
        members: list[pa.StringArray] = []
        oks: list[pa.BooleanArray] = []
        for key, is_number, column in zip(keys, numeric, components, strict=True):
            if is_number:
                value, ok = column, pc.match_substring_regex(column, _JSON_NUMBER)
            else:
                value, ok = _json_string(column)
            oks.append(_fill_null(ok, TRUE))
            members.append(_join(key, _fill_null(value, _NULL_LITERAL), _EMPTY))
        accepted = functools.reduce(pc.and_, oks)
        joined = _join(_OPEN, _join(*members, _COMMA), _CLOSE, _EMPTY)
        all_empty = functools.reduce(pc.and_, [pc.is_null(c) for c in components])
        json_or_null: pa.StringArray = pc.if_else(all_empty, NULL_TEXT, joined)
        return json_or_null, accepted

    return kernel
