"""The one declarative registry of synced Salesforce objects.

Everything else is derived from it: the DAGs (dag_factory), the SQLAlchemy models (models),
the SOQL the extract operators send, the transform's column mapping and the docs. Adding an
object is one ``SObjectSpec`` entry here plus one reviewed Alembic migration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from salesforce_elt import activity, settings

Api = Literal["bulk", "rest"]
DeleteHandling = Literal["soft_and_hard", "soft", "none", "relations"]

# Salesforce describe type -> how the transform converts it and which Postgres type holds it.
# (types.py owns the full mapping; the registry only records the Salesforce type.)


@dataclass(frozen=True)
class FieldSpec:
    """One target column fed by one Salesforce field (or by an address/location compound)."""

    sf_name: str  # API name, canonical case, e.g. "NPI__c"; for compounds the compound name
    column: str  # snake_case target column, e.g. "npi"
    sf_type: str  # describe type: string, boolean, datetime, reference, address, ...
    length: int | None = None  # string-like types
    precision: int | None = None  # numeric types
    scale: int | None = None
    nullable: bool = True
    calculated: bool = False  # formula field: goes stale (a formula change does not bump SystemModstamp)
    index: bool = False
    # For sf_type "address"/"location": the component fields requested in SOQL (Bulk cannot select
    # compounds) and the JSON key each one becomes, in order.
    components: tuple[tuple[str, str], ...] = ()

    @property
    def soql_fields(self) -> tuple[str, ...]:
        """The Salesforce fields this column needs in the SELECT list."""
        if self.components:
            return tuple(sf for sf, _key in self.components)
        return (self.sf_name,)


def location(prefix: str, column: str) -> FieldSpec:
    """A Salesforce geolocation compound (``Foo__c`` -> ``Foo__Latitude__s``/``Foo__Longitude__s``)."""
    base = prefix.removesuffix("__c")
    return FieldSpec(
        sf_name=prefix,
        column=column,
        sf_type="location",
        components=((f"{base}__Latitude__s", "latitude"), (f"{base}__Longitude__s", "longitude")),
    )


def address(prefix: str, column: str) -> FieldSpec:
    """A Salesforce address compound (MailingAddress, OtherAddress, User.Address) as one jsonb column."""
    parts = (
        ("Street", "street"),
        ("City", "city"),
        ("State", "state"),
        ("PostalCode", "postalCode"),
        ("Country", "country"),
        ("Latitude", "latitude"),
        ("Longitude", "longitude"),
        ("GeocodeAccuracy", "geocodeAccuracy"),
    )
    return FieldSpec(
        sf_name=f"{prefix}Address",
        column=column,
        sf_type="address",
        components=tuple((f"{prefix}{part}", key) for part, key in parts),
    )


@dataclass(frozen=True)
class DerivedColumn:
    """A target column computed in the transform from other fields of the same record.

    ``compute`` gets the raw values of ``inputs`` (strings as extracted, "" for null) and returns
    the column's value as text, or None. The result is then checked by the column type's
    converter like any extracted value.
    """

    column: str
    sf_type: str  # the column's type, named like a describe type ("picklist", "int", ...)
    inputs: tuple[str, ...]  # Salesforce fields of the same entry
    compute: Callable[..., str | None]
    length: int | None = None
    index: bool = False
    description: str = ""

    def as_field(self) -> FieldSpec:
        """The column as a FieldSpec (what types.column_type and types.converter take)."""
        return FieldSpec(sf_name=self.column, column=self.column, sf_type=self.sf_type, length=self.length)


@dataclass(frozen=True)
class SObjectSpec:
    """How one Salesforce object is synced into one warehouse table."""

    name: str  # Salesforce object API name, e.g. "Contact"
    table: str  # target table (schema from settings), e.g. "sf_contacts"
    fields: tuple[FieldSpec, ...]
    key_prefix: str  # e.g. "003"; validates ids before they enter SOQL
    primary_key: str = "Id"
    key_column: str = "salesforce_id"
    cursor_field: str = "SystemModstamp"
    api: Api = "bulk"
    # queryAll returns soft-deleted (IsDeleted) and archived rows; TaskWhoRelation has no queryAll.
    query_all: bool = True
    # soft_and_hard: IsDeleted through queryAll + the /deleted feed for hard deletes;
    # none: the object is never deleted (User); relations: a who relation view (TaskWhoRelation),
    # removals from ``relation_feed``'s /deleted feed plus a re-read of changed parents.
    delete_handling: DeleteHandling = "soft_and_hard"
    schedule: str = "0 * * * *"  # cron, UTC, data intervals
    lookback: timedelta = timedelta(minutes=10)
    dag_id: str = ""  # every registry entry names it; defaults to salesforce_sync_<table without sf_>
    description: str = ""
    # Several registry entries may feed one table (Task + Event -> sf_activities): the constant
    # columns each entry writes, e.g. {"activity_kind": "task"}.
    constants: tuple[tuple[str, str], ...] = field(default=())
    # Columns computed in the transform from this entry's fields (Task/Event activity_type).
    derived: tuple[DerivedColumn, ...] = field(default=())
    # delete_handling "relations": the reference field naming the parent whose full relation set
    # is re-read when the parent changes, and the parent object, e.g. ("TaskId", "Task").
    relation_parent: tuple[str, str] | None = None
    # delete_handling "relations": the object the relation view is read from (same ids), whose
    # /deleted feed lists removed relations, e.g. "TaskRelation" for TaskWhoRelation.
    relation_feed: str | None = None
    # A SOQL condition on ``relation_feed`` records that still exist but left the view: they are
    # read by their SystemModstamp in the window and treated as removed (EventRelation
    # "IsParent = false": a contact taken off an event who stays invited keeps its one record).
    relation_left_where: str | None = None
    # Exists only in orgs with Shared Activities enabled: elsewhere its DAG ends skipped.
    needs_shared_activities: bool = False

    @property
    def relation_parent_column(self) -> str:
        """The target column of ``relation_parent``'s reference field (e.g. task_id)."""
        if self.relation_parent is None:
            raise KeyError(f"{self.name}: no relation_parent (delete_handling {self.delete_handling!r})")
        return next(f.column for f in self.fields if f.sf_name == self.relation_parent[0])

    @property
    def soql_fields(self) -> tuple[str, ...]:
        """SELECT list in order: the key first, compounds expanded into their components."""
        seen: dict[str, None] = {self.primary_key: None}
        for f in self.fields:
            for name in f.soql_fields:
                seen.setdefault(name, None)
        return tuple(seen)

    @property
    def resolved_dag_id(self) -> str:
        return self.dag_id or f"salesforce_sync_{self.table.removeprefix('sf_')}"

    @property
    def columns(self) -> tuple[str, ...]:
        """Target columns this entry writes: key, fields, derived columns, constants."""
        return (
            self.key_column,
            *(f.column for f in self.fields),
            *(d.column for d in self.derived),
            *(name for name, _ in self.constants),
        )

    @property
    def cursor_column(self) -> str:
        """The target column holding ``cursor_field`` (the upsert's "newer wins" comparison)."""
        for f in self.fields:
            if f.sf_name.lower() == self.cursor_field.lower():
                return f.column
        raise KeyError(f"{self.name}: cursor field {self.cursor_field!r} is not one of its fields")

    @property
    def has_is_deleted(self) -> bool:
        return any(f.column == "is_deleted" for f in self.fields)


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


_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED_COLUMNS = frozenset({"sync_run_id", "synced_at", "sf_deleted_at"})


def _validate_derived_and_relations(spec: SObjectSpec, where: str) -> None:
    selected = {name.lower() for name in spec.soql_fields}
    for d in spec.derived:
        missing = [name for name in d.inputs if name.lower() not in selected]
        if missing:
            raise ValueError(f"{where}: derived column {d.column} reads {missing}, which are not selected")
    if (spec.delete_handling == "relations") != (spec.relation_parent is not None):
        raise ValueError(f"{where}: relation_parent is required with delete_handling 'relations', and only then")
    if spec.relation_parent and not any(f.sf_name == spec.relation_parent[0] for f in spec.fields):
        raise ValueError(f"{where}: relation_parent field {spec.relation_parent[0]} is not one of its fields")
    if spec.relation_feed is not None and spec.delete_handling != "relations":
        raise ValueError(f"{where}: relation_feed is only for delete_handling 'relations'")
    if spec.relation_left_where is not None and spec.relation_feed is None:
        raise ValueError(f"{where}: relation_left_where needs a relation_feed to read")


def validate(specs: Iterable[SObjectSpec] | None = None) -> None:
    """Check the registry's invariants; raise ValueError naming the object and field at fault."""
    specs = tuple(REGISTRY.values()) if specs is None else tuple(specs)
    dag_ids: dict[str, str] = {}
    for spec in specs:
        where = f"registry entry {spec.name!r}"
        if len(spec.key_prefix) != 3:
            raise ValueError(f"{where}: key_prefix {spec.key_prefix!r} must be 3 characters")
        columns = spec.columns
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"{where}: duplicate target columns {duplicates}")
        for column in columns:
            if not _SNAKE.match(column) or len(column) > 63:
                raise ValueError(f"{where}: column {column!r} is not a snake_case Postgres identifier")
            if column in _RESERVED_COLUMNS:
                raise ValueError(f"{where}: column {column!r} is reserved for sync metadata")
        names = [spec.primary_key.lower(), *(n.lower() for f in spec.fields for n in f.soql_fields)]
        if len(names) != len(set(names)):
            raise ValueError(f"{where}: a Salesforce field is selected twice: {spec.soql_fields}")
        for f in spec.fields:
            if f.sf_type in ("address", "location") and not f.components:
                raise ValueError(f"{where}: compound field {f.sf_name} has no components")
            if f.sf_name.lower() == spec.primary_key.lower():
                raise ValueError(f"{where}: {f.sf_name} is the key; it is written to {spec.key_column}")
            if f.sf_type == "base64":
                raise ValueError(
                    f"{where}: {f.sf_name} is base64 (file bodies): not synced, Bulk 2.0 cannot read it"
                )
        _validate_derived_and_relations(spec, where)
        if not any(f.sf_name.lower() == spec.cursor_field.lower() for f in spec.fields):
            raise ValueError(f"{where}: cursor field {spec.cursor_field!r} is not one of its fields")
        if dag_ids.setdefault(spec.resolved_dag_id, spec.table) != spec.table:
            raise ValueError(f"{where}: dag_id {spec.resolved_dag_id!r} already used by another table")


def get_object(name: str) -> SObjectSpec:
    """The registry entry for a Salesforce object name (case-insensitive)."""
    for spec in REGISTRY.values():
        if spec.name.lower() == name.lower():
            return spec
    known = ", ".join(sorted(REGISTRY))
    raise KeyError(f"Salesforce object {name!r} is not in the registry (known: {known})")
