"""The stage contract (salesforce_elt.engine.contract): attributes inside, today's JSON at the XCom boundary."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from salesforce_elt.engine.contract import (
    BulkCarry,
    ExtractResult,
    IdReconcile,
    JobEvent,
    RelationScope,
    TransformResult,
    TypedParts,
    WindowPiece,
)
from salesforce_elt.engine.windows import SyncWindow

WINDOW_JSON = {
    "start": "2026-03-10T11:45:07+00:00",
    "end": "2026-03-10T12:30:15+00:00",
    "full_refresh": False,
    "query_all": True,
    "reason": "data interval minus lookback",
    "advances_high_water_mark": True,
}

# An extract XCom as the extract wrote it (a Bulk run whose /deleted feed was purged).
EXTRACT_JSON = {
    "object": "Contact",
    "api": "bulk",
    "soql": "SELECT Id FROM Contact",
    "fields": ["Id", "LastName"],
    "dropped_fields": [],
    "raw_uri": "file:///staging/raw",
    "files": ["part-00000.csv"],
    "records": 3,
    "job_ids": ["750000000000001AAA"],
    "deleted_uri": None,
    "deleted_records": 0,
    "window": {**WINDOW_JSON, "deletes_covered_to": "2026-03-10T12:00:00+00:00"},
    "api_usage": {"before": "10/15000", "after": "14/15000"},
    "api_calls": 4,
    "id_reconcile": {
        "reason": "INVALID_REPLICATION_DATE",
        "earliest_available": None,
        "job_id": "750000000000002AAA",
        "records": 5,
        "uri": "file:///staging/ids",
        "files": ["part-00000.csv"],
    },
    "seconds": {"extract": 1.5},
}

# A Bulk carry as a release before this contract wrote it into a trigger (the run resumes after an upgrade).
CARRY_JSON = {
    "object": "Contact",
    "dropped_fields": ["Days_Since_Created__c"],
    "soql": "SELECT Id FROM Contact",
    "job_ids": ["750000000000001AAA", "750000000000003AAA"],
    "pieces": [
        {"start": "2026-03-10T11:45:07+00:00", "end": "2026-03-10T12:07:41+00:00", "depth": 1},
        {"start": "2026-03-10T12:07:41+00:00", "end": "2026-03-10T12:30:15+00:00", "depth": 1},
    ],
    "index": 1,
    "window": WINDOW_JSON,
    "incremental_deletes": True,
    "attempt_uri": "file:///staging/try-1",
    "deadline": 1773150000.5,
    "api_usage_before": "10/15000",
    "api_calls": 7,
    "job_records": [2],
}


def test_window_round_trips_and_keeps_the_feed_coverage():
    window = SyncWindow.from_json(EXTRACT_JSON["window"])
    assert window.deletes_covered_to == datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert window.to_json() == EXTRACT_JSON["window"]
    assert SyncWindow.from_json(WINDOW_JSON).to_json() == WINDOW_JSON  # no coverage key when not set


def test_extract_result_round_trips_todays_xcom_and_survives_json():
    result = ExtractResult.from_json(EXTRACT_JSON)
    assert result.object_name == "Contact" and result.window.start == datetime(2026, 3, 10, 11, 45, 7, tzinfo=UTC)
    assert result.id_reconcile == IdReconcile(
        "INVALID_REPLICATION_DATE", None, "750000000000002AAA", 5, "file:///staging/ids", ("part-00000.csv",)
    )
    assert result.to_json() == EXTRACT_JSON
    assert json.loads(json.dumps(result.to_json())) == EXTRACT_JSON


def test_optional_parts_are_left_out_as_today():
    bare = {k: v for k, v in EXTRACT_JSON.items() if k not in ("id_reconcile", "seconds")}
    result = ExtractResult.from_json(bare)
    assert result.id_reconcile is None and result.relation_scope is None
    assert result.to_json() == bare
    scoped = replace(result, relation_scope=RelationScope(False, ("file:///p.csv",), None))
    assert scoped.to_json()["relation_scope"] == {"complete": False, "parent_uris": ["file:///p.csv"], "reason": None}
    assert ExtractResult.from_json(scoped.to_json()) == scoped


def test_parts_converted_while_downloading_travel_with_the_extract_result():
    typed = TypedParts("file:///staging/extract/try-1/typed", ("part-00000.csv",), ("salesforce_id",), 3, 1,
                       "file:///staging/extract/try-1/typed/rejects.csv", 0, "0123456789abcdef", 1.25)
    result = replace(ExtractResult.from_json(EXTRACT_JSON), typed=typed)
    data = json.loads(json.dumps(result.to_json()))
    assert data["typed"]["files"] == ["part-00000.csv"] and data["typed"]["fingerprint"] == "0123456789abcdef"
    assert ExtractResult.from_json(data) == result
    assert ExtractResult.from_json(EXTRACT_JSON).typed is None  # an extract that did not convert


def test_rest_id_reconcile_has_no_job_id_key():
    rest = IdReconcile("purged", "2026-03-01T00:00:00+00:00", uri="file:///ids", files=(), records=0)
    assert rest.to_json() == {
        "reason": "purged", "earliest_available": "2026-03-01T00:00:00+00:00", "records": 0, "uri": "file:///ids",
        "files": [],
    }  # fmt: skip


def test_transform_result_is_the_extract_result_plus_typed_parts():
    data = {
        **EXTRACT_JSON,
        "typed_uri": "file:///staging/typed",
        "typed_files": ["part-00000.csv"],
        "columns": ["salesforce_id", "last_name"],
        "rows": 3,
        "rejects": 0,
        "rejects_uri": None,
        "cleaned": 1,
    }
    result = TransformResult.from_json(data)
    assert result.extract == ExtractResult.from_json(EXTRACT_JSON) and result.cleaned == 1
    assert result.to_json() == data


def test_a_carry_written_before_the_contract_resumes():
    carry = BulkCarry.from_json(CARRY_JSON)
    assert carry.piece == WindowPiece(
        datetime(2026, 3, 10, 12, 7, 41, tzinfo=UTC), datetime(2026, 3, 10, 12, 30, 15, tzinfo=UTC), 1
    )
    assert carry.job_records == (2,) and carry.id_reconcile is None and carry.dropped_fields == ("Days_Since_Created__c",)
    assert carry.to_json() == CARRY_JSON
    # A first deferral: no job done yet, so no job_records key; id lists have no pieces.
    first = replace(carry, index=0, job_records=(), pieces=None)
    assert "job_records" not in first.to_json() and first.to_json()["pieces"] is None
    assert BulkCarry.from_json(first.to_json()) == first


def test_job_event_reads_the_triggers_event_with_or_without_the_calls():
    event = {"status": "success", "job_id": "750", "state": "JobComplete", "message": "job JobComplete",
             "records": 3, "carry": CARRY_JSON}  # fmt: skip
    parsed = JobEvent.from_json(event)
    assert parsed.ok and parsed.carry == BulkCarry.from_json(CARRY_JSON) and parsed.calls is None
    assert parsed.to_json() == event
    failed = JobEvent.from_json({"status": "failed", "job_id": "750", "carry": None, "calls": []})
    assert not failed.ok and failed.carry is None and failed.calls == []


@pytest.mark.parametrize("missing", ["object", "raw_uri", "window"])
def test_an_extract_result_without_a_required_key_is_refused_naming_it(missing):
    with pytest.raises(KeyError, match=missing):
        ExtractResult.from_json({k: v for k, v in EXTRACT_JSON.items() if k != missing})


def test_a_window_without_an_end_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"has no 'end'"):
        SyncWindow.from_json({**WINDOW_JSON, "end": None})
