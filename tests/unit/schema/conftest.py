"""Describe JSON as the emulator's metadata layer prints it (no server needed), with drift applied."""

from __future__ import annotations

import pytest

from tests.support.describe import drifted_describe


@pytest.fixture
def describe_of():
    """describe_of("Contact", add=[make_field(...)], remove=["Department"]) -> describe JSON."""
    return drifted_describe
