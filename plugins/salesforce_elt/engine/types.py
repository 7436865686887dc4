"""Salesforce describe types -> Postgres column types and value converters.

One table (``_TYPES``) says, for every describe type, which SQLAlchemy type holds it and how a
Salesforce CSV value (Bulk 2.0 and the REST extractor write the same text) becomes the text
``COPY ... (FORMAT csv)`` reads. Converters take the raw string and return the COPY text, or
``None`` for NULL, or raise :class:`ConversionError` with a reason a person can act on.

Decisions:
- An empty field is NULL for every type. Bulk 2.0 prints null as an empty field, and Salesforce
  never stores an empty string (saving "" stores null), so nothing is lost. The typed CSV
  therefore never contains an empty string, and COPY's default CSV NULL (an unquoted empty
  field) is unambiguous.
- multipicklist -> ``text[]`` split on ";": ``'Cardiology' = ANY(specialties)`` is friendlier
  than LIKE on a joined string, and the order Salesforce prints is kept.
- Long text areas (``textarea`` longer than 255) -> ``text``; ``varchar(n)`` otherwise, so a
  value longer than the describe length is rejected rather than silently stored.
- double/currency/percent -> ``numeric(precision, scale)`` (exact, as Salesforce stores them);
  ``double precision`` when the describe gives no precision.
- time -> ``time`` without zone: Salesforce prints "13:50:40.848Z" but a time field is a
  wall-clock time with no date, so the "Z" carries no information.
- base64 (file bodies) is not synced: Bulk 2.0 cannot select it and rows would be megabytes.
- NUL characters (``\x00``) are removed from text values (``TEXT_TYPES`` and the text components
  of compounds) before conversion: Salesforce stores them when they are pasted in, and PostgreSQL
  text cannot hold them. The transform counts and logs the records it changed; a value that was
  nothing but NULs becomes NULL. A NUL anywhere else (an id, a number, a date) makes the value a
  reject.
- Numbers are read as Salesforce prints them, scientific notation included (doubles print like
  Java's ``Double.toString``: ``1.6147805824397E13``): exactly, through ``Decimal``. An int or long
  field takes a whole number in any notation (``1.0E3`` is 1000; ``1.5E0`` is a reject); numeric
  columns get plain digits rounded to their scale, as PostgreSQL would round them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from json.encoder import encode_basestring as encode_json_string  # C speedup of json.dumps(str)
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from salesforce_elt.engine.registry import FieldSpec

# Postgres' limit for varchar(n); longer declared lengths become text.
VARCHAR_MAX = 10_485_760
LONG_TEXTAREA = 255
SALESFORCE_ID_LENGTH = 18

Converter = Callable[[str], "str | None"]
CompoundConverter = Callable[[tuple[str, ...]], "str | None"]


class UnsupportedFieldType(ValueError):
    """A describe type this project does not sync (base64) or does not know."""


class ConversionError(ValueError):
    """One value that cannot become its column's type; the message is the reject reason."""


STRING_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring"}
)
ID_TYPES = frozenset({"id", "reference"})
DECIMAL_TYPES = frozenset({"double", "currency", "percent"})
COMPOUND_TYPES = frozenset({"address", "location"})
# Types whose values are free text: NUL characters are removed from them (see the module docstring).
TEXT_TYPES = STRING_TYPES | {"multipicklist", "anyType", "complexvalue"}
NUL = "\x00"
EXCLUDED_TYPES = {"base64": "base64 fields (file bodies) are not synced: Bulk 2.0 cannot select them"}


# Types whose Postgres type does not depend on the field's length/precision.
_FIXED_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "id": lambda: sa.String(SALESFORCE_ID_LENGTH),
    "reference": lambda: sa.String(SALESFORCE_ID_LENGTH),
    "boolean": sa.Boolean,
    "int": sa.Integer,
    "long": sa.BigInteger,
    "date": sa.Date,
    "datetime": lambda: sa.DateTime(timezone=True),
    "time": sa.Time,
    "multipicklist": lambda: pg.ARRAY(sa.Text()),
    "address": pg.JSONB,
    "location": pg.JSONB,
    "anyType": sa.Text,
    "complexvalue": sa.Text,
}


def column_type(field: FieldSpec) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy column type for a registry field."""
    t = field.sf_type
    if t in _FIXED_TYPES:
        return _FIXED_TYPES[t]()
    if t in STRING_TYPES:
        if field.length is None or field.length > VARCHAR_MAX:
            return sa.Text()
        if t == "textarea" and field.length > LONG_TEXTAREA:
            return sa.Text()
        return sa.String(field.length)
    if t in DECIMAL_TYPES:
        if field.precision is None:
            return sa.Double()
        return sa.Numeric(field.precision, field.scale or 0)
    raise _unsupported(field)


def _unsupported(field: FieldSpec) -> UnsupportedFieldType:
    reason = EXCLUDED_TYPES.get(field.sf_type, f"unknown Salesforce describe type {field.sf_type!r}")
    return UnsupportedFieldType(f"field {field.sf_name} ({field.column}): {reason}")


# --- value converters -------------------------------------------------------------------------


def _excerpt(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def _string(limit: int | None) -> Converter:
    def convert(value: str) -> str | None:
        if not value:
            return None
        if limit is not None and len(value) > limit:
            raise ConversionError(f"value is {len(value)} characters, longer than the column's {limit}")
        return value

    return convert


def _salesforce_id(value: str) -> str | None:
    if not value:
        return None
    if len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        raise ConversionError(f"not a Salesforce id: {_excerpt(value)!r}")
    return value


def key_converter(object_name: str, key_prefix: str) -> Converter:
    """The record Id: required, a Salesforce id, and of this object (its 3-character key prefix)."""

    def convert(value: str) -> str:
        if not value:
            raise ConversionError("Id is empty")
        if _salesforce_id(value) is None or not value.startswith(key_prefix):
            raise ConversionError(f"not a {object_name} id (key prefix {key_prefix}): {_excerpt(value)!r}")
        return value

    return convert


_BOOLEANS = {"true": "true", "false": "false"}


def _boolean(value: str) -> str | None:
    if not value:
        return None
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise ConversionError(f"not a boolean (true/false): {_excerpt(value)!r}") from None


# What Salesforce prints for a number: ASCII digits, an optional fraction and exponent. Stricter than
# Decimal() and int(), which also take "1_000", surrounding spaces and non-ASCII digits.
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Decimal arithmetic wide enough for any PostgreSQL numeric(p, s) a describe can ask for.
_WIDE = Context(prec=2000, rounding=ROUND_HALF_UP)


def _decimal(value: str, what: str) -> Decimal:
    if not NUMBER.fullmatch(value):
        raise ConversionError(f"not {what}: {_excerpt(value)!r}")
    return Decimal(value)


def _integer(bits: int) -> Converter:
    bound = 2 ** (bits - 1)

    def convert(value: str) -> str | None:
        if not value:
            return None
        # Salesforce prints whole-number doubles as "12.0" or "1.0E3" in some APIs.
        number = _decimal(value, "an integer")
        if number != 0 and number.adjusted() >= len(str(bound)):
            # Checked before int(): "1E+100000000" would otherwise build a hundred-million-digit int.
            raise ConversionError(f"{_excerpt(value)} is outside the {bits}-bit integer range")
        if number != number.to_integral_value():
            raise ConversionError(f"not an integer: {_excerpt(value)!r}")
        whole = int(number)
        if not -bound <= whole < bound:
            raise ConversionError(f"{_excerpt(value)} is outside the {bits}-bit integer range")
        return str(whole)

    return convert


def _numeric(precision: int | None, scale: int | None) -> Converter:
    integer_digits = None if precision is None else precision - (scale or 0)
    quantum = Decimal(1).scaleb(-(scale or 0))

    def convert(value: str) -> str | None:
        if not value:
            return None
        number = _decimal(value, "a number")
        if integer_digits is not None and number != 0 and number.adjusted() >= integer_digits:
            raise ConversionError(f"{_excerpt(value)} has more than {integer_digits} digits before the point")
        if integer_digits is None:
            # double precision: PostgreSQL refuses what overflows or underflows a double.
            as_float = float(number)
            if as_float in (float("inf"), float("-inf")) or (as_float == 0 and number != 0):
                raise ConversionError(f"{_excerpt(value)} is out of the range of a double")
            return value
        if "e" in value or "E" in value:
            # Plain digits at the column's scale: PostgreSQL's numeric input refuses exponents
            # beyond +-1000, and rounding here is what the column would do anyway.
            return format(number.quantize(quantum, context=_WIDE), "f")
        return value

    return convert


def _date(value: str) -> str | None:
    if not value:
        return None
    try:
        if len(value) != 10:  # fromisoformat also takes "20240102"; Salesforce prints YYYY-MM-DD
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise ConversionError(f"not a date (YYYY-MM-DD): {_excerpt(value)!r}") from None
    return value


def datetime_text(value: str) -> str | None:
    """Bulk "2024-01-02T03:04:05.000Z" and REST "2024-01-02T03:04:05.000+0000" -> ISO with offset."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConversionError(f"not a datetime: {_excerpt(value)!r}") from None
    if parsed.tzinfo is None:
        raise ConversionError(f"datetime without a UTC offset: {_excerpt(value)!r}")
    # Validated: hand Postgres the text itself (cheaper than isoformat()); "+0000" becomes "+00:00".
    if value[-5] in "+-" and value[-3] != ":":
        return f"{value[:-2]}:{value[-2:]}"
    return value


def _time(value: str) -> str | None:
    if not value:
        return None
    try:
        return time.fromisoformat(value.removesuffix("Z")).isoformat()
    except ValueError:
        raise ConversionError(f"not a time (HH:MM:SS.sssZ): {_excerpt(value)!r}") from None


def _pg_array_item(item: str) -> str:
    return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _multipicklist(value: str) -> str | None:
    if not value:
        return None
    return "{" + ",".join(_pg_array_item(item) for item in value.split(";")) + "}"


def _opaque(value: str) -> str | None:
    return value or None


JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _json_number(value: str) -> str:
    """A JSON number with the exact digits Salesforce printed (jsonb keeps them as numeric)."""
    if JSON_NUMBER.fullmatch(value):
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConversionError(f"not a number: {_excerpt(value)!r}") from None
    if not number.is_finite():
        raise ConversionError(f"not a finite number: {_excerpt(value)!r}")
    return format(number, "f")


NUMERIC_KEYS = frozenset({"latitude", "longitude"})


def compound_converter(field: FieldSpec) -> CompoundConverter:
    """Address/location components (in ``field.components`` order) -> one JSON object text.

    Every key is present (null when empty), as the REST API returns compounds; all components
    empty -> NULL.
    """
    keys = tuple(key for _sf, key in field.components)
    encoded_keys = tuple(json.dumps(key) + ":" for key in keys)
    numeric = tuple(key in NUMERIC_KEYS for key in keys)

    def convert(values: tuple[str, ...]) -> str | None:
        if not any(values):
            return None
        return "{" + ",".join([
            key + ("null" if not value else _json_number(value) if is_number else encode_json_string(value))
            for key, is_number, value in zip(encoded_keys, numeric, values)  # noqa: B905 - lengths fixed by the plan
        ]) + "}"

    return convert


def converter(field: FieldSpec) -> Converter:
    """The value converter for a non-compound registry field (see the module docstring)."""
    t = field.sf_type
    if t in STRING_TYPES:
        column = column_type(field)
        return _string(column.length if isinstance(column, sa.String) and column.length else None)
    if t in ID_TYPES:
        return _salesforce_id
    if t in DECIMAL_TYPES:
        return _numeric(field.precision, field.scale)
    simple: dict[str, Converter] = {
        "boolean": _boolean,
        "int": _integer(32),
        "long": _integer(64),
        "date": _date,
        "datetime": datetime_text,
        "time": _time,
        "multipicklist": _multipicklist,
        "anyType": _opaque,
        "complexvalue": _opaque,
    }
    if t in simple:
        return simple[t]
    if t in COMPOUND_TYPES:
        raise UnsupportedFieldType(f"field {field.sf_name}: compounds convert with compound_converter()")
    raise _unsupported(field)


def required(convert: Converter) -> Converter:
    """Wrap a converter for a NOT NULL column: an empty value is a reject, not a NULL."""

    def convert_required(value: str) -> str | None:
        result = convert(value)
        if result is None:
            raise ConversionError("required value is empty")
        return result

    return convert_required
