"""Staging layout, CSV part writing/counting and retention cleanup, on the real local filesystem."""

from __future__ import annotations

import csv
import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from airflow.sdk import ObjectStoragePath

from salesforce_elt.engine.staging import CsvPartWriter, CsvRecordCounter, attempt_dir, cleanup_staging


def _context(map_index: int = -1, try_number: int = 2, run_id: str = "scheduled__2026-03-10T11:00:00+00:00"):
    ti = SimpleNamespace(
        dag_id="salesforce_sync_contacts",
        run_id=run_id,
        task_id="extract",
        map_index=map_index,
        try_number=try_number,
    )
    return {"ti": ti}


def test_attempt_dir_follows_the_contract_layout(tmp_path):
    base = f"file://{tmp_path}"
    path = attempt_dir(_context(), "Contact", base=base)
    assert str(path) == (
        f"file://{tmp_path}/salesforce_sync_contacts/scheduled__2026-03-10T11:00:00+00:00/Contact/extract/try-2"
    )
    assert path.is_dir()
    mapped = attempt_dir(_context(map_index=3, try_number=1), "Contact", base=base)
    assert str(mapped).endswith("/Contact/extract-3/try-1")


def test_attempt_dir_keeps_free_text_run_ids_at_one_level(tmp_path):
    path = attempt_dir(_context(run_id="manual/../../etc passwd"), "Contact", base=f"file://{tmp_path}")
    assert (
        str(path)
        == f"file://{tmp_path}/salesforce_sync_contacts/manual_.._.._etc_passwd/Contact/extract/try-2"
    )


def test_part_writer_rotates_and_writes_bulk_style_csv(tmp_path):
    dest = ObjectStoragePath(f"file://{tmp_path}/raw")
    with CsvPartWriter(dest, ["Id", "Name", "Flag"], rows_per_part=2, start_part=3) as writer:
        writer.write(["1", 'He said "hi"', "true"])
        writer.write(["2", "two\nlines", None])
        writer.write(["3", "a,b", "false"])
    assert writer.files == ["part-00003.csv", "part-00004.csv"] and writer.records == 3
    first = (tmp_path / "raw" / "part-00003.csv").read_bytes()
    assert first == b'Id,Name,Flag\n1,"He said ""hi""",true\n2,"two\nlines",\n'
    rows = list(csv.reader((tmp_path / "raw" / "part-00004.csv").open(newline="")))
    assert rows == [["Id", "Name", "Flag"], ["3", "a,b", "false"]]


def test_empty_result_still_gets_a_header_only_part(tmp_path):
    dest = ObjectStoragePath(f"file://{tmp_path}/raw")
    with CsvPartWriter(dest, ["Id"]) as writer:
        pass
    assert writer.files == ["part-00000.csv"] and writer.records == 0
    assert (tmp_path / "raw" / "part-00000.csv").read_text() == "Id\n"


def test_record_counter_ignores_newlines_inside_quotes_across_chunks():
    data = b'Id,Note\n1,"a\nb"\n2,"say ""x""\n"\n3,plain'
    for size in (1, 2, 3, 7, len(data)):
        counter = CsvRecordCounter()
        for i in range(0, len(data), size):
            counter.feed(data[i : i + size])
        assert counter.records == 3, size
    empty = CsvRecordCounter()
    empty.feed(b"")
    assert empty.records == 0
    header_only = CsvRecordCounter()
    header_only.feed(b"Id,Name\n")
    assert header_only.records == 0


def test_cleanup_removes_only_run_folders_past_retention(tmp_path):
    base = f"file://{tmp_path}"
    old = attempt_dir(_context(run_id="old_run"), "Contact", base=base)
    (old / "raw").mkdir(parents=True, exist_ok=True)
    (old / "raw" / "part-00000.csv").write_text("Id\n")
    fresh = attempt_dir(_context(run_id="fresh_run"), "Contact", base=base)
    (fresh / "deleted.csv").write_text("Id,deletedDate\n")
    ten_days_ago = time.time() - 10 * 86400
    for root, dirs, files in os.walk(tmp_path / "salesforce_sync_contacts" / "old_run"):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (ten_days_ago, ten_days_ago))
    os.utime(tmp_path / "salesforce_sync_contacts" / "old_run", (ten_days_ago, ten_days_ago))

    removed = cleanup_staging(3, base=base, now=datetime.now(UTC))

    assert removed == [f"{base}/salesforce_sync_contacts/old_run"]
    assert not (tmp_path / "salesforce_sync_contacts" / "old_run").exists()
    assert (tmp_path / "salesforce_sync_contacts" / "fresh_run" / "Contact").is_dir()


def test_cleanup_of_a_missing_base_is_a_no_op(tmp_path):
    assert cleanup_staging(1, base=f"file://{tmp_path}/never-created") == []
