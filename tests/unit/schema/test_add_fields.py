"""Editing the registry source (on copies, never the real file) and choosing the fields to add."""

from __future__ import annotations

import difflib
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from salesforce_elt.engine import registry
from salesforce_elt.engine.registry import FieldSpec, address, location
from salesforce_elt.ops.cli import CliError
from salesforce_elt.ops.cli.schema import chosen_fields
from salesforce_elt.ops.schema.add_fields import (
    RegistryEditError,
    apply,
    field_spec_source,
    insert_fields,
    next_revision_id,
)
from salesforce_elt.ops.schema.describe import normalize
from salesforce_emulator.objects import make_field

REGISTRY_SOURCE = Path(registry.__file__).read_text(encoding="utf-8")
NEW = (
    FieldSpec("Region__c", "region", "string", length=40),
    FieldSpec("Score__c", "score", "percent", precision=5, scale=2, calculated=True),
    address("Billing", "billing_address"),
)


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while building the class
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_new_fields_land_at_the_end_of_the_entry_and_nothing_else_changes(tmp_path):
    edited = insert_fields(REGISTRY_SOURCE, "Contact", NEW)
    diff = [
        line for line in difflib.unified_diff(REGISTRY_SOURCE.splitlines(), edited.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '+        FieldSpec("Region__c", "region", "string", length=40),',
        '+        FieldSpec("Score__c", "score", "percent", precision=5, scale=2, calculated=True),',
        '+        address("Billing", "billing_address"),',
    ]
    copy = tmp_path / "registry.py"
    copy.write_text(edited)
    module = load_module(copy, "registry_copy_under_test")
    # The copy has its own FieldSpec class, so compare the values.
    assert [repr(f) for f in module.CONTACT.fields] == [repr(f) for f in (*registry.CONTACT.fields, *NEW)]
    module.validate()


def test_missing_trailing_comma_is_added_and_non_ascii_lines_are_safe():
    source = (
        'X = SObjectSpec(\n    name="Lead",  # prospects — not yet contacts\n    fields=(\n'
        '        FieldSpec("Name", "name", "string"),\n'
        '        FieldSpec("Company", "company", "string", length=255)  # “quoted”\n    ),\n)\n'
    )
    edited = insert_fields(source, "Lead", [FieldSpec("Region__c", "region", "string", length=40)])
    assert edited.splitlines()[4:6] == [
        '        FieldSpec("Company", "company", "string", length=255),  # “quoted”',
        '        FieldSpec("Region__c", "region", "string", length=40),',
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('X = SObjectSpec(name="Lead", fields=(FieldSpec("A", "a", "string"),))\n', "on a line of its own"),
        ('X = SObjectSpec(name="Lead", fields=FIELDS)\n', "not a literal, non-empty tuple"),
        ('X = SObjectSpec(name="Lead")\n', "has no fields= keyword"),
        ('X = SObjectSpec(name="Contact", fields=(\n    A,\n))\n', 'no SObjectSpec(name="Lead"'),
    ],
)
def test_sources_it_cannot_edit_are_refused_with_the_reason(source, message):
    with pytest.raises(RegistryEditError, match=message.replace("(", r"\(")):
        insert_fields(source, "Lead", [FieldSpec("B", "b", "string")])


@pytest.mark.parametrize(
    "spec",
    [
        FieldSpec("Region__c", "region", "string", length=40),
        FieldSpec("Amount__c", "amount", "currency", precision=18, scale=0),
        FieldSpec("Flag__c", "flag", "boolean", nullable=False, index=True),
        address("Other", "other_address"),
        location("Geo__c", "geo"),
        FieldSpec("Odd", "odd", "address", components=(("OddCity", "city"),)),
    ],
)
def test_field_spec_source_round_trips(spec):
    namespace = {"FieldSpec": FieldSpec, "address": address, "location": location}
    assert eval(field_spec_source(spec), namespace) == spec  # noqa: S307 - our own generated literal


def test_revision_ids_continue_the_numbering(tmp_path):
    assert next_revision_id(tmp_path) == "0001"
    (tmp_path / "0001_contacts.py").touch()
    (tmp_path / "0009_more.py").touch()
    (tmp_path / "README.py").touch()
    assert next_revision_id(tmp_path) == "0010"


def test_chosen_fields_explain_what_cannot_be_added(describe_of):
    raw = describe_of(
        "Contact",
        add=[make_field("Region__c", "string", length=40), make_field("Photo__c", "base64")],
    )
    obj = normalize(raw)
    assert chosen_fields(registry.CONTACT, obj, ["region__c", "Region__c"]) == [
        FieldSpec("Region__c", "region", "string", length=40)
    ]
    cases = {
        "NPI__c": "already in the registry",
        "Photo__c": "cannot be synced: base64",
        "MailingCity": "part of the compound MailingAddress",
        "Nope__c": "Salesforce has no field Contact.Nope__c",
    }
    for name, message in cases.items():
        with pytest.raises(CliError, match=message):
            chosen_fields(registry.CONTACT, obj, [name])


def test_failed_revision_puts_the_registry_back(tmp_path):
    """No alembic.ini in the target: autogenerate fails, and the edited registry is restored."""
    shutil.copytree(Path(registry.__file__).parents[3] / "plugins", tmp_path / "plugins",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    registry_copy = tmp_path / "plugins" / "salesforce_elt" / "engine" / "registry.py"
    before = registry_copy.read_bytes()
    with pytest.raises(RuntimeError, match="alembic revision --autogenerate failed: .*script_location"):
        apply(tmp_path, "Contact", NEW[:1], "add Contact fields Region__c")
    assert registry_copy.read_bytes() == before
    assert list((tmp_path / "migrations" / "versions").iterdir()) == []
