"""Registry invariants: what DAGs, models and SOQL are derived from must be consistent."""

from __future__ import annotations

import dataclasses

import pytest

from salesforce_elt.engine import models, registry, types
from salesforce_elt.engine.registry import CONTACT, EVENT, TASK, TASK_WHO_RELATION, USER, FieldSpec


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
    with pytest.raises(
        KeyError,
        match="'Lead' is not in the registry \\(known: Contact, Event, EventWhoRelation, Task, TaskWhoRelation, User\\)",
    ):
        registry.get_object("Lead")


def test_tables_groups_entries_feeding_one_table():
    grouped = registry.tables()
    assert list(grouped) == [
        "sf_activities", "sf_contacts", "sf_event_who_relations", "sf_task_who_relations", "sf_users"
    ]
    assert [s.name for s in grouped["sf_activities"]] == ["Event", "Task"]
    assert {s.resolved_dag_id for s in grouped["sf_activities"]} == {"salesforce_sync_activities"}


def test_every_object_has_the_dag_id_make_demo_orders_by():
    assert {s.name: s.resolved_dag_id for s in registry.REGISTRY.values()} == {
        "Contact": "salesforce_sync_contacts",
        "User": "salesforce_sync_users",
        "Task": "salesforce_sync_activities",
        "Event": "salesforce_sync_activities",
        "TaskWhoRelation": "salesforce_sync_task_who_relations",
        "EventWhoRelation": "salesforce_sync_event_who_relations",
    }
    # Spelled out in each entry (greppable), not derived from the table name.
    assert all(s.dag_id == s.resolved_dag_id for s in registry.REGISTRY.values())


def test_who_relations_read_removals_from_their_relation_objects_and_need_shared_activities():
    relations = {s.name: s for s in registry.relation_specs()}
    assert {n: (s.relation_parent, s.relation_feed, s.key_prefix, s.api, s.query_all, s.table)
            for n, s in relations.items()} == {
        "TaskWhoRelation": (("TaskId", "Task"), "TaskRelation", "0RT", "rest", False, "sf_task_who_relations"),
        "EventWhoRelation": (("EventId", "Event"), "EventRelation", "0RE", "rest", False, "sf_event_who_relations"),
    }
    skip = registry.missing_in_org(relations["EventWhoRelation"], "INVALID_TYPE")
    assert skip and "Shared Activities is not enabled" in skip and "EventWhoRelation" in skip
    assert registry.missing_in_org(relations["TaskWhoRelation"], "NOT_FOUND")
    assert registry.missing_in_org(relations["TaskWhoRelation"], "INVALID_FIELD") is None
    assert registry.missing_in_org(CONTACT, "INVALID_TYPE") is None  # only Shared Activities objects skip


def test_user_is_rest_without_deletes_and_keeps_its_address_as_jsonb():
    assert (USER.api, USER.query_all, USER.delete_handling, USER.has_is_deleted) == (
        "rest",
        False,
        "none",
        False,
    )
    table = models.TABLES["sf_users"]
    assert str(table.c.address.type) == "JSONB" and "is_active" in table.c and "is_deleted" not in table.c
    assert {"Street", "City", "PostalCode", "Latitude"} <= set(USER.soql_fields)


def test_task_and_event_share_sf_activities_with_kind_type_and_duration():
    table = models.TABLES["sf_activities"]
    assert dict(TASK.constants) == {"activity_kind": "task"} and dict(EVENT.constants) == {
        "activity_kind": "event"
    }
    assert (
        {d.column for d in TASK.derived}
        == {d.column for d in EVENT.derived}
        == {"activity_type", "duration_seconds"}
    )
    assert models.data_columns(table) == list(dict.fromkeys((*EVENT.columns, *TASK.columns)))
    assert (
        TASK.query_all
        and EVENT.query_all
        and TASK.delete_handling == EVENT.delete_handling == "soft_and_hard"
    )
    assert table.c.who_id.comment == "Event.WhoId; Task.WhoId"


def test_task_who_relation_is_rest_only_with_relation_deletes():
    spec = TASK_WHO_RELATION
    assert (spec.api, spec.query_all, spec.delete_handling) == ("rest", False, "relations")
    assert spec.relation_parent == ("TaskId", "Task") and spec.relation_parent_column == "task_id"


@pytest.mark.parametrize("table", sorted(models.TABLES))
def test_every_reference_column_is_indexed_and_no_foreign_keys(table):
    sa_table = models.TABLES[table]
    references = {
        f.column
        for spec in registry.tables()[table]
        for f in spec.fields
        if f.sf_type == "reference" and f.sf_name not in ("CreatedById", "LastModifiedById")
    }
    indexed = {next(iter(ix.columns)).name for ix in sa_table.indexes}
    assert references and references <= indexed
    assert not sa_table.foreign_keys


def test_contact_has_every_emulator_field_including_formulas():
    by_name = {f.sf_name: f for f in CONTACT.fields}
    assert by_name["Languages__c"].sf_type == "multipicklist"
    assert by_name["Full_Name_Formula__c"].calculated and by_name["Days_Since_Created__c"].calculated


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key_prefix": "03"}, "key_prefix '03' must be 3 characters"),
        (
            {"fields": (*CONTACT.fields, FieldSpec("Fax", "email", "phone", length=40))},
            "duplicate target columns",
        ),
        ({"fields": (*CONTACT.fields, FieldSpec("Fax", "Fax", "phone", length=40))}, "not a snake_case"),
        ({"fields": (*CONTACT.fields, FieldSpec("Body", "body", "base64"))}, "base64"),
        ({"fields": (*CONTACT.fields, FieldSpec("Fax", "synced_at", "phone"))}, "reserved for sync metadata"),
        ({"fields": (*CONTACT.fields, FieldSpec("email", "email2", "email"))}, "selected twice"),
        ({"fields": tuple(f for f in CONTACT.fields if f.sf_name != "SystemModstamp")}, "cursor field"),
        (
            {"derived": (dataclasses.replace(TASK.derived[0], inputs=("TaskSubtype",)),)},
            "reads \\['TaskSubtype'\\]",
        ),
        ({"delete_handling": "relations"}, "relation_parent is required"),
        ({"relation_parent": ("TaskId", "Task")}, "relation_parent is required"),
    ],
)
def test_validate_names_the_object_and_the_problem(change, message):
    broken = dataclasses.replace(CONTACT, **change)
    with pytest.raises(ValueError, match=message) as info:
        registry.validate([broken])
    assert "registry entry 'Contact'" in str(info.value)
