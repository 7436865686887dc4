"""The emulated org's metadata: objects, fields, types, picklists, references, compound fields.

Builds the global describe (``GET /sobjects``) and per-object describe
(``GET /sobjects/X/describe``) JSON. Field lists follow the order a real org's describe uses
closely enough for clients that iterate them; the per-field keys are the full set a real
describe returns (about 60), with realistic values.

A ``Schema`` is a per-org copy of the base metadata so that schema drift (``add_field`` /
``remove_field``) can change one org without touching another.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# --- field types -------------------------------------------------------------------------------

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "combobox": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "encryptedstring": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "long": "xsd:long",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "base64": "xsd:base64Binary",
    "address": "urn:address",
    "location": "urn:location",
    "anyType": "xsd:anyType",
    "complexvalue": "urn:JsonNode",
}

TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url", "encryptedstring"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})
COMPOUND_TYPES = frozenset({"address", "location"})

# The address JSON object's keys, in the order Salesforce emits them, and the component suffix
# that feeds each key (MailingStreet -> street, ...).
ADDRESS_KEYS = (
    ("city", "City"),
    ("country", "Country"),
    ("geocodeAccuracy", "GeocodeAccuracy"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("postalCode", "PostalCode"),
    ("state", "State"),
    ("street", "Street"),
)

GEOCODE_ACCURACY = ("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "Neighborhood",
                    "City", "County", "State", "Unknown")

# The polymorphic "Name" entity a polymorphic lookup (Who, What, Owner on activities, Relation)
# resolves to in SOQL: only these fields can follow it (Who.Name, Who.Type, ...).
NAME_ENTITY_FIELDS = ("Id", "Name", "Type", "FirstName", "LastName", "Email", "Phone", "Title", "Alias",
                      "Username", "IsActive")


def sql_affinity(ftype: str) -> str:
    if ftype in ("boolean", "int", "long"):
        return "INTEGER"
    if ftype in ("double", "currency", "percent"):
        return "REAL"
    return "TEXT"


@dataclass
class Field:
    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    custom: bool = False
    calculated: bool = False
    formula: str | None = None          # calculatedFormula
    formula_sql: str | None = None      # SQLite expression template, "{t}" = the row's table alias
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    compound: str | None = None         # compoundFieldName
    picklist: tuple[str, ...] = ()
    picklist_default: str | None = None
    restricted: bool = False
    default: Any = None
    createable: bool = True
    updateable: bool = True
    filterable: bool = True
    sortable: bool = True
    groupable: bool = True
    external_id: bool = False
    unique: bool = False
    name_field: bool = False
    id_lookup: bool = False
    help: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = _label_from_name(self.name)

    # -- classification used by the query layer --
    @property
    def is_compound(self) -> bool:
        return self.type in COMPOUND_TYPES

    @property
    def is_physical(self) -> bool:
        """Has its own column in the object's table."""
        return not self.is_compound and not self.formula_sql

    @property
    def polymorphic(self) -> bool:
        return self.type == "reference" and len(self.reference_to) > 1

    def describe(self) -> dict:
        t = self.type
        text = t in TEXT_TYPES or t in ID_TYPES
        byte_length = self.length * 3 if t in TEXT_TYPES else (18 if t in ID_TYPES else 0)
        boolean = t == "boolean"
        numeric_or_date = t in NUMBER_TYPES or t in ("date", "datetime", "time")
        filterable = self.filterable and t not in ("textarea",) and not self.is_compound
        if t == "textarea" and self.length <= 255:
            filterable = self.filterable  # short text areas are filterable; long ones are not
        sortable = self.sortable and filterable and t != "multipicklist"
        groupable = self.groupable and sortable and t not in ("double", "currency", "percent", "datetime")
        picklist_values = [
            {"active": True, "defaultValue": v == self.picklist_default, "label": v, "validFor": None, "value": v}
            for v in self.picklist
        ]
        return {
            "aggregatable": filterable and not boolean,
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": byte_length,
            "calculated": self.calculated,
            "calculatedFormula": self.formula,
            "cascadeDelete": False,
            "caseSensitive": t == "id",
            "compoundFieldName": self.compound,
            "controllerName": None,
            "createable": self.createable and not self.calculated,
            "custom": self.custom,
            "defaultValue": self.default,
            "defaultValueFormula": None,
            "defaultedOnCreate": boolean or self.name in ("OwnerId", "IsDeleted", "CreatedDate"),
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": t in ("location",),
            "encrypted": t == "encryptedstring",
            "externalId": self.external_id,
            "extraTypeInfo": self.extra.get("extraTypeInfo"),
            "filterable": filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": self.calculated and t in NUMBER_TYPES,
            "groupable": groupable,
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup or t == "id",
            "inlineHelpText": self.help,
            "label": self.label,
            "length": self.length if (text or t == "textarea") else 0,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": self.polymorphic,
            "nillable": self.nillable,
            "permissionable": self.nillable and not self.calculated and t != "id" and self.custom,
            "picklistValues": picklist_values,
            "polymorphicForeignKey": self.polymorphic,
            "precision": self.precision if numeric_or_date or t in COMPOUND_TYPES else 0,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "searchPrefilterable": t == "reference",
            "soapType": SOAP_TYPES.get(t, "xsd:string"),
            "sortable": sortable,
            "type": t,
            "unique": self.unique,
            "updateable": self.updateable and not self.calculated,
            "writeRequiresMasterRead": False,
        }


def _label_from_name(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    out = []
    for i, ch in enumerate(base.replace("_", " ")):
        if ch.isupper() and i and base[i - 1].islower():
            out.append(" ")
        out.append(ch)
    return "".join(out).replace("  ", " ").strip()


# --- field constructors (keep the object tables below readable) ---------------------------------

def _id() -> Field:
    return Field("Id", "id", "Record ID", length=18, nillable=False, createable=False, updateable=False)


def _str(name: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, "string", length=length, **kw)


def _text(name: str, length: int = 32000, **kw: Any) -> Field:
    return Field(name, "textarea", length=length, **kw)


def _pick(name: str, values: tuple[str, ...], length: int = 255, **kw: Any) -> Field:
    return Field(name, "picklist", length=length, picklist=values, **kw)


def _multi(name: str, values: tuple[str, ...], length: int = 4099, **kw: Any) -> Field:
    return Field(name, "multipicklist", length=length, picklist=values, **kw)


def _bool(name: str, default: bool = False, **kw: Any) -> Field:
    return Field(name, "boolean", nillable=False, default=default, **kw)


def _ref(name: str, targets: tuple[str, ...], rel: str | None, **kw: Any) -> Field:
    return Field(name, "reference", length=18, reference_to=targets, relationship_name=rel, **kw)


def _dt(name: str, **kw: Any) -> Field:
    return Field(name, "datetime", **kw)


def _date(name: str, **kw: Any) -> Field:
    return Field(name, "date", **kw)


def _int(name: str, digits: int = 9, **kw: Any) -> Field:
    return Field(name, "int", digits=digits, **kw)


def _dbl(name: str, precision: int = 18, scale: int = 2, ftype: str = "double", **kw: Any) -> Field:
    return Field(name, ftype, precision=precision, scale=scale, **kw)


def _address(prefix: str, compound: str, label: str) -> list[Field]:
    """The components of an address compound plus the compound itself (components first, as a
    real describe lists them). Without a label prefix (Lead, User) the components are "Street",
    "City", ... and the compound " Address" (as it always was here: describe output stays as is)."""
    fields = [
        _text(f"{prefix}Street", 255, label=f"{label} Street", compound=compound),
        _str(f"{prefix}City", 40, label=f"{label} City", compound=compound),
        _str(f"{prefix}State", 80, label=f"{label} State/Province", compound=compound),
        _str(f"{prefix}PostalCode", 20, label=f"{label} Zip/Postal Code", compound=compound),
        _str(f"{prefix}Country", 80, label=f"{label} Country", compound=compound),
        _dbl(f"{prefix}Latitude", 18, 15, label=f"{label} Latitude", compound=compound),
        _dbl(f"{prefix}Longitude", 18, 15, label=f"{label} Longitude", compound=compound),
        _pick(f"{prefix}GeocodeAccuracy", GEOCODE_ACCURACY, 40, label=f"{label} Geocode Accuracy",
              compound=compound, restricted=True),
        Field(compound, "address", label=f"{label} Address", createable=False, updateable=False,
              groupable=False, sortable=False, filterable=False),
    ]
    for f in fields[:-1]:
        f.label = f.label.strip()
    return fields


def _person_name(*, salutation: bool = True) -> list[Field]:
    """LastName, FirstName (and Salutation): the components of the Name compound, then Name."""
    return [
        _str("LastName", 80, label="Last Name", nillable=False, compound="Name"),
        _str("FirstName", 40, label="First Name", compound="Name"),
        *([_pick("Salutation", SALUTATIONS, 40, compound="Name")] if salutation else []),
        _str("Name", 121, label="Full Name", createable=False, updateable=False, name_field=True),
    ]


def _master_record(object_name: str) -> Field:
    """The record a merge kept (set by Salesforce on the merged-away records)."""
    return _ref("MasterRecordId", (object_name,), "MasterRecord", label="Master Record ID", createable=False,
                updateable=False)


def _last_activity() -> Field:
    return _date("LastActivityDate", label="Last Activity", createable=False, updateable=False)


def _read_only(fields: list[Field]) -> list[Field]:
    for f in fields:
        f.createable = False
        f.updateable = False
    return fields


def _system(with_is_deleted: bool = True) -> tuple[list[Field], list[Field]]:
    """(IsDeleted, [CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp])."""
    head = [_bool("IsDeleted", label="Deleted", createable=False, updateable=False)] if with_is_deleted else []
    tail = [
        _dt("CreatedDate", label="Created Date", nillable=False, createable=False, updateable=False),
        _ref("CreatedById", ("User",), "CreatedBy", label="Created By ID", nillable=False, createable=False,
             updateable=False),
        _dt("LastModifiedDate", label="Last Modified Date", nillable=False, createable=False, updateable=False),
        _ref("LastModifiedById", ("User",), "LastModifiedBy", label="Last Modified By ID", nillable=False,
             createable=False, updateable=False),
        _dt("SystemModstamp", label="System Modstamp", nillable=False, createable=False, updateable=False),
    ]
    return head, tail


# --- objects -----------------------------------------------------------------------------------

@dataclass
class SObject:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: list[Field]
    bulk_supported: bool = True
    query_all_supported: bool = True
    replicateable: bool = True
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    activity: bool = False     # Task/Event: IsArchived rows are queryAll-only
    custom: bool = False
    # Stored as a SQLite view over another object's table (TaskRelation over TaskWhoRelation):
    # the storage object, and the SQL value of each field that table lacks.
    view_of: str | None = None
    view_values: dict[str, str] = field(default_factory=dict)
    view_where: str | None = None  # the storage rows the view shows (SQL over its columns)
    _by_lower: dict[str, Field] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self._by_lower = {f.name.lower(): f for f in self.fields}

    def field(self, name: str) -> Field | None:
        return self._by_lower.get(name.lower())

    def relationship(self, rel_name: str) -> Field | None:
        low = rel_name.lower()
        for f in self.fields:
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    @property
    def has_is_deleted(self) -> bool:
        return "isdeleted" in self._by_lower

    @property
    def physical_fields(self) -> list[Field]:
        return [f for f in self.fields if f.is_physical]

    def urls(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def global_entry(self, version: str) -> dict:
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": self.name in ("Account", "Contact", "Lead", "User"),
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": self.name not in WHO_RELATION_VIEWS,
            "mergeable": self.name in ("Account", "Contact", "Lead"),
            "mruEnabled": self.name not in WHO_RELATION_VIEWS,
            "name": self.name,
            "queryable": True,
            "replicateable": self.replicateable,
            "retrieveable": True,
            "searchable": self.name not in WHO_RELATION_VIEWS,
            "triggerable": self.name not in WHO_RELATION_VIEWS,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }


CHILD_RELATIONSHIP_NAMES = {
    ("Contact", "AccountId"): "Contacts",
    ("Task", "WhatId"): "Tasks",
    ("Task", "WhoId"): "Tasks",
    ("Task", "AccountId"): None,
    ("Event", "WhatId"): "Events",
    ("Event", "WhoId"): "Events",
    ("Account", "ParentId"): "ChildAccounts",
    ("Contact", "ReportsToId"): None,
    ("TaskWhoRelation", "TaskId"): "TaskWhoRelations",
    ("TaskWhoRelation", "RelationId"): "TaskWhoRelations",
    ("TaskRelation", "TaskId"): "TaskRelations",
    ("TaskRelation", "RelationId"): "TaskRelations",
    ("EventWhoRelation", "EventId"): "EventWhoRelations",
    ("EventWhoRelation", "RelationId"): "EventWhoRelations",
    ("EventRelation", "EventId"): "EventRelations",
    ("EventRelation", "RelationId"): "EventRelations",
    ("User", "ManagerId"): "ManagedUsers",
    ("Lead", "ConvertedContactId"): None,
    ("Lead", "ConvertedAccountId"): None,
}

WHAT_TARGETS = ("Account", "Asset", "Campaign", "Case", "Contract", "Opportunity", "Order", "Product2",
                "Quote", "Solution")

SPECIALTIES = ("Cardiology", "Dermatology", "Family Medicine", "Internal Medicine", "Neurology", "Oncology",
               "Pediatrics", "Psychiatry", "Radiology", "Surgery")
LANGUAGES = ("English", "Spanish", "French", "German", "Mandarin", "Arabic")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")
INDUSTRIES = ("Agriculture", "Banking", "Biotechnology", "Chemicals", "Education", "Energy", "Healthcare",
              "Insurance", "Manufacturing", "Retail", "Technology", "Telecommunications")


def _contact() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(), *is_deleted,
        _master_record("Contact"),
        _ref("AccountId", ("Account",), "Account", label="Account ID"),
        *_person_name(),
        *_address("Other", "OtherAddress", "Other"),
        *_address("Mailing", "MailingAddress", "Mailing"),
        Field("Phone", "phone", label="Business Phone", length=40),
        Field("MobilePhone", "phone", label="Mobile Phone", length=40),
        _ref("ReportsToId", ("Contact",), "ReportsTo", label="Reports To ID"),
        Field("Email", "email", length=80, id_lookup=True),
        _str("Title", 128),
        _str("Department", 80),
        _pick("LeadSource", LEAD_SOURCES, label="Lead Source"),
        _date("Birthdate"),
        _ref("OwnerId", ("User",), "Owner", label="Owner ID", nillable=False),
        _bool("HasOptedOutOfEmail", label="Email Opt Out"),
        _bool("DoNotCall", label="Do Not Call"),
        *system,
        _last_activity(),
        _str("NPI__c", 20, label="NPI", custom=True, external_id=True, unique=True, id_lookup=True,
             help="10-digit National Provider Identifier"),
        _pick("Specialty__c", SPECIALTIES, label="Specialty", custom=True),
        _bool("Is_Physician__c", label="Is Physician", custom=True),
        _multi("Languages__c", LANGUAGES, label="Languages", custom=True),
        _str("Full_Name_Formula__c", 1300, label="Full Name (Formula)", custom=True, calculated=True,
             formula="FirstName & ' ' & LastName",
             formula_sql="TRIM(COALESCE({t}.\"FirstName\", '') || ' ' || COALESCE({t}.\"LastName\", ''))"),
        # Changes every day without touching SystemModstamp: the classic formula-field trap for
        # incremental replication.
        _dbl("Days_Since_Created__c", 18, 0, label="Days Since Created", custom=True, calculated=True,
             formula="TODAY() - DATEVALUE(CreatedDate)",
             formula_sql="CAST(julianday('now') - julianday(substr({t}.\"CreatedDate\", 1, 10)) AS INTEGER)"),
    ]
    return SObject("Contact", "Contact", "Contacts", "003", fields)


def _account() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(), *is_deleted,
        _master_record("Account"),
        _str("Name", 255, label="Account Name", nillable=False, name_field=True),
        _pick("Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
              label="Account Type"),
        _ref("ParentId", ("Account",), "Parent", label="Parent Account ID"),
        *_address("Billing", "BillingAddress", "Billing"),
        Field("Phone", "phone", label="Account Phone", length=40),
        Field("Website", "url", length=255),
        _pick("Industry", INDUSTRIES),
        _dbl("AnnualRevenue", 18, 0, ftype="currency", label="Annual Revenue"),
        _int("NumberOfEmployees", 8, label="Employees"),
        _text("Description", 32000, label="Account Description"),
        _ref("OwnerId", ("User",), "Owner", label="Owner ID", nillable=False),
        *system,
        _last_activity(),
    ]
    return SObject("Account", "Account", "Accounts", "001", fields)


def _lead() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(), *is_deleted,
        _master_record("Lead"),
        *_person_name(),
        _str("Title", 128),
        _str("Company", 255, nillable=False),
        *_address("", "Address", ""),
        Field("Phone", "phone", length=40),
        Field("MobilePhone", "phone", label="Mobile Phone", length=40),
        Field("Email", "email", length=80),
        Field("Website", "url", length=255),
        _pick("LeadSource", LEAD_SOURCES, label="Lead Source"),
        _pick("Status", ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                         "Closed - Not Converted"), label="Status", nillable=False,
              picklist_default="Open - Not Contacted"),
        _pick("Industry", INDUSTRIES),
        _pick("Rating", ("Hot", "Warm", "Cold")),
        _ref("OwnerId", ("User",), "Owner", label="Owner ID", nillable=False),
        _bool("IsConverted", label="Converted", createable=False, updateable=False),
        _date("ConvertedDate", label="Converted Date", createable=False, updateable=False),
        _ref("ConvertedAccountId", ("Account",), "ConvertedAccount", label="Converted Account ID",
             createable=False, updateable=False),
        _ref("ConvertedContactId", ("Contact",), "ConvertedContact", label="Converted Contact ID",
             createable=False, updateable=False),
        *system,
        _last_activity(),
    ]
    return SObject("Lead", "Lead", "Leads", "00Q", fields)


def _user() -> SObject:
    _, system = _system(with_is_deleted=False)
    fields = [
        _id(),
        _str("Username", 80, nillable=False, unique=True, id_lookup=True),
        *_person_name(salutation=False),
        _str("CompanyName", 80, label="Company Name"),
        _str("Division", 80),
        _str("Department", 80),
        _str("Title", 80),
        *_address("", "Address", ""),
        Field("Email", "email", length=128, nillable=False),
        _str("Alias", 8, nillable=False),
        _bool("IsActive", default=True, label="Active"),
        _pick("TimeZoneSidKey", ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris",
                                 "Asia/Shanghai", "Australia/Sydney"), 40, label="Time Zone",
              nillable=False, restricted=True),
        _pick("LocaleSidKey", ("en_US", "en_GB", "fr_FR", "de_DE", "zh_CN"), 40, label="Locale",
              nillable=False, restricted=True),
        _ref("UserRoleId", ("UserRole",), "UserRole", label="Role ID"),
        _ref("ProfileId", ("Profile",), "Profile", label="Profile ID", nillable=False),
        _pick("UserType", ("Standard", "PowerPartner", "CsnOnly", "Guest", "AutomatedProcess"), 40,
              label="User Type", createable=False, updateable=False, restricted=True),
        _ref("ManagerId", ("User",), "Manager", label="Manager ID"),
        _dt("LastLoginDate", label="Last Login", createable=False, updateable=False),
        *system,
    ]
    return SObject("User", "User", "Users", "005", fields, deletable=False)


TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TASK_SUBTYPES = ("Task", "Email", "Call", "ListEmail", "Cadence")


def _task() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(),
        _ref("WhoId", ("Contact", "Lead"), "Who", label="Name ID"),
        _ref("WhatId", WHAT_TARGETS, "What", label="Related To ID"),
        Field("Subject", "combobox", length=255,
              picklist=("Call", "Send Letter", "Send Quote", "Other", "Email")),
        _date("ActivityDate", label="Due Date Only"),
        _pick("Status", TASK_STATUSES, 40, nillable=False, picklist_default="Not Started"),
        _pick("Priority", ("High", "Normal", "Low"), 40, nillable=False, picklist_default="Normal"),
        _bool("IsHighPriority", label="High Priority", createable=False, updateable=False),
        _ref("OwnerId", ("User",), "Owner", label="Assigned To ID", nillable=False),
        _text("Description", 32000, label="Comments"),
        *is_deleted,
        _ref("AccountId", ("Account",), "Account", label="Account ID", createable=False, updateable=False),
        _bool("IsClosed", label="Closed", createable=False, updateable=False),
        *system,
        _bool("IsArchived", label="Archived", createable=False, updateable=False),
        _int("CallDurationInSeconds", 8, label="Call Duration"),
        _pick("CallType", ("Internal", "Inbound", "Outbound"), 40, label="Call Type"),
        _str("CallDisposition", 255, label="Call Result"),
        _dt("ReminderDateTime", label="Reminder Date/Time"),
        _bool("IsReminderSet", label="Reminder Set"),
        _bool("IsRecurrence", label="Create Recurring Series of Tasks"),
        _pick("TaskSubtype", TASK_SUBTYPES, 40, label="Task Subtype", createable=True, updateable=False,
              restricted=True),
        _dt("CompletedDateTime", label="Completed Date/Time", createable=False, updateable=False),
    ]
    return SObject("Task", "Task", "Tasks", "00T", fields, activity=True)


def _event() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(),
        _ref("WhoId", ("Contact", "Lead"), "Who", label="Name ID"),
        _ref("WhatId", WHAT_TARGETS, "What", label="Related To ID"),
        Field("Subject", "combobox", length=255, picklist=("Call", "Email", "Meeting", "Send Letter/Quote",
                                                            "Other")),
        _str("Location", 255),
        _bool("IsAllDayEvent", label="All-Day Event"),
        _dt("ActivityDateTime", label="Due Date Time"),
        _date("ActivityDate", label="Due Date Only"),
        _int("DurationInMinutes", 8, label="Duration"),
        _dt("StartDateTime", label="Start Date Time"),
        _dt("EndDateTime", label="End Date Time"),
        _text("Description", 32000),
        _ref("AccountId", ("Account",), "Account", label="Account ID", createable=False, updateable=False),
        _ref("OwnerId", ("User",), "Owner", label="Assigned To ID", nillable=False),
        _pick("ShowAs", ("Busy", "OutOfOffice", "Free", "WorkingElsewhere"), 40, label="Show Time As",
              picklist_default="Busy"),
        *is_deleted,
        _bool("IsChild", label="Is Child", createable=False, updateable=False),
        _bool("IsPrivate", label="Private"),
        _bool("IsGroupEvent", label="Is Group Event", createable=False, updateable=False),
        *system,
        _bool("IsArchived", label="Archived", createable=False, updateable=False),
        _pick("EventSubtype", ("Event",), 40, label="Event Subtype", updateable=False, restricted=True),
    ]
    return SObject("Event", "Event", "Events", "00U", fields, activity=True)


def _task_who_relation() -> SObject:
    is_deleted, system = _system()
    fields = _read_only([
        _id(),
        _ref("RelationId", ("Contact", "Lead"), "Relation", label="Relation ID", createable=False,
             updateable=False, nillable=False),
        _ref("TaskId", ("Task",), "Task", label="Task ID", createable=False, updateable=False, nillable=False),
        _str("Type", 50, label="Type", createable=False, updateable=False),
        _ref("AccountId", ("Account",), "Account", label="Account ID", createable=False, updateable=False),
        *is_deleted,
        *system,
    ])
    # Queryable through the REST API only: not Bulk, not queryAll, not getUpdated/getDeleted.
    return SObject("TaskWhoRelation", "Task Relation", "Task Relations", "0RT", fields, bulk_supported=False,
                   query_all_supported=False, replicateable=False, createable=False, updateable=False,
                   deletable=False)


def _event_who_relation() -> SObject:
    is_deleted, system = _system()
    fields = _read_only([
        _id(),
        _ref("RelationId", ("Contact", "Lead"), "Relation", label="Relation ID", createable=False,
             updateable=False),
        _ref("EventId", ("Event",), "Event", label="Event ID", createable=False, updateable=False),
        _str("Type", 50, label="Type", createable=False, updateable=False),
        _ref("AccountId", ("Account",), "Account", label="Account ID", createable=False, updateable=False),
        *is_deleted,
        *system,
    ])
    # Object Reference "EventWhoRelation": "a filtered version of the EventRelation object; that is,
    # IsParent is true and IsWhat is false"; supported calls describeSObjects(), query(), retrieve().
    return SObject("EventWhoRelation", "Event Relation", "Event Relations", "0RE", fields, bulk_supported=False,
                   query_all_supported=False, replicateable=False, createable=False, updateable=False,
                   deletable=False, view_of="EventRelation",
                   view_values={"Type": "CASE substr(\"RelationId\", 1, 3) WHEN '003' THEN 'Contact' "
                                        "WHEN '00Q' THEN 'Lead' END"},
                   view_where='"IsParent" = 1 AND "IsWhat" = 0')


def _task_relation() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(),
        _ref("TaskId", ("Task",), "Task", label="Task ID", updateable=False),
        _ref("RelationId", ("Contact", "Lead", "Account", "Opportunity", "Case"), "Relation", label="Relation ID",
             updateable=False),
        _bool("IsWhat", label="Is What", updateable=False),
        _ref("AccountId", ("Account",), "Account", label="Account ID", createable=False, updateable=False),
        *is_deleted,
        *system,
    ]
    # Object Reference "TaskRelation": supported calls create(), delete(), describeSObjects(),
    # getDeleted(), getUpdated(), query(), queryAll(), retrieve(). TaskWhoRelation is its read-only
    # view of the who relations (same ids). The emulator models only those who relations.
    return SObject("TaskRelation", "Task Relation", "Task Relations", "0RT", fields, view_of="TaskWhoRelation",
                   view_values={"IsWhat": "0"}, updateable=False)


def _event_relation() -> SObject:
    is_deleted, system = _system()
    fields = [
        _id(),
        _ref("EventId", ("Event",), "Event", label="Event ID", updateable=False),
        _ref("RelationId", ("Contact", "Lead", "User", "Account", "Opportunity", "Case"), "Relation",
             label="Relation ID", updateable=False),
        _bool("IsWhat", label="Is What", updateable=False),
        _bool("IsParent", label="Is Parent"),
        _bool("IsInvitee", label="Is Invitee"),
        _pick("Status", ("New", "Declined", "Accepted", "Uninvited", "Maybe"), 40, label="Status"),
        _dt("RespondedDate", label="Response Date"),
        _str("Response", 255),
        _ref("AccountId", ("Account",), "Account", label="Account ID", createable=False, updateable=False),
        *is_deleted,
        *system,
    ]
    # Object Reference "EventRelation": getDeleted(), getUpdated(), queryAll() among its calls; it
    # exists with or without Shared Activities (invitees). A person who is both a related contact
    # and an invitee has one record with IsParent and IsInvitee true, so taking that contact off
    # the event keeps the record (IsParent false): it leaves EventWhoRelation without being in the
    # /deleted feed. The emulator models contacts (IsParent) and contact invitees, not What
    # relations, users or resources.
    return SObject("EventRelation", "Event Relation", "Event Relations", "0RE", fields)


# Objects that exist only when the org has Shared Activities enabled (Object Reference pages of
# TaskRelation, TaskWhoRelation, EventWhoRelation: "available only if you've enabled Shared
# Activities"); without it a query names them INVALID_TYPE and describe answers NOT_FOUND.
SHARED_ACTIVITIES_OBJECTS = ("TaskWhoRelation", "TaskRelation", "EventWhoRelation")
# Derived, read-only objects: no layouts, search, triggers or record types in their describe.
WHO_RELATION_VIEWS = ("TaskWhoRelation", "EventWhoRelation")

# Objects the Bulk API refuses (contract §4.6); only TaskWhoRelation and EventWhoRelation are
# modelled, the rest exist so that a Bulk query names them with INVALIDENTITY rather than INVALID_TYPE.
BULK_UNSUPPORTED = ("TaskWhoRelation", "EventWhoRelation", "AcceptedEventRelation", "DeclinedEventRelation",
                    "UndecidedEventRelation", "Attachment", "CaseStatus", "TaskStatus", "TaskPriority",
                    "RecentlyViewed")

OBJECT_ORDER = ("Account", "Contact", "Event", "EventRelation", "EventWhoRelation", "Lead", "Task", "TaskRelation",
                "TaskWhoRelation", "User")

_BUILDERS = {
    "Account": _account,
    "Contact": _contact,
    "Event": _event,
    "EventRelation": _event_relation,
    "EventWhoRelation": _event_who_relation,
    "Lead": _lead,
    "Task": _task,
    "TaskRelation": _task_relation,
    "TaskWhoRelation": _task_who_relation,
    "User": _user,
}


class Schema:
    """Per-org metadata (base objects + persisted drift)."""

    def __init__(self, *, shared_activities: bool = True) -> None:
        hidden = () if shared_activities else SHARED_ACTIVITIES_OBJECTS
        self.objects: dict[str, SObject] = {name: _BUILDERS[name]() for name in OBJECT_ORDER if name not in hidden}
        self._by_lower = {n.lower(): o for n, o in self.objects.items()}

    def copy(self) -> Schema:
        return copy.deepcopy(self)

    def get(self, name: str) -> SObject | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> SObject | None:
        for o in self.objects.values():
            if o.key_prefix == prefix:
                return o
        return None

    # -- drift --
    def add_field(self, object_name: str, f: Field) -> None:
        obj = self.objects[object_name]
        obj.fields.append(f)
        obj.reindex()

    def remove_field(self, object_name: str, field_name: str) -> None:
        obj = self.objects[object_name]
        obj.fields = [f for f in obj.fields if f.name.lower() != field_name.lower()]
        obj.reindex()

    # -- describe JSON --
    def describe_global(self, version: str = "59.0") -> dict:
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [self.objects[n].global_entry(version) for n in OBJECT_ORDER if n in self.objects],
        }

    def child_relationships(self, obj: SObject) -> list[dict]:
        out = []
        for child in self.objects.values():
            for f in child.fields:
                if f.type == "reference" and obj.name in f.reference_to and f.name not in (
                        "CreatedById", "LastModifiedById"):
                    out.append({
                        "cascadeDelete": child.name in WHO_RELATION_VIEWS or child.view_of is not None,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": CHILD_RELATIONSHIP_NAMES.get((child.name, f.name)),
                        "restrictedDelete": False,
                    })
        return out

    def describe(self, obj: SObject, version: str = "59.0") -> dict:
        entry = obj.global_entry(version)
        entry.update({
            "actionOverrides": [],
            "childRelationships": self.child_relationships(obj),
            "compactLayoutable": obj.name not in WHO_RELATION_VIEWS,
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [f.describe() for f in obj.fields],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [{
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {"layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts/"
                                   "012000000000000AAA"},
            }] if obj.name not in WHO_RELATION_VIEWS else [],
            "searchLayoutable": obj.name not in WHO_RELATION_VIEWS,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [{"label": "All " + obj.label_plural.lower(), "name": "everything"}],
        })
        return dict(sorted(entry.items()))


def make_field(name: str, field_type: str = "string", **attrs: Any) -> Field:
    """Build a Field for schema drift from describe-style attributes (``length``, ``label``,
    ``picklistValues`` as a list of values, ``referenceTo``, ...)."""
    mapping = {"referenceTo": "reference_to", "relationshipName": "relationship_name",
               "calculatedFormula": "formula", "externalId": "external_id", "inlineHelpText": "help",
               "restrictedPicklist": "restricted", "defaultValue": "default"}
    kw: dict[str, Any] = {}
    for k, v in attrs.items():
        if k == "picklistValues":
            kw["picklist"] = tuple(p["value"] if isinstance(p, dict) else p for p in v)
            continue
        key = mapping.get(k, k)
        if key == "reference_to":
            v = tuple(v)
        kw[key] = v
    if field_type in TEXT_TYPES and "length" not in kw:
        kw["length"] = 255
    if field_type == "boolean":
        kw.setdefault("nillable", False)
        kw.setdefault("default", False)
    kw.setdefault("custom", name.endswith("__c"))
    return Field(name, field_type, **kw)


def field_to_json(f: Field) -> dict:
    """Serialisable form of a drift field (persisted in the org file)."""
    return {
        "name": f.name, "type": f.type, "label": f.label, "length": f.length, "precision": f.precision,
        "scale": f.scale, "digits": f.digits, "nillable": f.nillable, "custom": f.custom,
        "picklist": list(f.picklist), "reference_to": list(f.reference_to),
        "relationship_name": f.relationship_name, "external_id": f.external_id, "unique": f.unique,
        "help": f.help, "restricted": f.restricted,
    }


def field_from_json(d: dict) -> Field:
    d = dict(d)
    d["picklist"] = tuple(d.get("picklist") or ())
    d["reference_to"] = tuple(d.get("reference_to") or ())
    return Field(**d)
