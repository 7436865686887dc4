"""SOQL building: exact literals, validated names, ids with checksums, IN lists under the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.soql import (
    build_select,
    build_spec_select,
    chunk_ids_for_soql,
    soql_datetime,
    to_18,
    validate_field_name,
    validate_salesforce_id,
)

# Real 15/18-character pairs (the checksum is Salesforce's published algorithm).
ID15 = "0035g0000A0Gma8"
ID18 = "0035g0000A0Gma8AQC"


def test_datetime_literal_is_unquoted_utc_with_z():
    assert soql_datetime(datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    plus_two = timezone(timedelta(hours=2))
    assert soql_datetime(datetime(2024, 1, 2, 5, 4, 5, tzinfo=plus_two)) == "2024-01-02T03:04:05Z"


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        soql_datetime(datetime(2024, 1, 2))


def test_window_select_uses_half_open_cursor_range():
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    soql = build_select("Contact", ["Id", "Account.Name"], start=start, end=end)
    assert soql == (
        "SELECT Id, Account.Name FROM Contact "
        "WHERE SystemModstamp >= 2024-01-01T00:00:00Z AND SystemModstamp < 2024-01-02T00:00:00Z"
    )
    assert "+0000" not in soql


def test_select_without_window_has_no_where():
    assert build_select("Contact", ["Id"]) == "SELECT Id FROM Contact"


def test_extra_condition_is_parenthesised_before_window():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    soql = build_select("Task", ["Id"], start=start, where="IsClosed = true OR IsArchived = true")
    assert soql.endswith(
        "WHERE (IsClosed = true OR IsArchived = true) AND SystemModstamp >= 2024-01-01T00:00:00Z"
    )


def test_spec_select_lists_registry_fields_in_order():
    soql = build_spec_select(CONTACT)
    assert soql == f"SELECT {', '.join(CONTACT.soql_fields)} FROM Contact"
    assert soql.startswith("SELECT Id, AccountId,")
    assert "MailingAddress" not in soql and "MailingStreet" in soql


@pytest.mark.parametrize(
    "bad",
    [
        "Id, Name",
        "Id)",
        "Name\n",
        "Name FROM User--",
        "1Name",
        "Account..Name",
        "Na me",
        "Id'",
        "",
        "Account.",
        "x;DROP",
    ],
)
def test_field_names_are_validated(bad):
    with pytest.raises(ValueError, match="invalid Salesforce field name"):
        validate_field_name(bad)
    with pytest.raises(ValueError, match="invalid Salesforce field name"):
        build_select("Contact", ["Id", bad])


@pytest.mark.parametrize("bad", ["Contact WHERE Id != null", "Contact.Account", "Con tact", "Contact)"])
def test_object_names_are_validated(bad):
    with pytest.raises(ValueError, match="invalid Salesforce object name"):
        build_select(bad, ["Id"])


def test_valid_ids_pass_and_15_converts_to_18():
    assert validate_salesforce_id(ID15) == ID15
    assert validate_salesforce_id(ID18, prefix="003") == ID18
    assert to_18(ID15) == ID18


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("0035g0000A0Gma8AQD", "checksum"),  # last char changed
        ("0035g0000A0gma8AQC", "checksum"),  # case changed inside the 15-char part
        ("0035g0000A0Gma", "15 or 18"),
        ("0035g0000A0Gma8AQ", "15 or 18"),
        ("0035g0000A0Gma8' OR Id != null", "15 or 18"),
        ("003') OR Id != (", "15 or 18"),
        ("0035g0000A0 ma8", "15 or 18"),
        ("0035g0000A0Gma8\n", "15 or 18"),
    ],
)
def test_malformed_ids_are_refused_naming_the_id(bad, reason):
    with pytest.raises(ValueError, match=reason) as err:
        validate_salesforce_id(bad)
    assert repr(bad) in str(err.value)


def test_wrong_key_prefix_is_refused():
    with pytest.raises(ValueError, match="key prefix '001'"):
        validate_salesforce_id(ID18, prefix="001")


def _ids(n: int) -> list[str]:
    return [to_18(f"0035g0000A{i:05d}") for i in range(n)]


def test_chunking_keeps_every_statement_under_the_limit_and_every_id_once():
    ids = _ids(500)
    base = "SELECT Id, Name FROM Contact WHERE "
    statements = list(chunk_ids_for_soql(base, ids, limit=2000, prefix="003"))
    assert len(statements) > 1
    assert all(len(s) <= 2000 for s in statements)
    assert all(s.startswith(base + "Id IN ('") and s.endswith("')") for s in statements)
    seen = [part.strip("'") for s in statements for part in s[len(base) + 7 : -1].split(",")]
    assert seen == ids


def test_chunking_deduplicates_and_uses_the_given_field():
    ids = _ids(3)
    statements = list(
        chunk_ids_for_soql("SELECT Id FROM TaskWhoRelation WHERE ", ids + ids[:2], field="TaskId")
    )
    assert statements == [
        f"SELECT Id FROM TaskWhoRelation WHERE TaskId IN ('{ids[0]}','{ids[1]}','{ids[2]}')"
    ]


def test_chunking_empty_list_yields_nothing():
    assert list(chunk_ids_for_soql("SELECT Id FROM Contact WHERE ", [])) == []


def test_chunking_rejects_an_injection_attempt_before_building_anything():
    ids = [*_ids(2), "003000000000001') OR Id != null OR Id IN ('"]
    with pytest.raises(ValueError, match="invalid Salesforce id"):
        list(chunk_ids_for_soql("SELECT Id FROM Contact WHERE ", ids))


def test_chunking_refuses_a_limit_too_small_for_one_id():
    with pytest.raises(ValueError, match="too small"):
        list(chunk_ids_for_soql("SELECT Id FROM Contact WHERE ", _ids(1), limit=40))
