"""Describe -> FieldSpec for every describe type, compounds, formulas, exclusions and column names."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql as pg

from salesforce_elt.engine import registry, types
from salesforce_elt.engine.registry import FieldSpec
from salesforce_elt.ops.schema.describe import (
    field_spec,
    normalize,
    propose_column,
    snake_case,
    syncable_fields,
)
from salesforce_emulator.objects import make_field


def spec_for(describe_of, name: str, sf_type: str, **attrs) -> FieldSpec:
    obj = normalize(describe_of("Contact", add=[make_field(name, sf_type, **attrs)]))
    return field_spec(obj, obj.field(name), snake_case(name))


def ddl(f: FieldSpec) -> str:
    return str(types.column_type(f).compile(dialect=pg.dialect()))


@pytest.mark.parametrize(
    ("sf_type", "attrs", "expected", "column_type"),
    [
        ("string", {"length": 40}, {"length": 40}, "VARCHAR(40)"),
        ("textarea", {"length": 32000}, {"length": 32000}, "TEXT"),
        ("textarea", {"length": 255}, {"length": 255}, "VARCHAR(255)"),
        ("email", {"length": 80}, {"length": 80}, "VARCHAR(80)"),
        ("phone", {"length": 40}, {"length": 40}, "VARCHAR(40)"),
        ("url", {"length": 255}, {"length": 255}, "VARCHAR(255)"),
        ("picklist", {"length": 255, "picklistValues": ["A", "B"]}, {"length": 255}, "VARCHAR(255)"),
        ("combobox", {"length": 255, "picklistValues": ["A"]}, {"length": 255}, "VARCHAR(255)"),
        ("encryptedstring", {"length": 175}, {"length": 175}, "VARCHAR(175)"),
        ("multipicklist", {"length": 4099, "picklistValues": ["A", "B"]}, {"length": 4099}, "TEXT[]"),
        ("boolean", {}, {}, "BOOLEAN"),
        ("int", {"digits": 9}, {}, "INTEGER"),
        ("long", {"digits": 18}, {}, "BIGINT"),
        ("double", {"precision": 18, "scale": 2}, {"precision": 18, "scale": 2}, "NUMERIC(18, 2)"),
        ("currency", {"precision": 16, "scale": 2}, {"precision": 16, "scale": 2}, "NUMERIC(16, 2)"),
        ("percent", {"precision": 5, "scale": 1}, {"precision": 5, "scale": 1}, "NUMERIC(5, 1)"),
        ("date", {}, {}, "DATE"),
        ("datetime", {}, {}, "TIMESTAMP WITH TIME ZONE"),
        ("time", {}, {}, "TIME WITHOUT TIME ZONE"),
        ("reference", {"length": 18, "referenceTo": ["Account"]}, {"length": 18}, "VARCHAR(18)"),
        ("anyType", {}, {}, "TEXT"),
        ("complexvalue", {}, {}, "TEXT"),
    ],
)
def test_every_describe_type_becomes_the_field_spec_a_person_would_write(
    describe_of, sf_type, attrs, expected, column_type
):
    got = spec_for(describe_of, "X__c", sf_type, **attrs)
    assert got == FieldSpec("X__c", "x", sf_type, **expected)
    assert ddl(got) == column_type


def test_base64_is_excluded_with_the_reason(describe_of):
    with pytest.raises(types.UnsupportedFieldType, match=r"Contact\.Body__c: base64 fields .* not synced"):
        spec_for(describe_of, "Body__c", "base64")


def test_unknown_describe_type_is_refused_by_name(describe_of):
    with pytest.raises(types.UnsupportedFieldType, match="unknown Salesforce describe type 'hologram'"):
        spec_for(describe_of, "Odd__c", "hologram")


def test_address_compound_is_one_jsonb_column_fed_by_its_components(describe_of):
    obj = normalize(describe_of("Contact"))
    got = field_spec(obj, obj.field("MailingAddress"), "mailing_address")
    expected = registry.address("Mailing", "mailing_address")
    assert (got.sf_type, got.column) == ("address", "mailing_address")
    assert set(got.components) == set(expected.components)
    assert ddl(got) == "JSONB"
    # The components are covered by the compound: not columns of their own.
    syncable = {f.name for f in syncable_fields(obj)}
    assert "MailingAddress" in syncable and "MailingStreet" not in syncable and "Id" not in syncable


def test_custom_location_compound_matches_the_registry_helper(describe_of):
    geo = [
        make_field("Geo__c", "location"),
        make_field("Geo__Latitude__s", "double", precision=18, scale=15, compound="Geo__c"),
        make_field("Geo__Longitude__s", "double", precision=18, scale=15, compound="Geo__c"),
    ]
    obj = normalize(describe_of("Contact", add=geo))
    assert field_spec(obj, obj.field("geo__c"), "geo") == registry.location("Geo__c", "geo")


def test_formula_field_is_marked_calculated(describe_of):
    obj = normalize(describe_of("Contact"))
    got = field_spec(obj, obj.field("Days_Since_Created__c"), "days_since_created")
    assert got == FieldSpec(
        "Days_Since_Created__c", "days_since_created", "double", precision=18, scale=0, calculated=True
    )
    assert obj.field("Days_Since_Created__c").formula == "TODAY() - DATEVALUE(CreatedDate)"


def test_normalize_keeps_the_facts_and_groups_fields(describe_of):
    raw = describe_of("Contact")
    raw["fields"].append({**raw["fields"][-1], "name": "Old__c", "deprecatedAndHidden": True})
    raw["fields"][0]["picklistValues"] = []
    obj = normalize(raw)
    assert (obj.name, obj.key_prefix, obj.queryable) == ("Contact", "003", True)
    assert obj.field("old__c") is None  # hidden fields are not part of the schema
    groups = {f.name: f.group for f in obj.fields}
    assert groups["Department"] == "standard"
    assert groups["NPI__c"] == "custom"
    assert groups["AccountId"] == "relationship"
    assert groups["SystemModstamp"] == groups["Id"] == "system"
    specialty = obj.field("Specialty__c")
    assert "Cardiology" in specialty.picklist_values and specialty.length == 255
    assert obj.field("Is_Physician__c").length is None  # describe's 0 means "not applicable"
    assert obj.field("OwnerId").reference_to == ("User",)


def test_normalize_names_what_is_wrong():
    with pytest.raises(ValueError, match="not an object describe"):
        normalize({"sobjects": []})
    with pytest.raises(ValueError, match=r"Contact: a describe field has no 'type'"):
        normalize({"name": "Contact", "fields": [{"name": "Email"}]})


def test_normalize_drops_inactive_picklist_values():
    raw = {
        "name": "Contact",
        "fields": [
            {
                "name": "Stage__c",
                "type": "picklist",
                "length": 40,
                "picklistValues": [{"value": "Open", "active": True}, {"value": "Retired", "active": False}],
            }
        ],
    }
    assert normalize(raw).field("Stage__c").picklist_values == ("Open",)


@pytest.mark.parametrize(
    ("sf_name", "column"),
    [
        ("NPI__c", "npi"),
        ("Is_Physician__c", "is_physician"),
        ("HasOptedOutOfEmail", "has_opted_out_of_email"),
        ("MobilePhone", "mobile_phone"),
        ("URLField__c", "url_field"),
        ("ns__Region__c", "ns_region"),
        ("Geo__Latitude__s", "geo_latitude"),
        ("X2nd_Score__c", "x2nd_score"),
        ("A" * 80 + "__c", "a" * 63),
    ],
)
def test_snake_case_columns(sf_name, column):
    assert snake_case(sf_name) == column


def test_proposed_column_follows_registry_conventions_and_avoids_clashes():
    assert propose_column("CreatedDate") == "sf_created_date"  # as every registry entry names it
    assert propose_column("Region__c", taken={"region"}) == "region_2"
    assert propose_column("Synced_At__c") == "synced_at_2"  # reserved for the loader's metadata
