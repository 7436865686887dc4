"""A local Salesforce org on the wire (see README.md)."""

from __future__ import annotations

__all__ = ["EmulatorServer"]


def __getattr__(name: str):
    # Lazy, so `python -m salesforce_emulator mutate` and the data layer's own imports do not
    # pull in the HTTP server.
    if name == "EmulatorServer":
        from salesforce_emulator.server import EmulatorServer

        return EmulatorServer
    raise AttributeError(name)
