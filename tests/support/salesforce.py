"""An independent simple-salesforce REST client for the emulated org (the tests' reader, not the pipeline's)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime

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


def wait_for_the_next_second() -> None:
    """Let the second in progress end before a manual run starts.

    A manual run's window ends at the whole second it starts in (records of the second in
    progress belong to the next run). A test that changes the org and triggers a run at once
    would otherwise, on a fast machine, rightly see its changes left out.
    """
    time.sleep(1 - datetime.now(UTC).microsecond / 1_000_000)
