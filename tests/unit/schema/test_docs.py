"""Markdown docs from a describe: groups, facts per field, mapped columns, exclusions."""

from __future__ import annotations

from dataclasses import replace

from salesforce_elt.engine.registry import CONTACT, FieldSpec
from salesforce_elt.ops.schema.describe import normalize
from salesforce_elt.ops.schema.docs import render, write
from salesforce_emulator.objects import make_field


def row(page: str, field: str) -> list[str]:
    [line] = [line for line in page.splitlines() if line.startswith(f"| `{field}` |")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def section(page: str, title: str) -> str:
    return page.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_registered_object_page(describe_of):
    added = [
        make_field("Photo__c", "base64"),
        make_field("Region__c", "string", length=40, label="Region | Zone"),
        make_field("Tier__c", "picklist", length=40, picklistValues=[f"T{i}" for i in range(20)]),
    ]
    page = render(normalize(describe_of("Contact", add=added)), CONTACT)
    assert page.startswith("# Contact\n")
    assert "Synced to `salesforce.sf_contacts` by DAG `salesforce_sync_contacts`" in page
    for title in ("Standard fields", "Custom fields", "Relationship fields", "System fields"):
        assert f"## {title} (" in page
    # field | label | type | size | nillable | references | picklist | formula | column | postgres type
    assert row(page, "NPI__c") == ["`NPI__c`", "NPI", "string", "20", "yes", "", "", "", "`npi`", "varchar(20)"]
    assert row(page, "Region__c")[1] == "Region \\| Zone"  # a pipe would break the table
    assert row(page, "Region__c")[8:] == ["`region` (proposed)", "varchar(40)"]
    assert row(page, "OwnerId")[4:6] == ["no", "User"]
    assert row(page, "Days_Since_Created__c")[3] == "18, 0" and row(page, "Days_Since_Created__c")[7] == "yes"
    assert row(page, "Tier__c")[6].endswith("T14, … 5 more")
    assert row(page, "MailingAddress")[8:] == ["`mailing_address`", "jsonb"]
    assert row(page, "MailingCity")[8] == "`mailing_address ->> 'city'`"
    assert row(page, "Id")[8] == "`salesforce_id`"
    assert row(page, "SystemModstamp")[9] == "timestamp with time zone"
    assert "`AccountId`" in section(page, "Relationship fields")
    assert "`CreatedById`" in section(page, "System fields")
    assert row(page, "Photo__c")[8].startswith("excluded: base64 fields (file bodies) are not synced")
    assert "- `Photo__c` (base64): base64 fields" in section(page, "Excluded fields")
    assert "`Full_Name_Formula__c`: `FirstName & ' ' & LastName`" in section(page, "Formula fields")


def test_registry_field_missing_from_salesforce_is_listed(describe_of):
    spec = replace(CONTACT, fields=(*CONTACT.fields, FieldSpec("Gone__c", "gone", "string", length=10)))
    page = render(normalize(describe_of("Contact", remove=["Department"])), spec)
    missing = section(page, "In the registry but not in Salesforce")
    assert "`Gone__c` -> `gone`" in missing and "`Department` -> `department`" in missing


def test_unregistered_object_gets_proposed_columns(describe_of):
    page = render(normalize(describe_of("Task")), None)
    assert "Not in the registry" in page
    assert row(page, "Description")[8:] == ["`description` (proposed)", "text"]
    assert row(page, "WhoId")[5] == "Contact, Lead"
    assert row(page, "CreatedDate")[8] == "`sf_created_date` (proposed)"  # the registry's convention


def test_output_is_stable_and_written_per_object(describe_of, tmp_path):
    obj = normalize(describe_of("Contact"))
    path = write(obj, CONTACT, tmp_path / "objects")
    assert path == tmp_path / "objects" / "Contact.md"
    assert path.read_text() == render(obj, CONTACT) == render(normalize(describe_of("Contact")), CONTACT)
