"""Describe JSON as the emulator's metadata layer prints it (no server needed), with drift applied."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from salesforce_emulator.objects import Field, Schema


@pytest.fixture
def describe_of():
    """describe_of("Contact", add=[make_field(...)], remove=["Department"]) -> describe JSON."""

    def build(object_name: str, *, add: Sequence[Field] = (), remove: Sequence[str] = ()) -> dict:
        schema = Schema()
        for f in add:
            schema.add_field(object_name, f)
        for name in remove:
            schema.remove_field(object_name, name)
        return schema.describe(schema.objects[object_name])

    return build
