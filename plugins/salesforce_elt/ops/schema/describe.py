"""A Salesforce describe, normalized: the field facts the schema tools need, and FieldSpecs from them.

``normalize(describe_json)`` keeps the ~15 describe keys that matter out of ~60 and folds the
compound address/location fields with their components. ``field_spec(...)`` turns a described
field into the registry's ``FieldSpec`` — the same one a person would write by hand:

- string-like types keep their describe ``length`` (varchar(n), or text when long); ids and
  references keep 18; double/currency/percent keep ``precision``/``scale``;
- address/location compounds become one FieldSpec whose components are the describe fields
  naming it in ``compoundFieldName`` (one jsonb column);
- formula fields are ``calculated=True``;
- new columns are always nullable: the rows already in the warehouse have no value until the
  next sync, and field-level security can hide a value Salesforce calls required;
- base64 (and unknown types) raise ``UnsupportedFieldType`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from salesforce_elt.engine import registry, types
from salesforce_elt.engine.registry import FieldSpec, SObjectSpec

# Salesforce's audit fields: every object has them (User has no IsDeleted).
SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    }
)
LENGTH_TYPES = types.STRING_TYPES | types.ID_TYPES | {"multipicklist"}


@dataclass(frozen=True)
class DescribedField:
    """One field of a describe, with the keys the schema tools use."""

    name: str
    label: str
    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    digits: int | None = None
    nillable: bool = True
    custom: bool = False
    calculated: bool = False
    formula: str | None = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    compound_name: str | None = None  # compoundFieldName: the address/location (or Name) it belongs to
    picklist_values: tuple[str, ...] = ()  # active values, in describe order
    external_id: bool = False
    unique: bool = False

    @property
    def group(self) -> str:
        """standard, custom, relationship or system (how the docs group fields)."""
        if self.name in SYSTEM_FIELDS:
            return "system"
        if self.type == "reference":
            return "relationship"
        return "custom" if self.custom else "standard"

    @property
    def is_compound(self) -> bool:
        return self.type in types.COMPOUND_TYPES


@dataclass(frozen=True)
class DescribedObject:
    """One object's describe: top-level facts and its fields in describe order."""

    name: str
    label: str
    key_prefix: str | None
    custom: bool
    queryable: bool
    replicateable: bool
    fields: tuple[DescribedField, ...]

    def field(self, name: str) -> DescribedField | None:
        """A field by API name, case-insensitive (as Salesforce treats names)."""
        return self._by_lower().get(name.lower())

    def _by_lower(self) -> dict[str, DescribedField]:
        return {f.name.lower(): f for f in self.fields}

    def components(self, compound: DescribedField) -> tuple[DescribedField, ...]:
        """The fields of an address/location compound, in describe order."""
        return tuple(f for f in self.fields if f.compound_name == compound.name)

    def is_component(self, f: DescribedField) -> bool:
        """True for MailingStreet & co: covered by their compound's one column."""
        if not f.compound_name:
            return False
        parent = self.field(f.compound_name)
        return parent is not None and parent.is_compound


def _positive(value: Any) -> int | None:
    # Describe prints 0 for "not applicable" (length of a boolean, precision of a string).
    return int(value) if isinstance(value, int | float) and value > 0 else None


def normalize_field(raw: Mapping[str, Any], object_name: str = "?") -> DescribedField:
    try:
        name, field_type = raw["name"], raw["type"]
    except KeyError as exc:
        raise ValueError(
            f"{object_name}: a describe field has no {exc.args[0]!r}: {dict(raw)!r:.200}"
        ) from None
    picklist = tuple(p["value"] for p in raw.get("picklistValues") or () if p.get("active", True))
    return DescribedField(
        name=name,
        label=raw.get("label") or name,
        type=field_type,
        length=_positive(raw.get("length")),
        precision=_positive(raw.get("precision")),
        scale=int(raw.get("scale") or 0),
        digits=_positive(raw.get("digits")),
        nillable=bool(raw.get("nillable", True)),
        custom=bool(raw.get("custom", False)),
        calculated=bool(raw.get("calculated", False)),
        formula=raw.get("calculatedFormula") or None,
        reference_to=tuple(raw.get("referenceTo") or ()),
        relationship_name=raw.get("relationshipName") or None,
        compound_name=raw.get("compoundFieldName") or None,
        picklist_values=picklist,
        external_id=bool(raw.get("externalId", False)),
        unique=bool(raw.get("unique", False)),
    )


def normalize(describe_json: Mapping[str, Any]) -> DescribedObject:
    """``GET /sobjects/X/describe`` JSON -> DescribedObject (hidden, deprecated fields left out)."""
    name = describe_json.get("name")
    if not name or not isinstance(describe_json.get("fields"), list):
        raise ValueError(f"not an object describe (no name or fields): keys {sorted(describe_json)[:10]}")
    fields = tuple(
        normalize_field(raw, name) for raw in describe_json["fields"] if not raw.get("deprecatedAndHidden")
    )
    return DescribedObject(
        name=name,
        label=describe_json.get("label") or name,
        key_prefix=describe_json.get("keyPrefix"),
        custom=bool(describe_json.get("custom", False)),
        queryable=bool(describe_json.get("queryable", True)),
        replicateable=bool(describe_json.get("replicateable", True)),
        fields=fields,
    )


# ---- column names ---------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(sf_name: str) -> str:
    """A Salesforce API name as a Postgres column: NPI__c -> npi, HasOptedOutOfEmail -> has_opted_out_of_email."""
    base = re.sub(r"__(c|s)$", "", sf_name)
    words = _CAMEL_BOUNDARY.sub("_", base.replace("__", "_")).lower()
    column = re.sub(r"[^a-z0-9]+", "_", words).strip("_") or "field"
    if not column[0].isalpha():
        column = f"f_{column}"
    return column[:63]


def _registry_convention(sf_name: str, specs: Iterable[SObjectSpec]) -> str | None:
    # CreatedDate is sf_created_date everywhere: a name another entry already maps keeps its column.
    for spec in specs:
        for f in spec.fields:
            if f.sf_name.lower() == sf_name.lower():
                return f.column
    return None


def propose_column(sf_name: str, taken: Iterable[str] = ()) -> str:
    """The column a new field would get: the registry's convention for that name, else snake_case.

    ``taken`` are the columns already used in the target table; a clash gets a numeric suffix.
    """
    column = _registry_convention(sf_name, registry.REGISTRY.values()) or snake_case(sf_name)
    used = set(taken) | {"sync_run_id", "synced_at", "sf_deleted_at", "salesforce_id"}
    candidate, n = column, 2
    while candidate in used:
        candidate = f"{column[:60]}_{n}"
        n += 1
    return candidate


# ---- FieldSpec from a described field -------------------------------------------------------


def _component_key(compound: DescribedField, component: DescribedField) -> str:
    """MailingStreet -> street (of MailingAddress); Foo__Latitude__s -> latitude (of Foo__c)."""
    if compound.type == "address":
        prefix = compound.name.removesuffix("Address")
    else:
        prefix = compound.name.removesuffix("__c") + "__"
    part = component.name.removeprefix(prefix).removesuffix("__s")
    return part[:1].lower() + part[1:]


def field_spec(obj: DescribedObject, f: DescribedField, column: str) -> FieldSpec:
    """The registry FieldSpec for a described field (see the module docstring)."""
    if f.type in types.EXCLUDED_TYPES:
        raise types.UnsupportedFieldType(f"{obj.name}.{f.name}: {types.EXCLUDED_TYPES[f.type]}")
    components: tuple[tuple[str, str], ...] = ()
    if f.is_compound:
        components = tuple((c.name, _component_key(f, c)) for c in obj.components(f))
        if not components:
            raise types.UnsupportedFieldType(f"{obj.name}.{f.name}: compound field without component fields")
    spec = FieldSpec(
        sf_name=f.name,
        column=column,
        sf_type=f.type,
        length=(types.SALESFORCE_ID_LENGTH if f.type in types.ID_TYPES else f.length)
        if f.type in LENGTH_TYPES
        else None,
        precision=f.precision if f.type in types.DECIMAL_TYPES else None,
        scale=f.scale if f.type in types.DECIMAL_TYPES and f.precision else None,
        calculated=f.calculated,
        components=components,
    )
    if not components:
        types.column_type(spec)  # unknown describe types raise UnsupportedFieldType here
    return spec


def syncable_fields(obj: DescribedObject) -> tuple[DescribedField, ...]:
    """Fields that are their own column: everything but the key and compound components."""
    return tuple(f for f in obj.fields if f.type != "id" and not obj.is_component(f))
