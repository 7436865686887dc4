"""Describe JSON as the emulator's metadata layer prints it (no server needed), with drift applied."""

from __future__ import annotations

from collections.abc import Sequence

from salesforce_emulator.objects import Field, Schema


def drifted_describe(object_name: str, *, add: Sequence[Field] = (), remove: Sequence[str] = ()) -> dict:
    """``GET /sobjects/<object_name>/describe`` of the emulator's schema with fields added and removed."""
    schema = Schema()
    for f in add:
        schema.add_field(object_name, f)
    for name in remove:
        schema.remove_field(object_name, name)
    return schema.describe(schema.objects[object_name])
