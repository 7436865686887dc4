"""Targeted contact sync rules: discovery queries, id validation and SOQL-sized chunks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from salesforce_elt.engine import targeted
from salesforce_elt.engine.soql import SOQL_MAX_CHARS, validate_salesforce_id
from salesforce_emulator.ids import make_ids
from salesforce_emulator.seed import ID_BASE

START, END = datetime(2024, 1, 2, 3, tzinfo=UTC), datetime(2024, 1, 2, 4, tzinfo=UTC)


def test_ten_thousand_ids_stay_under_the_soql_limit_with_nothing_lost():
    ids = make_ids("003", ID_BASE, 10_000)
    assert all(validate_salesforce_id(i, "003") == i for i in ids)  # real 18-character ids
    chunks = list(targeted.chunk_ids(ids))
    statements = [f"{targeted.contact_select_prefix()}Id IN ({','.join(repr(i) for i in c)})" for c in chunks]
    assert [i for chunk in chunks for i in chunk] == ids
    assert all(len(s) <= SOQL_MAX_CHARS for s in statements)
    assert len(chunks) == 3  # ~4,700 ids per statement: as few jobs as the limit allows
    assert max(len(s) for s in statements) > SOQL_MAX_CHARS - 25  # full, not half-empty, chunks


def test_a_smaller_limit_gives_more_chunks():
    ids = make_ids("003", ID_BASE, 500)
    chunks = list(targeted.chunk_ids(ids, 5_000))
    assert len(chunks) > 2 and sum(map(len, chunks)) == 500


def test_discovery_keeps_valid_contact_ids_once_and_skips_leads():
    found = targeted.Discovery()
    contact, other = make_ids("003", ID_BASE, 2)
    lead = make_ids("00Q", ID_BASE, 1)[0]
    found.add([contact, None, lead, contact, other, contact[:15]])
    assert list(found.ids) == [contact, other, contact[:15]]
    assert (found.seen, found.not_contacts) == (5, 1)


@pytest.mark.parametrize(
    "bad",
    ["003'OR'1'='1", "0035g00000A000", "0035g00000A0000ZZZ", "0035g00000A0000AAAX", "003 5g00000A0000AAA"],
)
def test_discovery_refuses_a_malformed_contact_id(bad):
    with pytest.raises(ValueError, match="malformed contact id"):
        targeted.Discovery().add([bad])


def test_discovery_queries_cover_tasks_events_and_both_relation_objects():
    queries = targeted.discovery_queries(START, END)
    assert [(q.object_name, q.field) for q in queries] == [
        ("Task", "WhoId"),
        ("Event", "WhoId"),
        ("TaskWhoRelation", "RelationId"),
        ("EventWhoRelation", "RelationId"),
    ]
    window = "SystemModstamp >= 2024-01-02T03:00:00Z AND SystemModstamp < 2024-01-02T04:00:00Z"
    assert all(window in q.soql for q in queries)
    assert all("(SELECT" not in q.soql for q in queries)  # never a semi-join
    assert all(">=" not in q.soql for q in targeted.discovery_queries(None, END))


def test_relations_of_changed_activities_are_read_by_listed_ids_never_a_semi_join():
    lookups = targeted.relation_lookups(START, END)
    assert [(lk.relation, lk.parent, lk.parent_field) for lk in lookups] == [
        ("TaskWhoRelation", "Task", "TaskId"),
        ("EventWhoRelation", "Event", "EventId"),
    ]
    window = "SystemModstamp >= 2024-01-02T03:00:00Z AND SystemModstamp < 2024-01-02T04:00:00Z"
    assert lookups[0].parents_soql == f"SELECT Id FROM Task WHERE {window}"
    task_ids = make_ids("00T", ID_BASE, 300)
    statements = list(lookups[0].statements(task_ids, 2_000))
    assert len(statements) > 1 and all(len(s) <= 2_000 for s in statements)
    assert all(s.startswith("SELECT RelationId FROM TaskWhoRelation WHERE TaskId IN ('00T") for s in statements)
    listed = [i.strip("'") for s in statements for i in s[s.index("(") + 1 : -1].split(",")]
    assert listed == task_ids
    with pytest.raises(ValueError):  # an event id is not a task id: refused before it enters SOQL
        list(lookups[0].statements(make_ids("00U", ID_BASE, 1), 2_000))
    # Unbounded: "relations changed before the end" is every relation already.
    assert targeted.relation_lookups(None, END) == []


def test_small_discoveries_travel_inline_and_large_ones_as_files():
    chunks = [["a", "b"], ["c"]]
    written = []
    inline = targeted.chunk_descriptors(chunks, written.append, inline_max_ids=3, total=3)
    assert inline == [{"index": 0, "count": 2, "ids": ["a", "b"]}, {"index": 1, "count": 1, "ids": ["c"]}]
    files = targeted.chunk_descriptors(chunks, lambda i, ids: f"file:///x/{i}", inline_max_ids=2, total=3)
    assert files == [
        {"index": 0, "count": 2, "ids_uri": "file:///x/0"},
        {"index": 1, "count": 1, "ids_uri": "file:///x/1"},
    ]
    assert written == []
