"""The extract's planning (salesforce_elt.engine.extract_plan): API choice, statements, length limits, halving."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from salesforce_elt.engine.contract import WindowPiece
from salesforce_elt.engine.extract_plan import (
    BULK_SOQL_MAX_CHARS,
    REST_SOQL_MAX_CHARS,
    ExtractPlan,
    WindowSplitError,
    dropped_fields,
    earliest_cursor_soql,
    halve,
    id_soql,
    parse_ids,
    query_operation,
    resolve_api,
    soql_summary,
    window_note,
)
from salesforce_elt.engine.registry import CONTACT, USER
from salesforce_elt.engine.soql import build_spec_select
from salesforce_elt.engine.windows import SyncWindow, targeted_window

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
START = NOW - timedelta(hours=1)
INCREMENTAL = SyncWindow(START, NOW, False, True, "data interval minus lookback")
FULL = SyncWindow(None, NOW, True, True, "full_refresh param")


def contact_ids(count: int) -> list[str]:
    # Valid 15-character Contact ids (the 18-character form needs the checksum; 15 is accepted).
    return [f"003{i:012d}" for i in range(count)]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (None, None),
        ('["a", "b"]', ["a", "b"]),
        ("a, b c", ["a", "b", "c"]),
        (["a", 2], ["a", "2"]),
        ("", []),
    ],
)
def test_parse_ids_reads_lists_json_and_separated_text(ids, expected):
    assert parse_ids(ids) == expected


@pytest.mark.parametrize(
    ("param", "operator", "spec", "expected"),
    [
        (None, "auto", CONTACT, "bulk"),
        (None, "auto", USER, "rest"),
        ("auto", "rest", CONTACT, "rest"),
        ("bulk", "rest", USER, "bulk"),
        ("rest", "bulk", CONTACT, "rest"),
    ],
)
def test_api_is_the_param_then_the_operator_then_the_registry(param, operator, spec, expected):
    assert resolve_api({"api": param}, operator, spec) == expected


def test_an_unknown_api_param_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"param 'api'='soap' must be one of auto, bulk, rest"):
        resolve_api({"api": "soap"}, "auto", CONTACT)


def test_an_incremental_window_is_one_bounded_statement_and_one_piece():
    plan = ExtractPlan.build(CONTACT, INCREMENTAL, None, None, "Id")
    assert not plan.targeted and plan.operation == "queryAll"
    assert plan.statements("bulk") == [build_spec_select(CONTACT, start=START, end=NOW)]
    assert plan.pieces() == (WindowPiece(START, NOW, 0),)


def test_a_full_read_or_a_condition_is_unbounded():
    assert ExtractPlan.build(CONTACT, FULL, None, None, "Id").statements("rest") == [build_spec_select(CONTACT)]
    assert ExtractPlan.build(CONTACT, FULL, None, None, "Id").pieces() == (WindowPiece(None, None, 0),)
    where = "Email != null"
    plan = ExtractPlan.build(CONTACT, targeted_window(CONTACT, now=NOW), None, where, "Id")
    assert plan.targeted
    assert plan.statements("bulk") == [build_spec_select(CONTACT, where=where)]
    assert plan.pieces() == (WindowPiece(None, None, 0),)


@pytest.mark.parametrize(("api", "limit"), [("bulk", BULK_SOQL_MAX_CHARS), ("rest", REST_SOQL_MAX_CHARS)])
def test_id_lists_are_chunked_under_each_apis_limit(api, limit):
    ids = contact_ids(2000)
    plan = ExtractPlan.build(CONTACT, targeted_window(CONTACT, now=NOW), ids, None, "Id")
    statements = plan.statements(api)
    assert all(len(s) <= limit for s in statements)
    # 2,000 ids (~40,000 characters) fit one Bulk statement and need several REST ones.
    assert (len(statements) == 1) == (api == "bulk")
    listed = [i.strip("'") for s in statements for i in s.split("Id IN (", 1)[1].rstrip(")").split(",")]
    assert listed == ids
    assert plan.pieces() is None  # id lists are not split by the cursor


def test_a_given_limit_wins_and_an_empty_id_list_asks_nothing():
    ids = contact_ids(30)
    plan = ExtractPlan.build(CONTACT, targeted_window(CONTACT, now=NOW), ids, None, "Id")
    assert len(plan.statements("bulk", len(build_spec_select(CONTACT)) + 400)) > 1
    assert ExtractPlan.build(CONTACT, targeted_window(CONTACT, now=NOW), [], None, "Id").statements("rest") == []


def test_a_condition_and_an_id_list_combine_and_a_foreign_id_field_skips_the_prefix_check():
    plan = ExtractPlan.build(CONTACT, targeted_window(CONTACT, now=NOW), ["001000000000001"], "IsDeleted = false",
                             "AccountId")  # fmt: skip
    (statement,) = plan.statements("rest")
    assert statement.endswith("WHERE (IsDeleted = false) AND AccountId IN ('001000000000001')")


def test_halving_splits_at_the_middle_second_and_keeps_unbounded_edges():
    first, second = halve(CONTACT, WindowPiece(START, None, 1), NOW, earliest=None, max_split_depth=4, reason="x")
    middle = START + timedelta(minutes=30)
    assert (first, second) == (WindowPiece(START, middle, 2), WindowPiece(middle, None, 2))
    earliest = NOW - timedelta(days=2)
    first, second = halve(CONTACT, WindowPiece(None, None), NOW, earliest=earliest, max_split_depth=4, reason="x")
    assert first.start is None and second.end is None and first.end == second.start == NOW - timedelta(days=1)


def test_halving_stops_at_the_depth_limit_and_at_one_second_naming_the_window():
    with pytest.raises(WindowSplitError, match=r"^Contact: the query for SystemModstamp window \[.+\) failed after "
                       r"2 split\(s\) \(max_split_depth=2\): QUERY_TIMEOUT"):  # fmt: skip
        halve(CONTACT, WindowPiece(START, NOW, 2), NOW, earliest=None, max_split_depth=2, reason="QUERY_TIMEOUT")
    with pytest.raises(WindowSplitError, match="cannot be split further"):
        halve(CONTACT, WindowPiece(START, START + timedelta(seconds=1)), NOW, earliest=None, max_split_depth=4,
              reason="x")  # fmt: skip
    with pytest.raises(WindowSplitError, match=r"window \[beginning, now\) failed and the window cannot be split"):
        halve(CONTACT, WindowPiece(None, None), NOW, earliest=None, max_split_depth=4, reason="no rows")


def test_small_helpers():
    assert query_operation(True) == "queryAll" and query_operation(False) == "query"
    assert earliest_cursor_soql(CONTACT, "Email != null") == (
        "SELECT SystemModstamp FROM Contact WHERE (Email != null) ORDER BY SystemModstamp ASC LIMIT 1"
    )
    assert id_soql(CONTACT) == "SELECT Id, IsDeleted FROM Contact"
    assert window_note(None, 4) == ""
    assert "after 1 split(s), max_split_depth=4" in window_note(WindowPiece(START, NOW, 1), 4)
    assert dropped_fields(CONTACT) == []
    assert dropped_fields(replace(CONTACT, fields=CONTACT.fields[1:])) == ["AccountId"]
    assert soql_summary(["a", "b"]) == "a;\nb"
    long = soql_summary(["x" * 3000, "y" * 3000])
    assert long.startswith("x" * 1000 + "...") and long.endswith("[2 statement(s), 6002 characters]")
