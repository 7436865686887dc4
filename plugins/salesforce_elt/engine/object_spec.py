"""The types a registry entry is made of (registry.py holds the entries): the object, its fields,
its derived columns, and the checks one entry must pass."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

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


def check_spec(spec: SObjectSpec) -> None:
    """One entry's invariants; raise ValueError naming the object and field at fault."""
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
