"""The extract operators' runtime drift guard: removed fields leave the SOQL, new ones are reported."""

from __future__ import annotations

import logging

import pytest

from salesforce_elt.engine.registry import get_object
from salesforce_elt.engine.soql import build_spec_select
from salesforce_elt.ops import drift
from salesforce_emulator.objects import Field
from tests.support.describe import drifted_describe as describe


def test_in_sync_object_is_extracted_unchanged():
    contact = get_object("Contact")
    spec, report = drift.guard(contact, describe("Contact"))
    assert spec == contact
    assert report == {"dropped_fields": [], "new_fields": [], "changed_fields": []}


def test_removed_field_leaves_the_select_list_with_a_warning(caplog):
    contact = get_object("Contact")
    with caplog.at_level(logging.WARNING):
        spec, report = drift.guard(contact, describe("Contact", remove=["NPI__c"]))
    assert report["dropped_fields"] == ["NPI__c"]
    assert "NPI__c" not in spec.soql_fields
    assert "NPI__c" not in build_spec_select(spec)
    assert [f for f in contact.soql_fields if f != "NPI__c"] == list(spec.soql_fields)
    assert "no longer has NPI__c" in caplog.text


def test_new_field_is_reported_not_ignored(caplog):
    contact = get_object("Contact")
    with caplog.at_level(logging.WARNING):
        spec, report = drift.guard(contact, describe("Contact", add=[Field("Region__c", "string", length=40, custom=True)]))
    assert report["new_fields"] == ["Region__c"]
    assert spec == contact
    assert "Region__c" in caplog.text and "add-fields" in caplog.text


def test_compound_keeps_its_remaining_components():
    contact = get_object("Contact")
    spec = drift.without_fields(contact, ["MailingLatitude"])
    mailing = next(f for f in spec.fields if f.column == "mailing_address")
    assert "MailingLatitude" not in mailing.soql_fields
    assert "MailingCity" in mailing.soql_fields


def test_losing_the_key_or_cursor_is_a_clear_error():
    with pytest.raises(ValueError, match="Contact: Salesforce no longer reports Id or SystemModstamp"):
        drift.without_fields(get_object("Contact"), ["SystemModstamp"])
