"""An independent simple-salesforce REST client for the emulated org (the tests' reader, not the pipeline's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from salesforce_emulator.client import simple_salesforce_client
from tests.support.waiting import wait_for

JOB_FINISHED = ("JobComplete", "Failed", "Aborted")


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


def wait_for_the_next_minute() -> None:
    """Let the minute in progress end: the /deleted feed covers a minute only once it is over."""
    time.sleep(61 - datetime.now(UTC).second)


def finished_job(job_info: Callable[[], dict[str, Any]], job_id: str, timeout: float = 20.0, interval: float = 0.05):
    """A Bulk 2.0 query job's info (``job_info()``, through a hook or raw HTTP) once it has finished."""
    return wait_for(
        f"Bulk job {job_id} to finish", lambda: (info := job_info())["state"] in JOB_FINISHED and info, timeout, interval
    )
