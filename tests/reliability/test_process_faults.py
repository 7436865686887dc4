"""Issue 9, cases 4-6: a worker SIGKILLed mid-COPY or mid-extract, the warehouse restarted mid-load,
two loads of the same table at once.

This module's warehouse is the dedicated restartable server (``embedded_postgres``). Loads run in
child processes (a worker each) on a batch large enough that its COPY can be caught in
pg_stat_activity: every typed row repeated, which the upsert collapses to one row per key.
"""

from __future__ import annotations

import csv
import itertools
import signal
import threading
from pathlib import Path

import psycopg
import pytest

from tests.reliability.helpers import (
    advisory_waiters,
    assert_table_equals_emulator,
    backends_gone,
    copy_in_progress,
    create_database,
    drop_database,
    extract_operator,
    high_water_marks,
    load_task,
    repeated_batch,
    run_extract,
    start_child_extract,
    start_child_load,
    sync_runs,
    table_snapshot,
    task_context,
    transform,
)
from tests.support.waiting import wait_for

COPIES = 60  # ~90,000 rows: a COPY long enough to be seen
LOCK_KEY = "salesforce_elt:salesforce.sf_contacts"  # the loader's per-table advisory lock


@pytest.fixture(scope="module")
def warehouse_db(embedded_postgres):
    """Overrides the module's warehouse database: this module restarts its server."""
    url = create_database(embedded_postgres.url, "w_proc")
    yield url
    embedded_postgres.start()  # a failed case must not leave it stopped
    drop_database(embedded_postgres.url, url)


@pytest.fixture
def staged(empty_table, tmp_path):
    """A first partial load in the table (the state a kill must not disturb) and a big batch to load."""
    extracted = run_extract(extract_operator("bulk"), task_context("manual__stage", "extract"))
    transformed = transform(extracted, "manual__stage")
    typed = Path(transformed["typed_uri"].removeprefix("file://"))
    (tmp_path / "first").mkdir()
    with (
        (typed / transformed["typed_files"][0]).open(newline="", encoding="utf-8") as source,
        (tmp_path / "first" / "part-00000.csv").open("w", newline="", encoding="utf-8") as dest,
    ):
        csv.writer(dest, lineterminator="\n").writerows(itertools.islice(csv.reader(source), 1001))
    first_part = {
        **transformed,
        "typed_uri": f"file://{tmp_path / 'first'}",
        "typed_files": ["part-00000.csv"],
        "rows": 1000,
        # A partial batch must not move the mark, nor flag the rows it lacks as deleted.
        "window": {**transformed["window"], "advances_high_water_mark": False, "full_refresh": False},
    }
    load_task(first_part, "manual__first")
    return transformed, repeated_batch(transformed, COPIES, tmp_path / "big")


def test_worker_killed_mid_copy_leaves_no_partial_rows_and_the_retry_completes(empty_table, staged):
    url = empty_table.warehouse
    _transformed, big = staged
    before, marks_before, runs_before = table_snapshot(url), high_water_marks(url), sync_runs(url)
    assert len(before) == 1000

    child = start_child_load(big, "manual__killed")
    backend = wait_for("the load's COPY", lambda: copy_in_progress(url), interval=0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    wait_for("the dead worker's backend to roll back", lambda: backends_gone(url, backend), interval=0.02)

    assert table_snapshot(url) == before  # one transaction: not one row of the killed load
    assert high_water_marks(url) == marks_before and sync_runs(url) == runs_before

    retry = start_child_load(big, "manual__killed")
    output, _ = retry.communicate(timeout=300)
    assert retry.returncode == 0, output[-3000:]
    assert_table_equals_emulator(url, empty_table.org)
    assert sync_runs(url)[-1][0] == "success"


def test_worker_killed_mid_extract_never_has_its_files_loaded(empty_table):
    org, url = empty_table.org, empty_table.warehouse
    org.faults.set(latency_ms=1500)  # slow pages: the kill lands between the first and second page
    child = start_child_extract("manual__extract_killed", "rest")
    staging = Path(empty_table.staging.removeprefix("file://"))
    dead_raw = staging / "salesforce_sync_contacts/manual__extract_killed/Contact/extract/try-1/raw"
    wait_for("the first part file", lambda: (dead_raw / "part-00000.csv").exists(), interval=0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    org.faults.clear()

    extracted = run_extract(extract_operator("rest"), task_context("manual__extract_killed", "extract", 2))
    assert extracted["raw_uri"].endswith("/try-2/raw")
    result = load_task(transform(extracted, "manual__extract_killed", 2), "manual__extract_killed", 2)
    # Only the retry's rows were copied: the dead attempt's part file was never read.
    assert result["total_processed"] == extracted["records"] == result["new_records"]
    assert (dead_raw / "part-00000.csv").exists()
    assert_table_equals_emulator(url, org)


def test_warehouse_restart_mid_load_fails_cleanly_and_the_retry_succeeds(
    empty_table, staged, embedded_postgres
):
    url = empty_table.warehouse
    _transformed, big = staged
    before = table_snapshot(url)
    failure: list[BaseException] = []

    def load() -> None:
        try:
            load_task(big, "manual__restarted")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    wait_for("the load's COPY", lambda: copy_in_progress(url), interval=0.02)
    embedded_postgres.restart()
    worker.join(120)

    assert failure, "the load went on through a warehouse restart"
    message = f"{type(failure[0]).__name__}: {failure[0]}"
    assert "connection" in message.lower() or "terminat" in message.lower(), message
    assert table_snapshot(url) == before  # no partial commit

    load_task(big, "manual__restarted", try_number=2)
    assert_table_equals_emulator(url, empty_table.org)


def test_two_loads_of_one_table_at_once_take_turns(empty_table, staged):
    url = empty_table.warehouse
    _transformed, big = staged
    # Hold the loader's table lock so both workers are surely in flight together, then let go.
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
        scheduled = start_child_load(big, "scheduled__2026-01-01T00:00:00+00:00")
        manual = start_child_load(big, "manual__beside")
        wait_for("both loads to wait for the table lock", lambda: advisory_waiters(url) == 2, 120, interval=0.02)
        holder.execute("SELECT pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))
        # They take turns: one copies while the other still waits.
        wait_for(
            "one load waiting on the other",
            lambda: copy_in_progress(url) and advisory_waiters(url) == 1,
            interval=0.02,
        )
    for child in (scheduled, manual):
        output, _ = child.communicate(timeout=300)
        assert child.returncode == 0, output[-3000:]
    assert [status for status, _error in sync_runs(url)][-2:] == ["success", "success"]
    assert_table_equals_emulator(url, empty_table.org)
