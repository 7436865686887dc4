"""An independent simple-salesforce REST client for the emulated org (the tests' reader, not the pipeline's)."""

from __future__ import annotations

from contextlib import contextmanager

from salesforce_emulator.client import simple_salesforce_client


def rest_client(org):
    """simple-salesforce on its own session trusting the emulator's CA, token via client credentials."""
    return simple_salesforce_client(org.connection_info)


@contextmanager
def rest_session(org):
    """``rest_client(org)`` for the block; its HTTP session is closed afterwards."""
    client = rest_client(org)
    try:
        yield client
    finally:
        client.session.close()
