"""Registry invariants: what DAGs, models and SOQL are derived from must be consistent."""

from __future__ import annotations

import dataclasses

import pytest

from salesforce_elt import models, registry, types
from salesforce_elt.registry import CONTACT, FieldSpec


def test_registry_validates():
    registry.validate()


@pytest.mark.parametrize("spec", list(registry.REGISTRY.values()), ids=lambda s: s.name)
def test_every_field_has_a_postgres_type_and_a_converter(spec):
    for f in spec.fields:
        assert types.column_type(f) is not None
        if not f.components:
            assert callable(types.converter(f))


@pytest.mark.parametrize("spec", list(registry.REGISTRY.values()), ids=lambda s: s.name)
def test_soql_fields_start_with_the_key_and_expand_compounds(spec):
    fields = spec.soql_fields
    assert fields[0] == spec.primary_key
    assert len(fields) == len(set(fields))
    assert not any(f.sf_type in ("address", "location") and f.sf_name in fields for f in spec.fields)


def test_contact_table_shape():
    table = models.TABLES["sf_contacts"]
    assert table.schema == registry.warehouse_schema() == "salesforce"
    assert [c.name for c in table.primary_key.columns] == ["salesforce_id"]
    assert list(table.columns.keys())[-3:] == ["sync_run_id", "synced_at", "sf_deleted_at"]
    indexed = {next(iter(ix.columns)).name for ix in table.indexes}
    assert {"email", "npi", "specialty", "sf_system_modstamp"} <= indexed
    assert str(table.c.mailing_address.type) == "JSONB"
    assert models.data_columns(table) == list(CONTACT.columns)


def test_contact_is_keyed_and_cursored_as_the_contract_says():
    assert CONTACT.resolved_dag_id == "salesforce_sync_contacts"
    assert CONTACT.cursor_column == "sf_system_modstamp"
    assert CONTACT.has_is_deleted
    assert "MailingLatitude" in CONTACT.soql_fields and "MailingAddress" not in CONTACT.soql_fields


def test_get_object_is_case_insensitive_and_names_known_objects():
    assert registry.get_object("contact") is CONTACT
    with pytest.raises(KeyError, match="'Lead' is not in the registry \\(known: Contact\\)"):
        registry.get_object("Lead")


def test_tables_groups_entries_feeding_one_table():
    task = dataclasses.replace(CONTACT, name="Task", key_prefix="00T", table="sf_activities")
    event = dataclasses.replace(CONTACT, name="Event", key_prefix="00U", table="sf_activities")
    original = dict(registry.REGISTRY)
    try:
        registry.REGISTRY.update(Task=task, Event=event)
        grouped = registry.tables()
    finally:
        registry.REGISTRY.clear()
        registry.REGISTRY.update(original)
    assert list(grouped) == ["sf_activities", "sf_contacts"]
    assert [s.name for s in grouped["sf_activities"]] == ["Event", "Task"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key_prefix": "03"}, "key_prefix '03' must be 3 characters"),
        ({"fields": (*CONTACT.fields, FieldSpec("Fax", "email", "phone", length=40))}, "duplicate target columns"),
        ({"fields": (*CONTACT.fields, FieldSpec("Fax", "Fax", "phone", length=40))}, "not a snake_case"),
        ({"fields": (*CONTACT.fields, FieldSpec("Body", "body", "base64"))}, "base64"),
        ({"fields": (*CONTACT.fields, FieldSpec("Fax", "synced_at", "phone"))}, "reserved for sync metadata"),
        ({"fields": (*CONTACT.fields, FieldSpec("email", "email2", "email"))}, "selected twice"),
        ({"fields": tuple(f for f in CONTACT.fields if f.sf_name != "SystemModstamp")}, "cursor field"),
    ],
)
def test_validate_names_the_object_and_the_problem(change, message):
    broken = dataclasses.replace(CONTACT, **change)
    with pytest.raises(ValueError, match=message) as info:
        registry.validate([broken])
    assert "registry entry 'Contact'" in str(info.value)
