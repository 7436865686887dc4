"""SOQL building: validated names, exact datetime literals, id lists split under the statement limit.

Nothing user-supplied reaches a statement unvalidated: names must match the API-name pattern and
ids must be well-formed Salesforce ids, so quotes, spaces or ``) OR Id != null`` cannot get in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from salesforce_elt.engine.registry import SObjectSpec

SOQL_MAX_CHARS = 100_000  # Salesforce refuses longer statements
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_OBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def validate_field_name(name: str) -> str:
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise ValueError(
            f"invalid Salesforce field name {name!r} (expected an API name such as Account.Name)"
        )
    return name


def validate_object_name(name: str) -> str:
    if not isinstance(name, str) or not _OBJECT.fullmatch(name):
        raise ValueError(f"invalid Salesforce object name {name!r} (expected an API name such as Contact)")
    return name


def soql_datetime(value: datetime) -> str:
    """Unquoted UTC literal ``2024-01-02T03:04:05Z`` (sub-seconds dropped).

    Never ``+0000``: SOQL wants ``+00:00`` or ``Z``, and a ``+`` left unencoded in a URL is a space.
    """
    if value.tzinfo is None:
        raise ValueError(
            f"datetime {value.isoformat()} has no time zone; SOQL literals need an aware UTC value"
        )
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_select(
    object_name: str,
    fields: Sequence[str],
    *,
    cursor_field: str = "SystemModstamp",
    start: datetime | None = None,
    end: datetime | None = None,
    where: str | None = None,
) -> str:
    """``SELECT f1, f2 FROM Obj [WHERE (where) AND cursor >= start AND cursor < end]``.

    ``where`` is raw SOQL written by DAG code (never by a form field); it is parenthesised so its
    ORs cannot swallow the window conditions.
    """
    if not fields:
        raise ValueError(f"no fields to select from {object_name!r}")
    select = ", ".join(validate_field_name(f) for f in fields)
    conditions = [f"({where})"] if where else []
    if start is not None:
        conditions.append(f"{validate_field_name(cursor_field)} >= {soql_datetime(start)}")
    if end is not None:
        conditions.append(f"{validate_field_name(cursor_field)} < {soql_datetime(end)}")
    statement = f"SELECT {select} FROM {validate_object_name(object_name)}"  # noqa: S608 (SOQL; names validated)
    if conditions:
        statement += " WHERE " + " AND ".join(conditions)
    return statement


def build_spec_select(
    spec: SObjectSpec, *, start: datetime | None = None, end: datetime | None = None, where: str | None = None
) -> str:
    """The registry object's SELECT list over a cursor window."""
    return build_select(
        spec.name, spec.soql_fields, cursor_field=spec.cursor_field, start=start, end=end, where=where
    )


def _checksum(id15: str) -> str:
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def to_18(value: str) -> str:
    """The case-insensitive 18-character form of a (validated) 15- or 18-character id."""
    value = validate_salesforce_id(value)
    return value if len(value) == 18 else value + _checksum(value)


def validate_salesforce_id(value: str, prefix: str | None = None) -> str:
    """Return ``value`` when it is a well-formed Salesforce id (with ``prefix`` if given), else ValueError."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"invalid Salesforce id {value!r}: expected 15 or 18 letters and digits")
    if len(value) == 18 and value[15:] != _checksum(value[:15]):
        raise ValueError(f"invalid Salesforce id {value!r}: the 18-character checksum does not match")
    if prefix is not None and not value.startswith(prefix):
        raise ValueError(f"invalid Salesforce id {value!r}: expected key prefix {prefix!r}")
    return value


def chunk_ids_for_soql(
    base_soql_prefix: str,
    ids: Iterable[str],
    limit: int = SOQL_MAX_CHARS,
    *,
    field: str = "Id",
    prefix: str | None = None,
) -> Iterator[str]:
    """Statements ``<base_soql_prefix><field> IN ('id1','id2',...)``, each at most ``limit`` characters.

    ``base_soql_prefix`` ends where the condition starts, e.g. ``"SELECT Id FROM Contact WHERE "``.
    Ids are validated (and de-duplicated, order kept) before they enter a statement.
    """
    head = f"{base_soql_prefix}{validate_field_name(field)} IN ("
    seen: dict[str, None] = {}
    for raw in ids:
        seen.setdefault(validate_salesforce_id(raw, prefix), None)
    batch: list[str] = []
    length = len(head) + 1  # the closing parenthesis
    for value in seen:
        literal = f"'{value}'"
        extra = len(literal) + (1 if batch else 0)
        if length + extra > limit:
            if not batch:
                raise ValueError(
                    f"SOQL limit {limit} is too small for even one id after {base_soql_prefix!r}"
                )
            yield head + ",".join(batch) + ")"
            batch, length = [], len(head) + 1
            extra = len(literal)
        batch.append(literal)
        length += extra
    if batch:
        yield head + ",".join(batch) + ")"
