"""The one declarative registry of synced Salesforce objects.

Everything else is derived from it: the DAGs (dag_factory), the SQLAlchemy models (models),
the SOQL the extract operators send, the transform's column mapping and the docs. Adding an
object is one ``SObjectSpec`` entry here plus one reviewed Alembic migration (the entry's types
and per-entry checks are in object_spec.py; how its deletions are read, in deletes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from salesforce_elt import settings
from salesforce_elt.engine import activity
from salesforce_elt.engine.object_spec import (
    Api,
    DeleteHandling,
    DerivedColumn,
    FieldSpec,
    SObjectSpec,
    address,
    check_spec,
    location,
)

__all__ = [
    "CONTACT",
    "EVENT",
    "EVENT_WHO_RELATION",
    "MISSING_OBJECT_CODES",
    "REGISTRY",
    "TASK",
    "TASK_WHO_RELATION",
    "USER",
    "Api",
    "DeleteHandling",
    "DerivedColumn",
    "FieldSpec",
    "SObjectSpec",
    "address",
    "get_object",
    "location",
    "missing_in_org",
    "relation_specs",
    "tables",
    "validate",
    "warehouse_schema",
]

def warehouse_schema() -> str:
    """Target schema (default ``salesforce``): SALESFORCE_ELT_SCHEMA or ``[salesforce_elt] schema``."""
    return settings.warehouse_schema()


def _system_fields(*, deletable: bool = True) -> tuple[FieldSpec, ...]:
    fields = [
        FieldSpec("CreatedDate", "sf_created_date", "datetime"),
        FieldSpec("CreatedById", "created_by_id", "reference", length=18),
        FieldSpec("LastModifiedDate", "sf_last_modified_date", "datetime"),
        FieldSpec("LastModifiedById", "last_modified_by_id", "reference", length=18),
        FieldSpec("SystemModstamp", "sf_system_modstamp", "datetime", nullable=False, index=True),
    ]
    if deletable:
        fields.append(FieldSpec("IsDeleted", "is_deleted", "boolean", nullable=False))
    return tuple(fields)


CONTACT = SObjectSpec(
    name="Contact",
    table="sf_contacts",
    dag_id="salesforce_sync_contacts",
    key_prefix="003",
    description="Contacts (people at accounts), with the physician custom fields.",
    fields=(
        FieldSpec("AccountId", "account_id", "reference", length=18, index=True),
        FieldSpec("FirstName", "first_name", "string", length=40),
        FieldSpec("LastName", "last_name", "string", length=80),
        FieldSpec("Name", "name", "string", length=121),
        FieldSpec("Salutation", "salutation", "picklist", length=40),
        FieldSpec("Title", "title", "string", length=128),
        FieldSpec("Email", "email", "email", length=80, index=True),
        FieldSpec("Phone", "phone", "phone", length=40),
        FieldSpec("MobilePhone", "mobile_phone", "phone", length=40),
        FieldSpec("OwnerId", "owner_id", "reference", length=18, index=True),
        FieldSpec("ReportsToId", "reports_to_id", "reference", length=18, index=True),
        FieldSpec("Birthdate", "birthdate", "date"),
        FieldSpec("Department", "department", "string", length=80),
        FieldSpec("LeadSource", "lead_source", "picklist", length=255),
        FieldSpec("HasOptedOutOfEmail", "has_opted_out_of_email", "boolean"),
        FieldSpec("DoNotCall", "do_not_call", "boolean"),
        FieldSpec("LastActivityDate", "last_activity_date", "date"),
        FieldSpec("MasterRecordId", "master_record_id", "reference", length=18, index=True),
        FieldSpec("NPI__c", "npi", "string", length=20, index=True),
        FieldSpec("Specialty__c", "specialty", "picklist", length=255, index=True),
        FieldSpec("Is_Physician__c", "is_physician", "boolean"),
        address("Mailing", "mailing_address"),
        address("Other", "other_address"),
        FieldSpec("Languages__c", "languages", "multipicklist", length=4099),
        FieldSpec("Full_Name_Formula__c", "full_name_formula", "string", length=1300, calculated=True),
        FieldSpec("Days_Since_Created__c", "days_since_created", "double", precision=18, scale=0, calculated=True),
        *_system_fields(),
    ),
)

USER = SObjectSpec(
    name="User",
    table="sf_users",
    dag_id="salesforce_sync_users",
    key_prefix="005",
    # A few hundred rows: REST costs a call or two and no Bulk job.
    api="rest",
    # User has no IsDeleted: users are deactivated (IsActive, an update), never deleted, so
    # queryAll would return nothing more and there is no delete handling.
    query_all=False,
    delete_handling="none",
    description="Users (owners of contacts and activities); deactivation is IsActive = false.",
    fields=(
        FieldSpec("Username", "username", "string", length=80),
        FieldSpec("LastName", "last_name", "string", length=80),
        FieldSpec("FirstName", "first_name", "string", length=40),
        FieldSpec("Name", "name", "string", length=121),
        FieldSpec("CompanyName", "company_name", "string", length=80),
        FieldSpec("Division", "division", "string", length=80),
        FieldSpec("Department", "department", "string", length=80),
        FieldSpec("Title", "title", "string", length=80),
        address("", "address"),
        FieldSpec("Email", "email", "email", length=128, index=True),
        FieldSpec("Alias", "alias", "string", length=8),
        FieldSpec("IsActive", "is_active", "boolean"),
        FieldSpec("TimeZoneSidKey", "time_zone_sid_key", "picklist", length=40),
        FieldSpec("LocaleSidKey", "locale_sid_key", "picklist", length=40),
        FieldSpec("UserRoleId", "user_role_id", "reference", length=18, index=True),
        FieldSpec("ProfileId", "profile_id", "reference", length=18, index=True),
        FieldSpec("UserType", "user_type", "picklist", length=40),
        FieldSpec("ManagerId", "manager_id", "reference", length=18, index=True),
        FieldSpec("LastLoginDate", "last_login_date", "datetime"),
        *_system_fields(deletable=False),
    ),
)


def _activity_fields() -> tuple[FieldSpec, ...]:
    """Columns Task and Event share in sf_activities (same name, same type)."""
    return (
        FieldSpec("WhoId", "who_id", "reference", length=18, index=True),
        FieldSpec("WhatId", "what_id", "reference", length=18, index=True),
        FieldSpec("Subject", "subject", "combobox", length=255),
        FieldSpec("ActivityDate", "activity_date", "date"),
        FieldSpec("OwnerId", "owner_id", "reference", length=18, index=True),
        FieldSpec("Description", "description", "textarea", length=32000),
        FieldSpec("AccountId", "account_id", "reference", length=18, index=True),
        FieldSpec("IsArchived", "is_archived", "boolean"),
        *_system_fields(),
    )


def _activity_type(inputs: tuple[str, ...], compute: Callable[..., str | None]) -> DerivedColumn:
    return DerivedColumn(
        "activity_type", "picklist", inputs, compute, length=16, index=True,
        description="call | email | meeting | task | other, from TaskSubtype/EventSubtype (activity.py)",
    )


def _duration(inputs: tuple[str, ...], compute: Callable[..., str | None]) -> DerivedColumn:
    return DerivedColumn(
        "duration_seconds", "int", inputs, compute,
        description="call seconds (Task) or event minutes * 60 (Event), see activity.py",
    )


TASK = SObjectSpec(
    name="Task",
    table="sf_activities",
    key_prefix="00T",
    dag_id="salesforce_sync_activities",
    description="Tasks (calls, emails, to-dos); archived and deleted ones through queryAll.",
    constants=(("activity_kind", "task"),),
    derived=(
        _activity_type(("TaskSubtype", "CallType"), activity.task_activity_type),
        _duration(("CallDurationInSeconds",), activity.task_duration_seconds),
    ),
    fields=(
        *_activity_fields(),
        FieldSpec("Status", "status", "picklist", length=40),
        FieldSpec("Priority", "priority", "picklist", length=40),
        FieldSpec("IsHighPriority", "is_high_priority", "boolean"),
        FieldSpec("IsClosed", "is_closed", "boolean"),
        FieldSpec("CallDurationInSeconds", "call_duration_in_seconds", "int"),
        FieldSpec("CallType", "call_type", "picklist", length=40),
        FieldSpec("CallDisposition", "call_disposition", "string", length=255),
        FieldSpec("ReminderDateTime", "reminder_date_time", "datetime"),
        FieldSpec("IsReminderSet", "is_reminder_set", "boolean"),
        FieldSpec("IsRecurrence", "is_recurrence", "boolean"),
        FieldSpec("TaskSubtype", "task_subtype", "picklist", length=40),
        FieldSpec("CompletedDateTime", "completed_date_time", "datetime"),
    ),
)

EVENT = SObjectSpec(
    name="Event",
    table="sf_activities",
    key_prefix="00U",
    dag_id="salesforce_sync_activities",
    description="Events (meetings); archived and deleted ones through queryAll.",
    constants=(("activity_kind", "event"),),
    derived=(
        _activity_type(("EventSubtype",), activity.event_activity_type),
        _duration(("DurationInMinutes",), activity.event_duration_seconds),
    ),
    fields=(
        *_activity_fields(),
        FieldSpec("Location", "location", "string", length=255),
        FieldSpec("IsAllDayEvent", "is_all_day_event", "boolean"),
        FieldSpec("ActivityDateTime", "activity_date_time", "datetime"),
        FieldSpec("DurationInMinutes", "duration_in_minutes", "int"),
        FieldSpec("StartDateTime", "start_date_time", "datetime"),
        FieldSpec("EndDateTime", "end_date_time", "datetime"),
        FieldSpec("ShowAs", "show_as", "picklist", length=40),
        FieldSpec("IsChild", "is_child", "boolean"),
        FieldSpec("IsPrivate", "is_private", "boolean"),
        FieldSpec("IsGroupEvent", "is_group_event", "boolean"),
        FieldSpec("EventSubtype", "event_subtype", "picklist", length=40),
    ),
)

def _who_relation_fields(parent: FieldSpec) -> tuple[FieldSpec, ...]:
    """Columns TaskWhoRelation and EventWhoRelation share; ``parent`` is the activity reference."""
    return (
        FieldSpec("RelationId", "relation_id", "reference", length=18, index=True),
        parent,
        FieldSpec("Type", "relation_type", "string", length=50),
        FieldSpec("AccountId", "account_id", "reference", length=18, index=True),
        *_system_fields(),
    )


TASK_WHO_RELATION = SObjectSpec(
    name="TaskWhoRelation",
    table="sf_task_who_relations",
    dag_id="salesforce_sync_task_who_relations",
    key_prefix="0RT",
    # Bulk 2.0 refuses the object (INVALIDENTITY), and it has neither queryAll nor a /deleted
    # feed of its own. It is a read-only view of TaskRelation (same ids), whose /deleted feed lists
    # removed relations; the relation sets of changed tasks are re-read as a second net (load.py).
    api="rest",
    query_all=False,
    delete_handling="relations",
    relation_parent=("TaskId", "Task"),
    relation_feed="TaskRelation",
    needs_shared_activities=True,
    description="Contacts and leads linked to a task (Shared Activities): one row per task and person.",
    fields=_who_relation_fields(FieldSpec("TaskId", "task_id", "reference", length=18, index=True)),
)

EVENT_WHO_RELATION = SObjectSpec(
    name="EventWhoRelation",
    table="sf_event_who_relations",
    dag_id="salesforce_sync_event_who_relations",
    key_prefix="0RE",
    # Like TaskWhoRelation: REST only, a read-only view of EventRelation (the who relations:
    # IsParent true, IsWhat false), removals from EventRelation's /deleted feed. Event.WhoId is
    # only the primary contact; the others are here.
    api="rest",
    query_all=False,
    delete_handling="relations",
    relation_parent=("EventId", "Event"),
    relation_feed="EventRelation",
    relation_left_where="IsParent = false",
    needs_shared_activities=True,
    description="Contacts and leads linked to an event (Shared Activities): one row per event and person.",
    fields=_who_relation_fields(FieldSpec("EventId", "event_id", "reference", length=18, index=True)),
)

REGISTRY: dict[str, SObjectSpec] = {
    spec.name: spec for spec in (CONTACT, USER, TASK, EVENT, TASK_WHO_RELATION, EVENT_WHO_RELATION)
}


# What Salesforce answers for an object the org does not have: describe NOT_FOUND, SOQL INVALID_TYPE.
MISSING_OBJECT_CODES = frozenset({"NOT_FOUND", "INVALID_TYPE"})


def missing_in_org(spec: SObjectSpec, error_code: str | None) -> str | None:
    """Why ``spec`` is skipped when Salesforce answered ``error_code`` for it, or None (a real error).

    Only objects that exist solely with Shared Activities are skipped this way; for any other
    object a missing type stays a failure.
    """
    if not spec.needs_shared_activities or error_code not in MISSING_OBJECT_CODES:
        return None
    return (
        f"{spec.name} does not exist in this org ({error_code}): Shared Activities is not enabled, so "
        f"activities have no {spec.name} rows and {spec.table} stays as it is; every contact of an "
        "activity is its WhoId. Enable Shared Activities in Salesforce Setup to sync it"
    )


def relation_specs() -> tuple[SObjectSpec, ...]:
    """The registered who relation objects (TaskWhoRelation, EventWhoRelation), in registry order."""
    return tuple(s for s in REGISTRY.values() if s.delete_handling == "relations")


def tables() -> dict[str, tuple[SObjectSpec, ...]]:
    """Target table -> the registry entries feeding it, sorted by table then object name.

    One table usually has one entry; Task and Event will share ``sf_activities``. The DAG
    factory builds one DAG per table, the models one Table per table.
    """
    grouped: dict[str, list[SObjectSpec]] = {}
    for spec in REGISTRY.values():
        grouped.setdefault(spec.table, []).append(spec)
    return {table: tuple(sorted(specs, key=lambda s: s.name)) for table, specs in sorted(grouped.items())}


def validate(specs: Iterable[SObjectSpec] | None = None) -> None:
    """Check the registry's invariants; raise ValueError naming the object and field at fault."""
    specs = tuple(REGISTRY.values()) if specs is None else tuple(specs)
    dag_ids: dict[str, str] = {}
    for spec in specs:
        check_spec(spec)
        if dag_ids.setdefault(spec.resolved_dag_id, spec.table) != spec.table:
            raise ValueError(
                f"registry entry {spec.name!r}: dag_id {spec.resolved_dag_id!r} already used by another table"
            )


def get_object(name: str) -> SObjectSpec:
    """The registry entry for a Salesforce object name (case-insensitive)."""
    for spec in REGISTRY.values():
        if spec.name.lower() == name.lower():
            return spec
    known = ", ".join(sorted(REGISTRY))
    raise KeyError(f"Salesforce object {name!r} is not in the registry (known: {known})")
