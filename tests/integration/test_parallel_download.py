"""Parallel Bulk 2.0 results (resultPages) against the emulator over HTTPS: same files as the
sequential locators, streams that really overlap, the fallback before API 58.0, broken pages."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk import ObjectStoragePath

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.soql import build_spec_select

# The reliability suite's own org, warehouse and Airflow environment, for a whole sync below.
from tests.reliability.conftest import empty_table, org, sync_env  # noqa: E402,F401
from tests.reliability.helpers import (  # noqa: E402
    assert_table_equals_emulator,
    extract_operator,
    load_task,
    run_extract,
    task_context,
    transform,
)
from tests.support.salesforce import finished_job  # noqa: E402

FAST_RETRY = RetryPolicy(max_retries=4, backoff_base=0.01, backoff_max=0.05)
PAGE = 300  # rows per resultUrl in these tests: a 2,000-contact org has 7 pages


@pytest.fixture
def sf(salesforce_conn_env):
    """The session emulator, small parallel pages, faults and page size restored after."""
    before = salesforce_conn_env.bulk.parallel_page_records
    salesforce_conn_env.bulk.parallel_page_records = PAGE
    yield salesforce_conn_env
    salesforce_conn_env.faults.clear()
    salesforce_conn_env.bulk.parallel_page_records = before


def _complete_job(hook: SalesforceBulk2Hook, soql: str = "") -> str:
    job_id = hook.create_query_job(soql or build_spec_select(CONTACT), "queryAll")["id"]
    info = finished_job(lambda: hook.get_job(job_id), job_id, timeout=10)
    assert info["state"] == "JobComplete", info
    return job_id


def _dir(tmp_path, name: str) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/{name}")


def _contents(directory: ObjectStoragePath, files: list[str]) -> list[bytes]:
    return [(directory / name).read_bytes() for name in files]


def _rows(directory: ObjectStoragePath, files: list[str]) -> list[bytes]:
    """Every data line of the part files, in file order (each file's header row checked and dropped).

    Salesforce's pages by locator may hold fewer rows than maxRecords (the realistic wire does so),
    so two downloads of one job split the same rows differently: the rows in order must agree.
    """
    rows = []
    for content in _contents(directory, files):
        header, *lines = content.split(b"\n")
        assert header.decode().replace('"', "").split(",") == list(CONTACT.soql_fields)
        rows += [line for line in lines if line]
    return rows


def _entries(emulator, job_id: str, resource: str) -> list[dict]:
    return [e for e in emulator.audit() if e.get("job_id") == job_id and f"/{resource}" in e["path"]]


def _interval(entry: dict) -> tuple[float, float]:
    ended = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
    return entry["started"], ended


def _most_at_once(entries: list[dict]) -> int:
    """The largest number of requests in flight at the same moment."""
    events = sorted(
        [(start, 1) for start, _ in map(_interval, entries)] + [(end, -1) for _, end in map(_interval, entries)],
        key=lambda e: (e[0], e[1]),
    )
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_parallel_and_sequential_downloads_write_the_same_files(sf, tmp_path):
    expected = sf.org.query("SELECT Id FROM Contact", include_deleted=True, api="rest").total_size
    parallel = SalesforceBulk2Hook(result_streams=4)
    job_id = _complete_job(parallel)
    files, records = parallel.download_results(job_id, _dir(tmp_path, "p"), start_part=3, header=CONTACT.soql_fields)
    sequential = SalesforceBulk2Hook(result_streams=1)
    seq_files, seq_records = sequential.download_results(
        job_id, _dir(tmp_path, "s"), max_records=PAGE, start_part=3, header=CONTACT.soql_fields
    )

    pages = -(-expected // PAGE)
    assert records == seq_records == expected
    assert files == [f"part-{i:05d}.csv" for i in range(3, 3 + pages)]
    assert seq_files[0] == "part-00003.csv"
    # Byte for byte: the same rows in the same order (no row lost, doubled or moved).
    assert _rows(_dir(tmp_path, "p"), files) == _rows(_dir(tmp_path, "s"), seq_files)
    assert len(_entries(sf, job_id, "resultPages")) == -(-pages // 5)  # five resultUrls per answer
    # The parallel download fetched each resultUrl once, never following Sforce-Locator onwards.
    fetched = [e["path"] for e in _entries(sf, job_id, "results") if "maxRecords" not in e["path"]]
    assert len(fetched) == len(set(fetched)) == pages


def test_pages_stream_concurrently_and_no_more_than_the_setting(sf, tmp_path):
    hook = SalesforceBulk2Hook(result_streams=3)
    job_id = _complete_job(hook)
    # A slow link: each page takes a noticeable time, so streams that run together overlap.
    sf.faults.set(bandwidth_kbps=2000, latency_ms=20)
    files, records = hook.download_results(job_id, _dir(tmp_path, "x"), header=CONTACT.soql_fields)
    sf.faults.clear()

    pages = _entries(sf, job_id, "results")
    assert len(pages) == len(files) > 3 and all(e["status"] == 200 for e in pages)
    assert 2 <= _most_at_once(pages) <= 3
    assert records == sf.org.query("SELECT Id FROM Contact", include_deleted=True, api="rest").total_size


def test_one_stream_reads_by_locator_only(sf, tmp_path):
    hook = SalesforceBulk2Hook(result_streams=1)
    job_id = _complete_job(hook)
    files, _ = hook.download_results(job_id, _dir(tmp_path, "x"), max_records=700)
    assert not _entries(sf, job_id, "resultPages")
    assert len(files) == len(_entries(sf, job_id, "results")) > 1


def test_before_api_58_the_missing_resource_falls_back_to_locators(sf, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SF_API57", salesforce_connection(sf.connection_info, version="57.0"))
    old = SalesforceBulk2Hook("sf_api57")
    job_id = _complete_job(old)
    files, records = old.download_results(job_id, _dir(tmp_path, "old"), max_records=PAGE)

    refused = _entries(sf, job_id, "resultPages")
    assert [(e["status"], e["path"].split("/")[3]) for e in refused] == [(404, "v57.0")]
    by_locator = _entries(sf, job_id, "results")
    assert len(by_locator) == len(files) and all("maxRecords" in e["path"] for e in by_locator)

    current = SalesforceBulk2Hook()
    new_job = _complete_job(current)
    new_files, new_records = current.download_results(new_job, _dir(tmp_path, "new"))
    assert new_records == records and len(new_files) == -(-records // PAGE)
    assert len(_entries(sf, new_job, "resultPages")) == 2
    assert _rows(_dir(tmp_path, "old"), files) == _rows(_dir(tmp_path, "new"), new_files)


def test_a_page_cut_mid_stream_is_fetched_again_from_its_result_url(sf, tmp_path):
    clean = SalesforceBulk2Hook(result_streams=4)
    job_id = _complete_job(clean)
    want, _ = clean.download_results(job_id, _dir(tmp_path, "clean"))
    cut = _dir(tmp_path, "cut")

    hook = SalesforceBulk2Hook(result_streams=4, retry=FAST_RETRY)
    sf.reset_audit()
    sf.faults.set(reset_bulk_page_next=2)
    reported: list[tuple[str, bytes]] = []  # (name, the file's bytes when it was reported complete)
    files, records = hook.download_results(
        job_id, _dir(tmp_path, "cut"), on_part=lambda name: reported.append((name, (cut / name).read_bytes()))
    )
    assert files == want
    assert _contents(_dir(tmp_path, "cut"), files) == _contents(_dir(tmp_path, "clean"), want)
    # Each part reported once, only when whole: never the cut attempt of a page.
    assert sorted(name for name, _ in reported) == files
    assert [content for _, content in sorted(reported)] == _contents(_dir(tmp_path, "clean"), want)
    paths = [e["path"] for e in _entries(sf, job_id, "results")]
    assert len(paths) == len(files) + 2  # two pages asked for twice, at the same resultUrl
    assert len(set(paths)) == len(files)


def test_a_page_that_keeps_breaking_fails_the_download_naming_it(sf, tmp_path):
    hook = SalesforceBulk2Hook(result_streams=4, retry=RetryPolicy(max_retries=1, backoff_base=0.01, backoff_max=0.02))
    job_id = _complete_job(hook)
    sf.faults.set(reset_bulk_page_next=50)
    with pytest.raises(SalesforceApiError) as failed:
        hook.download_results(job_id, _dir(tmp_path, "x"))
    assert failed.value.error_code == "RETRIES_EXHAUSTED"
    # The page's path, never its locator.
    assert f"/jobs/query/{job_id}/results:" in str(failed.value) and "locator" not in str(failed.value)


@pytest.mark.parametrize("value", ["0", "eleven", "2.5", 11])
def test_a_bad_stream_setting_is_named(sf, monkeypatch, value):
    info = sf.connection_info
    conn = salesforce_connection(info).replace('"version"', f'"bulk_result_streams": {value!r}, "version"')
    monkeypatch.setenv("AIRFLOW_CONN_SF_STREAMS", conn.replace("'", '"'))
    with pytest.raises(SalesforceApiError, match="extra bulk_result_streams.*from 1 to 10") as bad:
        _ = SalesforceBulk2Hook("sf_streams").result_streams
    assert bad.value.error_code == "INVALID_SETTING"


def test_the_stream_setting_comes_from_the_connection(sf, monkeypatch):
    conn = salesforce_connection(sf.connection_info).replace('"version"', '"bulk_result_streams": "2", "version"')
    monkeypatch.setenv("AIRFLOW_CONN_SF_STREAMS", conn)
    assert SalesforceBulk2Hook("sf_streams").result_streams == 2
    assert SalesforceBulk2Hook("sf_streams", result_streams=6).result_streams == 6
    assert SalesforceBulk2Hook().result_streams == 4


def test_the_streams_calls_and_a_new_login_are_folded_into_the_hook(sf, tmp_path):
    hook = SalesforceBulk2Hook(result_streams=4)
    job_id = _complete_job(hook)
    calls_before, usage_before = hook.api_calls, hook.api_usage
    sf.reset_audit()
    # The session ends while the streams run: one of them logs in again, the rest follow.
    sf.faults.set(expire_sessions_at=r"/results\?locator=")
    files, records = hook.download_results(job_id, _dir(tmp_path, "x"))

    entries = [e for e in sf.audit() if e["kind"] == "api"]
    assert records == sf.org.query("SELECT Id FROM Contact", include_deleted=True, api="rest").total_size
    assert any(e["status"] == 401 for e in entries) and any(e["kind"] == "oauth" for e in sf.audit())
    # Every call of every stream counted once, logged once, with the newest usage figure.
    assert hook.api_calls - calls_before == len(entries)
    logged = [c for c in hook.call_log if "/results" in c.path]
    assert len(logged) == len([e for e in entries if "/results" in e["path"]])
    assert [c.at for c in hook.call_log] == sorted(c.at for c in hook.call_log)
    assert hook.api_usage != usage_before and int(hook.api_usage.split("/")[0]) == sf.api_counter.used
    # The hook keeps the new login: its next call needs no other.
    logins = sum(e["kind"] == "oauth" for e in sf.audit())
    hook.get_job(job_id)
    assert sum(e["kind"] == "oauth" for e in sf.audit()) == logins
    assert len(files) > 1


def test_a_sync_over_parallel_pages_equals_the_org(empty_table):  # noqa: F811
    """extract -> transform -> load with the deployed default (4 streams, pages converted as they
    land), pages of 300 rows, two of them cut mid-stream: the table equals the org field by field."""
    org_server = empty_table.org
    before = org_server.bulk.parallel_page_records
    org_server.bulk.parallel_page_records = PAGE
    run_id = "manual__parallel_pages"
    try:
        org_server.faults.set(reset_bulk_page_next=2, bandwidth_kbps=4000)
        extracted = run_extract(extract_operator("bulk"), task_context(run_id, "extract"))
        transformed = transform(extracted, run_id)
        result = load_task(transformed, run_id)
    finally:
        org_server.bulk.parallel_page_records = before
    # Every page was converted by the extract, and the load took those parts.
    assert extracted["typed"]["files"] == extracted["files"] and len(extracted["files"]) > 1
    assert transformed["typed_uri"] == extracted["typed"]["uri"] and "/extract/try-1/" in transformed["typed_uri"]
    assert result["api"] == "bulk" and result["new_records"] == result["total_retrieved"] > 2000
    pages = [e for e in org_server.audit() if "/results?locator=" in e["path"]]
    assert any(e["status"] == 200 for e in pages) and any("/resultPages" in e["path"] for e in org_server.audit())
    assert len({e["path"] for e in pages}) == -(-result["total_retrieved"] // PAGE)
    assert _most_at_once(pages) >= 2
    assert_table_equals_emulator(empty_table.warehouse, org_server)
