"""The loader against a real Postgres: counts, idempotence, ordering, deletes, locking, atomicity."""

from __future__ import annotations

import csv
import itertools
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from embedded_stack.connections import postgres_connection
from salesforce_elt.engine import load, state
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.transform import transform_files
from tests.support.databases import fresh_database
from tests.support.waiting import wait_for

FIELDS = list(CONTACT.soql_fields)
TABLE = "salesforce.sf_contacts"
_batches = itertools.count()


@pytest.fixture(scope="module")
def database(warehouse_url) -> str:
    """A fresh database migrated to head; returns its postgresql:// URL."""
    with fresh_database(warehouse_url, "w_load") as url:
        yield url


@pytest.fixture
def conn(database):
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("TRUNCATE salesforce.sf_contacts, salesforce.sync_state, salesforce.sync_runs")
        yield connection


def contact(i: int, modstamp: str = "2024-01-02T03:04:05.000Z", **values: str) -> dict[str, str]:
    row = dict.fromkeys(FIELDS, "")
    row.update(Id=f"003{i:015d}", LastName=f"Name {i}", IsDeleted="false", SystemModstamp=modstamp)
    row.update(values)
    return row


def stage(tmp_path: Path, *parts: list[dict[str, str]], deleted: list[tuple[str, str]] | None = None):
    """Raw CSV parts -> typed parts through the real transform; returns a LoadRequest."""
    batch = tmp_path / f"batch-{next(_batches)}"
    files = []
    for n, rows in enumerate(parts):
        name = f"part-{n:05d}.csv"
        (batch / "raw").mkdir(parents=True, exist_ok=True)
        with open(batch / "raw" / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(FIELDS)
            writer.writerows([row[h] for h in FIELDS] for row in rows)
        files.append(name)
    result = transform_files(CONTACT, FIELDS, batch / "raw", files, batch / "typed", reject_threshold=0.0)
    deleted_file = None
    if deleted is not None:
        deleted_file = batch / "deleted.csv"
        with open(deleted_file, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([("Id", "deletedDate"), *deleted])
    return load.LoadRequest(
        spec=CONTACT,
        typed_dir=batch / "typed",
        typed_files=result.typed_files,
        columns=result.columns,
        expected_rows=result.rows,
        sync_run_id=f"run-{batch.name}",
        window_end=datetime(2024, 1, 3, tzinfo=UTC),
        deleted_file=deleted_file,
        run={"dag_id": "salesforce_sync_contacts", "api": "bulk", "rows_extracted": result.rows},
    )


def snapshot(conn) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {TABLE} ORDER BY salesforce_id").fetchall()


def counts(stats: load.LoadStats) -> tuple[int, int, int]:
    return stats.new_records, stats.updated_records, stats.deleted_records


def test_insert_then_update_counts_and_values(conn, tmp_path):
    first = load.load(conn, stage(tmp_path, [contact(1), contact(2)], [contact(3)]))
    assert (first.copied_rows, *counts(first)) == (3, 3, 0, 0)
    second = load.load(
        conn,
        stage(tmp_path, [contact(2, "2024-01-02T05:00:00.000+0000", Email="new@example.com"), contact(4)]),
    )
    assert counts(second) == (1, 1, 0)
    row = conn.execute(f"SELECT email, sf_system_modstamp, sync_run_id FROM {TABLE} WHERE salesforce_id = %s",
                       ("003000000000000002",)).fetchone()
    assert row[0] == "new@example.com"
    assert row[1] == datetime(2024, 1, 2, 5, tzinfo=UTC)
    assert row[2].startswith("run-batch-")
    assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 4


def test_reloading_the_same_batch_changes_nothing(conn, tmp_path):
    request = stage(
        tmp_path,
        [contact(1, MailingCity="Paris", MailingLatitude="48.8566"), contact(2, Title='Dr "Who",\nMD')],
    )
    load.load(conn, request)
    before = snapshot(conn)
    again = load.load(conn, request)
    assert counts(again) == (0, 0, 0)
    assert snapshot(conn) == before  # not even synced_at or sync_run_id moved


def test_an_older_version_never_overwrites_a_newer_one(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1, "2024-01-02T10:00:00.000Z", Title="newer")]))
    stale = load.load(conn, stage(tmp_path, [contact(1, "2024-01-02T09:00:00.000Z", Title="older")]))
    assert counts(stale) == (0, 0, 0)
    assert conn.execute(f"SELECT title FROM {TABLE}").fetchone() == ("newer",)


def test_duplicates_inside_a_batch_keep_the_newest(conn, tmp_path):
    stats = load.load(
        conn,
        stage(
            tmp_path,
            [contact(1, "2024-01-02T10:00:00.000Z", Title="newest"), contact(1, "2024-01-02T08:00:00.000Z", Title="old")],
            [contact(1, "2024-01-02T09:00:00.000Z", Title="middle")],
        ),
    )
    assert (stats.copied_rows, *counts(stats)) == (3, 1, 0, 0)
    assert conn.execute(f"SELECT title FROM {TABLE}").fetchall() == [("newest",)]


def test_soft_delete_counts_as_deleted_and_undelete_clears_the_feed_date(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1), contact(2)]))
    soft = load.load(
        conn,
        stage(tmp_path, [contact(1, "2024-01-02T06:00:00.000Z", IsDeleted="true")],
              deleted=[("003000000000000001", "2024-01-02T06:00:00.000+0000")]),
    )
    assert counts(soft) == (0, 0, 1)  # rewritten as deleted by the upsert; the feed finds it already marked
    assert conn.execute(f"SELECT is_deleted, sf_deleted_at FROM {TABLE} WHERE salesforce_id = %s",
                        ("003000000000000001",)).fetchone() == (True, datetime(2024, 1, 2, 6, tzinfo=UTC))
    undelete = load.load(conn, stage(tmp_path, [contact(1, "2024-01-02T07:00:00.000Z", IsDeleted="false")]))
    assert counts(undelete) == (0, 1, 0)
    assert conn.execute(f"SELECT is_deleted, sf_deleted_at FROM {TABLE} WHERE salesforce_id = %s",
                        ("003000000000000001",)).fetchone() == (False, None)


def test_hard_deletes_mark_known_rows_and_ignore_unknown_ids(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1), contact(2)]))
    feed = [
        ("003000000000000002", "2024-01-02T08:00:00.000+0000"),
        ("003000000000000099", "2024-01-02T08:00:00.000+0000"),  # never loaded: ignored
    ]
    request = stage(tmp_path, [], deleted=feed)
    stats = load.load(conn, request)
    assert counts(stats) == (0, 0, 1)
    assert conn.execute(f"SELECT salesforce_id, is_deleted, sf_deleted_at FROM {TABLE} ORDER BY 1").fetchall() == [
        ("003000000000000001", False, None),
        ("003000000000000002", True, datetime(2024, 1, 2, 8, tzinfo=UTC)),
    ]
    assert counts(load.load(conn, request)) == (0, 0, 0)  # the same feed again: nothing to do


def test_a_deletion_older_than_the_stored_version_is_ignored(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1, "2024-01-02T09:00:00.000Z")]))  # undeleted at 09:00
    stats = load.load(conn, stage(tmp_path, [], deleted=[("003000000000000001", "2024-01-02T08:00:00.000Z")]))
    assert stats.deleted_records == 0
    assert conn.execute(f"SELECT is_deleted FROM {TABLE}").fetchone() == (False,)


def test_full_refresh_marks_rows_purged_long_ago_as_deleted(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1), contact(2), contact(3, IsDeleted="true")]))
    refresh = stage(tmp_path, [contact(1), contact(3, IsDeleted="true")])  # 2 is gone from queryAll
    refresh.reconcile_missing = True
    stats = load.load(conn, refresh)
    assert counts(stats) == (0, 0, 1)
    assert conn.execute(f"SELECT salesforce_id, is_deleted, sf_deleted_at FROM {TABLE} ORDER BY 1").fetchall() == [
        ("003000000000000001", False, None),
        ("003000000000000002", True, refresh.window_end),
        ("003000000000000003", True, None),
    ]
    assert counts(load.load(conn, refresh)) == (0, 0, 0)
    incremental = stage(tmp_path, [contact(1)])  # an incremental batch never implies deletions
    assert counts(load.load(conn, incremental)) == (0, 0, 0)
    assert conn.execute(f"SELECT count(*) FROM {TABLE} WHERE is_deleted").fetchone() == (2,)


def test_bad_deleted_feed_row_names_the_file_and_row(conn, tmp_path):
    with pytest.raises(load.LoadError, match=r"bad row 2 in .*deleted.csv.*not a Contact id"):
        load.load(conn, stage(tmp_path, [contact(1)], deleted=[("001000000000000001", "2024-01-02T08:00:00Z")]))
    assert snapshot(conn) == []


def test_high_water_mark_and_sync_runs_row(conn, database, tmp_path, monkeypatch):
    assert state.get_high_water_mark("Contact", conn=conn) is None
    request = stage(tmp_path, [contact(1)])
    load.load(conn, request)
    # Read as the extract task does: through the Airflow connection.
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", postgres_connection(database))
    assert state.get_high_water_mark("Contact") == datetime(2024, 1, 3, tzinfo=UTC)
    older = stage(tmp_path, [contact(2)])
    older.window_end = datetime(2024, 1, 1, tzinfo=UTC)  # a backfill of an older interval
    load.load(conn, older)
    assert state.get_high_water_mark("Contact", conn=conn) == datetime(2024, 1, 3, tzinfo=UTC)
    runs = conn.execute(
        "SELECT object_name, dag_id, status, new_records, updated_records, deleted_records, rows_extracted, "
        "window_end FROM salesforce.sync_runs ORDER BY id"
    ).fetchall()
    assert runs == [
        ("Contact", "salesforce_sync_contacts", "success", 1, 0, 0, 1, datetime(2024, 1, 3, tzinfo=UTC)),
        ("Contact", "salesforce_sync_contacts", "success", 1, 0, 0, 1, datetime(2024, 1, 1, tzinfo=UTC)),
    ]


def test_a_failing_load_leaves_no_partial_rows(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1, Title="kept")]))
    before = snapshot(conn)
    request = stage(tmp_path, [contact(1, "2024-01-02T10:00:00.000Z", Title="changed"), contact(2)], [contact(3)])
    with open(request.typed_dir / "part-00001.csv", "a", encoding="utf-8") as f:
        f.write("003000000000000004,,,,,,,,,,,,not-a-date\n")  # COPY fails on the second part
    request.expected_rows += 1
    with pytest.raises(psycopg.errors.DataError):
        load.load(conn, request)
    assert snapshot(conn) == before
    assert conn.execute("SELECT count(*) FROM salesforce.sync_runs").fetchone() == (1,)
    load.record_run(conn, request, None, status="failed", error="DataError: boom")
    assert conn.execute("SELECT status, error_message FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1").fetchone() == (
        "failed", "DataError: boom")


def test_load_refuses_to_run_inside_an_open_transaction(database, tmp_path):
    with psycopg.connect(database) as conn:
        conn.execute("SELECT 1")  # psycopg opened a transaction
        with pytest.raises(load.LoadError, match="outside any transaction"):
            load.load(conn, stage(tmp_path, [contact(1)]))


def test_row_count_mismatch_and_missing_file_are_refused(conn, tmp_path):
    request = stage(tmp_path, [contact(1)])
    request.expected_rows = 2
    with pytest.raises(load.LoadError, match="COPY loaded 1 rows but the transform wrote 2"):
        load.load(conn, request)
    request = stage(tmp_path, [contact(1)])
    request.typed_files = ["part-00009.csv"]
    with pytest.raises(load.LoadError, match="part-00009.csv does not exist"):
        load.load(conn, request)
    assert snapshot(conn) == []


def _waiting_on_advisory_lock(conn) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()[0]


def test_advisory_lock_serializes_two_loads_of_one_table(conn, database, tmp_path):
    requests = [stage(tmp_path, [contact(i) for i in range(1, 51)]) for _ in range(2)]
    results: list[load.LoadStats] = []
    errors: list[BaseException] = []

    def run(request):
        try:
            with psycopg.connect(database) as own:
                results.append(load.load(own, request))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    with psycopg.connect(database) as holder, holder.transaction():
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('salesforce_elt:salesforce.sf_contacts'))")
        threads = [threading.Thread(target=run, args=(r,)) for r in requests]
        for t in threads:
            t.start()
        wait_for("both loads to wait for the lock", lambda: _waiting_on_advisory_lock(conn) >= 2, 30, 0.1)
        assert _waiting_on_advisory_lock(conn) == 2  # both loads wait for the table's lock
        assert snapshot(conn) == []
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(counts(s) for s in results) == [(0, 0, 0), (50, 0, 0)]  # one after the other
    assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (50,)


# ---- fast path: COPY straight into an empty table ----------------------------------------------
def first_load_batch(tmp_path: Path, line_end: str = "\n") -> load.LoadRequest:
    """Values of every kind, quotes and newlines included, a deleted row, a /deleted feed, a full refresh."""
    request = stage(
        tmp_path,
        [
            contact(1, MailingCity="Paris", MailingLatitude="48.8566", Title='Dr "Who",\nMD'),
            contact(2, "2024-01-02T06:00:00.000Z", IsDeleted="true", Title="a\r\nb"),
            contact(3, Email="c3@example.com", Birthdate="1980-02-29", HasOptedOutOfEmail="true",
                    Languages__c="English;French", Title='"quoted"'),
        ],
        [contact(i, Department=f"Dept, {i}") for i in range(4, 40)],
        deleted=[("003000000000000003", "2024-01-02T08:00:00.000Z"), ("003000000000000099", "2024-01-02T08:00:00Z")],
    )
    request.reconcile_missing = True
    if line_end != "\n":  # the same records, another line terminator
        for name in request.typed_files:
            path = request.typed_dir / name
            with open(path, newline="", encoding="utf-8") as f:
                records = list(csv.reader(f))
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f, lineterminator=line_end).writerows(records)
    return request


def loaded(conn, request: load.LoadRequest, caplog) -> tuple[load.LoadStats, list[tuple], str]:
    """Load; return the stats, the rows without synced_at (checked here: the load's one now()), the log."""
    caplog.clear()
    (before,) = conn.execute("SELECT now()").fetchone()
    stats = load.load(conn, request)
    (after,) = conn.execute("SELECT now()").fetchone()
    synced = conn.execute(f"SELECT DISTINCT synced_at FROM {TABLE}").fetchall()
    assert len(synced) == 1 and before <= synced[0][0] <= after, (before, synced, after)
    columns = [
        name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'salesforce' "
            "AND table_name = 'sf_contacts' AND column_name <> 'synced_at' ORDER BY ordinal_position"
        )
    ]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM {TABLE} ORDER BY salesforce_id").fetchall()
    return stats, rows, caplog.text


def outcome(conn, stats: load.LoadStats) -> tuple:
    runs = conn.execute(
        "SELECT run_id, status, new_records, updated_records, deleted_records FROM salesforce.sync_runs"
    ).fetchall()
    return (stats.copied_rows, *counts(stats), stats.high_water_mark, runs)


@pytest.mark.parametrize(("line_end", "chunk"), [("\n", load.COPY_CHUNK), ("\r\n", 7), ("\n", 1)])
def test_first_load_copies_straight_into_the_table_with_the_rows_the_upsert_writes(
    conn, tmp_path, caplog, monkeypatch, line_end, chunk
):
    caplog.set_level(logging.INFO, logger=load.__name__)
    monkeypatch.setattr(load, "COPY_CHUNK", chunk)  # tiny chunks: records and quotes cut anywhere
    request = first_load_batch(tmp_path, line_end)
    request.allow_direct_copy = False
    staged_stats, staged_rows, staged_log = loaded(conn, request, caplog)
    staged = outcome(conn, staged_stats)
    assert "staged and upserted" in staged_log and "COPYed straight" not in staged_log
    conn.execute("TRUNCATE salesforce.sf_contacts, salesforce.sync_state, salesforce.sync_runs")

    request.allow_direct_copy = True
    direct_stats, direct_rows, direct_log = loaded(conn, request, caplog)
    assert "39 row(s) COPYed straight into the empty sf_contacts" in direct_log
    assert "staged" not in direct_log
    assert direct_rows == staged_rows
    assert outcome(conn, direct_stats) == staged
    assert staged[:4] == (39, 39, 0, 1)  # #3 newly deleted by the feed, #2 first seen deleted (new)
    assert [r[0] for r in direct_rows] == [f"003{i:015d}" for i in range(1, 40)]


def test_a_duplicate_id_in_a_first_load_falls_back_to_the_staged_upsert(conn, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=load.__name__)
    request = stage(
        tmp_path,
        [contact(1, "2024-01-02T08:00:00.000Z", Title="old"), contact(2)],
        [contact(1, "2024-01-02T10:00:00.000Z", Title="newest")],
    )
    stats = load.load(conn, request)
    assert "staged and upserted into sf_contacts (a duplicate Id in the batch" in caplog.text
    assert "003000000000000001" in caplog.text
    assert "COPYed straight" not in caplog.text
    assert (stats.copied_rows, *counts(stats)) == (3, 2, 0, 0)
    assert conn.execute(f"SELECT salesforce_id, title, sync_run_id FROM {TABLE} ORDER BY 1").fetchall() == [
        ("003000000000000001", "newest", request.sync_run_id),
        ("003000000000000002", None, request.sync_run_id),
    ]
    assert conn.execute("SELECT new_records FROM salesforce.sync_runs").fetchall() == [(2,)]


def test_a_first_load_whose_row_count_is_off_commits_nothing(conn, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=load.__name__)
    request = stage(tmp_path, [contact(i) for i in range(1, 6)], deleted=[("003000000000000001", "2024-01-02T08:00:00Z")])
    request.expected_rows = 4
    with pytest.raises(load.LoadError, match="COPY loaded 5 rows but the transform wrote 4"):
        load.load(conn, request)
    assert snapshot(conn) == []
    assert conn.execute("SELECT count(*) FROM salesforce.sync_runs").fetchone() == (0,)
    assert state.get_high_water_mark("Contact", conn=conn) is None
    request.expected_rows = 5  # the same files, counted right: the direct COPY goes through
    assert counts(load.load(conn, request)) == (5, 0, 1)
    assert "5 row(s) COPYed straight" in caplog.text


def test_a_table_with_rows_takes_the_staged_path(conn, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=load.__name__)
    load.load(conn, stage(tmp_path, [contact(1)]))
    assert "1 row(s) COPYed straight" in caplog.text
    caplog.clear()
    stats = load.load(conn, stage(tmp_path, [contact(1, "2024-01-02T09:00:00.000Z", Title="changed"), contact(2)]))
    assert "staged and upserted into sf_contacts (the table has rows)" in caplog.text
    assert "COPYed straight" not in caplog.text
    assert counts(stats) == (1, 1, 0)
    assert conn.execute(f"SELECT title FROM {TABLE} ORDER BY 1").fetchall() == [("changed",), (None,)]


def _indexes(conn) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'salesforce' AND tablename = 'sf_contacts' "
        "ORDER BY indexname"
    ).fetchall()


def test_a_first_load_rebuilds_the_secondary_indexes_it_dropped(conn, tmp_path):
    before = _indexes(conn)
    assert len(before) > 2  # the key and the registry's indexed columns
    load.load(conn, stage(tmp_path, [contact(i, AccountId=f"001{i:015d}") for i in range(1, 30)]))
    assert _indexes(conn) == before
    # The rebuilt index is used and finds the loaded row.
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(r for (r,) in conn.execute(
        f"EXPLAIN (COSTS OFF) SELECT salesforce_id FROM {TABLE} WHERE account_id = '001000000000000007'"
    ).fetchall())
    conn.execute("RESET enable_seqscan")
    assert "ix_sf_contacts_account_id" in plan
    assert conn.execute(f"SELECT salesforce_id FROM {TABLE} WHERE account_id = '001000000000000007'").fetchall() == [
        ("003000000000000007",)
    ]


def test_a_first_load_that_falls_back_keeps_the_indexes(conn, tmp_path):
    before = _indexes(conn)
    load.load(conn, stage(tmp_path, [contact(1), contact(2)], [contact(1, "2024-01-02T10:00:00.000Z")]))
    assert _indexes(conn) == before
    assert len(snapshot(conn)) == 2


# ---- deletes found by comparing Ids (the /deleted feed could not cover the window) -----------------
def id_list(tmp_path: Path, ids: list[str], name: str = "part-00000.csv", deleted=()) -> load.IdReconcile:
    folder = tmp_path / f"ids-{next(_batches)}"
    folder.mkdir()
    with open(folder / name, "w", newline="", encoding="utf-8") as f:
        rows = [(i, "true" if i in deleted else "false") for i in ids]
        csv.writer(f, lineterminator="\n").writerows([("Id", "IsDeleted"), *rows])
    return load.IdReconcile(
        ids_dir=folder,
        files=[name],
        reason="Salesforce refused start 2024-01-02T00:00:00Z: INVALID_REPLICATION_DATE: startDate cannot be "
        "before earliestDateAvailable: 2024-01-02T12:00:00.000+0000",
        earliest_available="2024-01-02T12:00:00+00:00",
    )


def test_an_id_list_flags_the_rows_it_lacks_and_says_why_in_sync_runs(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(i) for i in (1, 2, 3, 5)] + [contact(4, "2024-01-05T00:00:00.000Z")]))
    # An incremental window holding contact 1 (updated) and 5 (soft-deleted); 2 and 4 are gone
    # from Salesforce, 3 is still there.
    soft_deleted_at = "2024-01-02T07:00:00.000Z"
    request = stage(
        tmp_path,
        [contact(1, "2024-01-02T06:00:00.000Z", Title="new"), contact(5, soft_deleted_at, IsDeleted="true")],
    )
    ids = ["003000000000000001", "003000000000000003", "003000000000000005"]
    request.id_reconcile = id_list(tmp_path, ids, deleted={"003000000000000005"})
    stats = load.load(conn, request)
    assert counts(stats) == (0, 1, 2)  # the soft delete counts as deleted, as in any upsert
    assert conn.execute(f"SELECT salesforce_id, is_deleted, sf_deleted_at FROM {TABLE} ORDER BY 1").fetchall() == [
        ("003000000000000001", False, None),
        ("003000000000000002", True, request.window_end),
        ("003000000000000003", False, None),
        # Written after the window's end (a newer run): the older Id list cannot vouch for it.
        ("003000000000000004", False, None),
        # A soft delete of the window: dated by its SystemModstamp, as the feed's deletedDate is.
        ("003000000000000005", True, datetime(2024, 1, 2, 7, tzinfo=UTC)),
    ]
    status, deleted, note = conn.execute(
        "SELECT status, deleted_records, deletes_reconciled FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert (status, deleted) == ("success", 2)
    assert "INVALID_REPLICATION_DATE" in note and "2024-01-02T12:00:00.000+0000" in note
    assert "3 current Id(s) compared, 1 stored row(s) missing from them marked deleted" in note
    # The same again changes nothing; a run with its /deleted feed records no reconcile.
    assert counts(load.load(conn, request)) == (0, 0, 0)
    load.load(conn, stage(tmp_path, [contact(5)], deleted=[]))
    assert conn.execute(
        "SELECT deletes_reconciled FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1"
    ).fetchone() == (None,)


def test_a_bad_id_list_fails_the_whole_load(conn, tmp_path):
    load.load(conn, stage(tmp_path, [contact(1), contact(2)]))
    before = snapshot(conn)
    request = stage(tmp_path, [contact(1, "2024-01-02T06:00:00.000Z", Title="changed")])
    request.id_reconcile = id_list(tmp_path, ["003000000000000001", "001000000000000009"])
    with pytest.raises(load.LoadError, match=r"Contact: bad row 3 in .*part-00000.csv.*not a Contact id"):
        load.load(conn, request)
    request.id_reconcile.files.append("part-00001.csv")
    request.id_reconcile.files.pop(0)
    with pytest.raises(load.LoadError, match=r"Contact: Id list file .*part-00001.csv does not exist"):
        load.load(conn, request)
    assert snapshot(conn) == before  # not even the upsert of contact 1 was kept
    assert conn.execute("SELECT count(*) FROM salesforce.sync_runs").fetchone() == (1,)
