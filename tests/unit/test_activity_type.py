"""activity_type / duration_seconds rules (salesforce_elt.engine.activity) and how the transform applies them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from salesforce_elt.engine import activity
from salesforce_elt.engine.registry import EVENT, TASK
from salesforce_elt.engine.transform import transform_files


@pytest.mark.parametrize(
    ("subtype", "call_type", "expected"),
    [
        ("Call", "", "call"),
        ("Call", "Inbound", "call"),
        ("Email", "", "email"),
        ("ListEmail", "", "email"),
        ("email", "", "email"),  # picklist values compare case-insensitively
        ("Task", "", "task"),
        ("", "", "task"),
        ("Task", "Outbound", "call"),  # a call logged as a plain task
        ("", "Internal", "call"),
        ("Cadence", "", "other"),
        ("LinkedIn", "", "other"),  # a subtype newer than the rule
    ],
)
def test_task_activity_type(subtype, call_type, expected):
    assert activity.task_activity_type(subtype, call_type) == expected


@pytest.mark.parametrize(
    ("subtype", "expected"), [("Event", "meeting"), ("", "meeting"), ("Webinar", "other")]
)
def test_event_activity_type(subtype, expected):
    assert activity.event_activity_type(subtype) == expected


def test_every_result_is_one_of_the_documented_types():
    results = {
        activity.task_activity_type(s, c) for s in ("Call", "Email", "Task", "Cadence", "") for c in ("", "x")
    }
    results |= {activity.event_activity_type(s) for s in ("Event", "x")}
    assert results == set(activity.ACTIVITY_TYPES)


def test_durations_share_one_unit():
    assert activity.task_duration_seconds("95") == "95"
    assert activity.task_duration_seconds("") is None
    assert activity.event_duration_seconds("30") == "1800"
    assert activity.event_duration_seconds("30.0") == "1800"
    assert activity.event_duration_seconds("") is None
    with pytest.raises(ValueError, match="not a whole number"):
        activity.event_duration_seconds("1.5")


def _raw(tmp_path: Path, spec, rows: list[dict[str, str]]) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    with (raw / "part-00000.csv").open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(spec.soql_fields)
        for row in rows:
            writer.writerow([row.get(name, "") for name in spec.soql_fields])
    return raw


BASE = {"SystemModstamp": "2024-01-02T03:04:05.000Z", "IsDeleted": "false"}


def _typed(tmp_path: Path, spec, rows) -> tuple[list[dict[str, str]], object]:
    raw = _raw(tmp_path, spec, rows)
    result = transform_files(
        spec, spec.soql_fields, raw, ["part-00000.csv"], tmp_path / "typed", reject_threshold=1.0
    )
    with (tmp_path / "typed" / "part-00000.csv").open(newline="") as fh:
        return list(csv.DictReader(fh)), result


def test_transform_writes_kind_type_and_duration_for_tasks(tmp_path):
    rows, result = _typed(
        tmp_path,
        TASK,
        [
            {**BASE, "Id": "00T5g00000A0001AAA", "TaskSubtype": "Call", "CallDurationInSeconds": "61"},
            {**BASE, "Id": "00T5g00000A0002AAA", "TaskSubtype": "Task", "CallType": "Inbound"},
            {**BASE, "Id": "00T5g00000A0003AAA", "TaskSubtype": "ListEmail"},
        ],
    )
    assert result.rejects == 0
    assert [(r["activity_kind"], r["activity_type"], r["duration_seconds"]) for r in rows] == [
        ("task", "call", "61"),
        ("task", "call", ""),
        ("task", "email", ""),
    ]


def test_transform_rejects_an_event_whose_duration_cannot_convert(tmp_path):
    rows, result = _typed(
        tmp_path,
        EVENT,
        [
            {**BASE, "Id": "00U5g00000A0001AAA", "EventSubtype": "Event", "DurationInMinutes": "45"},
            {**BASE, "Id": "00U5g00000A0002AAA", "EventSubtype": "Event", "DurationInMinutes": "4.5"},
        ],
    )
    assert [(r["activity_kind"], r["activity_type"], r["duration_seconds"]) for r in rows] == [
        ("event", "meeting", "2700")
    ]
    assert result.rejects == 1 and "4.5" in result.first_reasons[0]
