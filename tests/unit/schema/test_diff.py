"""compare(): registry entry vs describe — added, removed, changed, unselectable, excluded."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from salesforce_elt.engine.registry import FieldSpec, SObjectSpec
from salesforce_elt.ops.schema.describe import field_spec, normalize, propose_column, syncable_fields
from salesforce_elt.ops.schema.diff import FieldChange, compare, render_json, render_text
from salesforce_emulator.objects import make_field


@pytest.fixture
def in_sync_spec(describe_of) -> SObjectSpec:
    """A registry entry holding every syncable Contact field, exactly as described."""
    obj = normalize(describe_of("Contact"))
    fields, taken = [], set()
    for f in syncable_fields(obj):
        column = propose_column(f.name, taken)
        taken.add(column)
        fields.append(field_spec(obj, f, column))
    return SObjectSpec(name="Contact", table="sf_contacts", key_prefix="003", fields=tuple(fields))


def with_field(spec: SObjectSpec, name: str, **changes) -> SObjectSpec:
    fields = tuple(replace(f, **changes) if f.sf_name == name else f for f in spec.fields)
    return replace(spec, fields=fields)


def test_registry_equal_to_describe_is_in_sync(in_sync_spec, describe_of):
    drift = compare(in_sync_spec, describe_of("Contact"))
    assert not drift.drifted
    assert (drift.added, drift.removed, drift.changed, drift.missing_soql_fields) == ((), (), (), ())
    assert "Contact: in sync" in render_text([drift])


def test_new_salesforce_field_is_added_with_its_proposed_field_spec(in_sync_spec, describe_of):
    drift = compare(in_sync_spec, describe_of("Contact", add=[make_field("Region__c", "string", length=40)]))
    assert drift.drifted
    assert drift.added == (FieldSpec("Region__c", "region", "string", length=40),)
    assert (drift.removed, drift.changed) == ((), ())


def test_field_gone_from_salesforce_is_removed_and_unselectable(in_sync_spec, describe_of):
    drift = compare(in_sync_spec, describe_of("Contact", remove=["Department"]))
    assert [f.sf_name for f in drift.removed] == ["Department"]
    assert drift.missing_soql_fields == ("Department",)
    assert drift.drifted and not drift.added


def test_lost_compound_component_is_a_change_and_unselectable(in_sync_spec, describe_of):
    drift = compare(in_sync_spec, describe_of("Contact", remove=["MailingGeocodeAccuracy"]))
    assert drift.missing_soql_fields == ("MailingGeocodeAccuracy",)
    assert [(c.sf_name, c.attribute) for c in drift.changed] == [("MailingAddress", "components")]
    assert "MailingGeocodeAccuracy" not in drift.changed[0].salesforce


def test_type_length_precision_and_scale_changes(in_sync_spec, describe_of):
    spec = with_field(in_sync_spec, "Title", length=80)
    spec = with_field(spec, "Department", sf_type="picklist")
    spec = with_field(spec, "MailingAddress")  # untouched
    spec = with_field(spec, "Days_Since_Created__c", precision=10, scale=2)
    drift = compare(spec, describe_of("Contact"))
    assert set(drift.changed) == {
        FieldChange("Title", "title", "length", 80, 128),
        FieldChange("Department", "department", "type", "picklist", "string"),
        FieldChange("Days_Since_Created__c", "days_since_created", "precision", 10, 18),
        FieldChange("Days_Since_Created__c", "days_since_created", "scale", 2, 0),
    }


def test_length_of_references_and_nullability_are_not_drift(in_sync_spec, describe_of):
    spec = with_field(in_sync_spec, "AccountId", length=None)
    spec = with_field(spec, "LastName", nullable=True)
    assert not compare(spec, describe_of("Contact")).drifted


def test_names_compare_case_insensitively(in_sync_spec, describe_of):
    spec = with_field(in_sync_spec, "NPI__c", sf_name="npi__C")
    assert not compare(spec, describe_of("Contact")).drifted


def test_base64_field_is_excluded_not_drift(in_sync_spec, describe_of):
    drift = compare(in_sync_spec, describe_of("Contact", add=[make_field("Photo__c", "base64")]))
    assert not drift.drifted
    assert drift.excluded == (("Photo__c", "base64 fields (file bodies) are not synced: Bulk 2.0 cannot select them"),)
    assert "excluded  Photo__c" in render_text([drift])


def test_describe_of_another_object_is_refused(in_sync_spec, describe_of):
    with pytest.raises(ValueError, match="describe is for Task, not the registry entry Contact"):
        compare(in_sync_spec, describe_of("Task"))


def test_json_and_text_reports(in_sync_spec, describe_of):
    raw = describe_of("Contact", add=[make_field("Region__c", "string", length=40)], remove=["Title"])
    drift = compare(with_field(in_sync_spec, "Phone", length=20), raw)
    [payload] = json.loads(render_json([drift]))
    assert payload["drifted"] is True
    assert payload["added"] == [{"field": "Region__c", "column": "region", "type": "string", "length": 40}]
    assert [r["field"] for r in payload["removed"]] == ["Title"]
    assert payload["changed"] == [
        {"sf_name": "Phone", "column": "phone", "attribute": "length", "registry": 20, "salesforce": 40}
    ]
    text = render_text([drift])
    assert "Contact: DRIFTED" in text
    assert "added    Region__c" in text and "proposed column region" in text
    assert "removed  Title" in text and "changed  Phone" in text
    assert "not selectable any more: Title" in text
