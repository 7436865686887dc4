"""Parallel results (GET jobs/query/{id}/resultPages) and the bandwidth fault, over HTTPS."""

from __future__ import annotations

import csv
import io
import time

import pytest

from tests.support.salesforce import finished_job

pytest_plugins = ["salesforce_emulator.pytest_plugin"]

SOQL = "SELECT Id, LastName FROM Contact"


@pytest.fixture
def auth(sf_client):
    return {"Authorization": f"Bearer {sf_client.session_id}"}


@pytest.fixture
def small_pages(sf_emulator):
    before = sf_emulator.bulk.parallel_page_records
    sf_emulator.bulk.parallel_page_records = 300
    yield 300
    sf_emulator.bulk.parallel_page_records = before


def _base(sf_emulator, version="59.0") -> str:
    return f"{sf_emulator.connection_info['instance_url']}/services/data/v{version}/jobs/query"


def _complete_job(sf_emulator, sf_session, auth, soql=SOQL, version="59.0") -> str:
    created = sf_session.post(_base(sf_emulator, version), json={"operation": "query", "query": soql}, headers=auth)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    info = finished_job(lambda: sf_session.get(f"{_base(sf_emulator, version)}/{job_id}", headers=auth).json(), job_id)
    assert info["state"] == "JobComplete", info
    return job_id


def _all_result_urls(sf_emulator, sf_session, auth, job_id) -> tuple[list[str], list[dict]]:
    url = f"{_base(sf_emulator)}/{job_id}/resultPages"
    answers, urls = [], []
    while url:
        response = sf_session.get(url, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        answers.append(body)
        urls += [page["resultUrl"] for page in body["resultPages"]]
        url = sf_emulator.connection_info["instance_url"] + body["nextRecordsUrl"] if body["nextRecordsUrl"] else None
    return urls, answers


def test_result_pages_shape_paging_and_rows(sf_emulator, sf_session, sf_client, auth, small_pages):
    total = sf_client.query("SELECT COUNT() FROM Contact")["totalSize"]
    job_id = _complete_job(sf_emulator, sf_session, auth)
    urls, answers = _all_result_urls(sf_emulator, sf_session, auth, job_id)

    pages = -(-total // small_pages)
    assert len(urls) == pages > 5
    # Up to five resultUrls per answer; nextRecordsUrl/done for the rest.
    assert [len(a["resultPages"]) for a in answers] == [5] * (pages // 5) + ([pages % 5] if pages % 5 else [])
    assert all(set(a) == {"resultPages", "nextRecordsUrl", "done"} for a in answers)
    assert [a["done"] for a in answers] == [False] * (len(answers) - 1) + [True]
    assert answers[-1]["nextRecordsUrl"] is None
    assert all(a["nextRecordsUrl"].startswith(f"/services/data/v59.0/jobs/query/{job_id}/resultPages?locator=")
               for a in answers[:-1])
    assert all(u.startswith(f"/services/data/v59.0/jobs/query/{job_id}/results?locator=") for u in urls)

    ids = []
    instance = sf_emulator.connection_info["instance_url"]
    for i, url in enumerate(urls):
        response = sf_session.get(instance + url, headers=auth)
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["Id", "LastName"]
        expected = min(small_pages, total - i * small_pages)
        assert len(rows) - 1 == int(response.headers["Sforce-NumberOfRecords"]) == expected
        # The page's Sforce-Locator points past it, at the rest of the result (not just the next page).
        assert (response.headers["Sforce-Locator"] == "null") == (i == pages - 1)
        ids += [row[0] for row in rows[1:]]
    sequential = sf_session.get(f"{_base(sf_emulator)}/{job_id}/results", headers=auth)
    assert ids == [row[0] for row in list(csv.reader(io.StringIO(sequential.text)))[1:]]
    assert len(set(ids)) == total


def test_result_pages_need_api_58_and_the_jobs_version(sf_emulator, sf_session, auth):
    old_job = _complete_job(sf_emulator, sf_session, auth, version="57.0")
    missing = sf_session.get(f"{_base(sf_emulator, '57.0')}/{old_job}/resultPages", headers=auth)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    # The plain results resource still serves that job.
    assert sf_session.get(f"{_base(sf_emulator, '57.0')}/{old_job}/results", headers=auth).status_code == 200

    job_id = _complete_job(sf_emulator, sf_session, auth, version="58.0")
    assert sf_session.get(f"{_base(sf_emulator, '58.0')}/{job_id}/resultPages", headers=auth).status_code == 200
    other = sf_session.get(f"{_base(sf_emulator, '60.0')}/{job_id}/resultPages", headers=auth)
    assert other.status_code == 409


def test_result_pages_of_an_unfinished_unknown_or_empty_job(sf_emulator, sf_session, auth):
    created = sf_session.post(_base(sf_emulator), json={"operation": "query", "query": SOQL}, headers=auth).json()
    early = sf_session.get(f"{_base(sf_emulator)}/{created['id']}/resultPages", headers=auth)
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    unknown = sf_session.get(f"{_base(sf_emulator)}/750000000000000AAA/resultPages", headers=auth)
    assert unknown.status_code == 404

    empty = _complete_job(sf_emulator, sf_session, auth, soql="SELECT Id FROM Contact WHERE LastName = 'no-such-name'")
    body = sf_session.get(f"{_base(sf_emulator)}/{empty}/resultPages", headers=auth).json()
    assert body == {"resultPages": [], "nextRecordsUrl": None, "done": True}
    bad = sf_session.get(f"{_base(sf_emulator)}/{empty}/resultPages", params={"locator": "garbage!"}, headers=auth)
    assert bad.status_code == 400


def test_bandwidth_fault_paces_a_results_page(sf_emulator, sf_session, auth):
    job_id = _complete_job(sf_emulator, sf_session, auth)
    url = f"{_base(sf_emulator)}/{job_id}/results"
    plain = {**auth, "Accept-Encoding": "identity"}
    size = len(sf_session.get(url, headers=plain).content)
    sf_emulator.faults.set(bandwidth_kbps=800)  # 100,000 bytes a second
    started = time.monotonic()
    paced = sf_session.get(url, headers=plain)
    elapsed = time.monotonic() - started
    sf_emulator.faults.clear()
    assert paced.status_code == 200 and len(paced.content) == size
    # A lower bound only: the body cannot arrive faster than the limit lets it.
    assert elapsed >= 0.9 * size / 100_000


def test_bandwidth_setting_is_checked(sf_emulator):
    with pytest.raises(ValueError, match="bandwidth_kbps"):
        sf_emulator.faults.set(bandwidth_kbps=-1)
