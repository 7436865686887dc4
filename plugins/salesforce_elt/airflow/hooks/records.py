"""REST records as staging CSV cells: the same text whichever API (REST or Bulk) read them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from salesforce_elt.airflow.hooks.errors import SalesforceApiError


def flatten_record(record: dict[str, Any], fields: Sequence[str]) -> list[Any]:
    """Values for ``fields`` (dotted parent paths allowed) from one REST record, as CSV cells.

    Booleans print as Salesforce's ``true``/``false``; a compound (dict) value means a compound
    field was selected, which the staging format does not allow.
    """
    row: list[Any] = []
    for name in fields:
        value: Any = record
        for part in name.split("."):
            if value is None:
                break
            value = value.get(part) if part in value else _get_ci(value, part)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Decimal):
            value = _number_text(value)
        elif isinstance(value, float) and value.is_integer():
            # JSON has 730.0 where Bulk CSV prints 730: one staging format whatever the API.
            value = int(value)
        elif isinstance(value, dict):
            raise SalesforceApiError(
                "COMPOUND_FIELD", f"field {name!r} returned a compound value; select its components instead"
            )
        row.append(value)
    return row


def _number_text(number: Decimal) -> str:
    """A JSON number read as Decimal, as CSV text: the digits Salesforce printed (a float would round
    past 17 significant digits), a whole number without its ".0" or exponent (Bulk prints 730 where
    JSON has 730.0 or 7.3E2) so both APIs stage the same text."""
    if number.is_finite() and abs(number.adjusted()) < 40 and number == number.to_integral_value():
        return str(int(number))
    return str(number)


def _get_ci(mapping: dict[str, Any], key: str) -> Any:
    # Salesforce echoes canonical casing; the SELECT list may use another one.
    lowered = key.lower()
    for candidate, value in mapping.items():
        if candidate.lower() == lowered:
            return value
    return None
