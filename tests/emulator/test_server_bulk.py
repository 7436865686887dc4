"""Bulk API 2.0 query jobs through simple-salesforce's bulk2 client and raw requests."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from tests.support.salesforce import finished_job

pytest_plugins = ["salesforce_emulator.pytest_plugin"]

WAIT = 0.1  # simple-salesforce sleeps `wait` seconds before polling (default 5)


@pytest.fixture
def jobs_url(sf_emulator):
    return f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/jobs/query"


@pytest.fixture
def auth(sf_client):
    return {"Authorization": f"Bearer {sf_client.session_id}"}


def _rows(csv_text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_text)))


def _wait_complete(sf_session, url, auth) -> dict:
    return finished_job(lambda: sf_session.get(url, headers=auth).json(), url.rsplit("/", 1)[-1])


def test_bulk2_query_pages_match_rest_count(sf_client):
    expected = sf_client.query("SELECT COUNT() FROM Contact")["totalSize"]
    pages = list(sf_client.bulk2.Contact.query(
        "SELECT Id, FirstName, LastName, Email, Account.Name FROM Contact", max_records=700, wait=WAIT))
    assert len(pages) >= -(-expected // 700)  # more when pages run short (short_bulk_pages)
    ids = []
    for page in pages:
        rows = _rows(page)
        assert rows[0] == ["Id", "FirstName", "LastName", "Email", "Account.Name"]
        ids += [row[0] for row in rows[1:]]
    assert len(ids) == len(set(ids)) == expected


def test_bulk2_download_writes_files_with_the_reported_counts(sf_client, tmp_path):
    expected = sf_client.query("SELECT COUNT() FROM Contact")["totalSize"]
    results = sf_client.bulk2.Contact.download("SELECT Id, Name FROM Contact", path=str(tmp_path),
                                               max_records=900, wait=WAIT)
    assert sum(r["number_of_records"] for r in results) == expected
    assert results[-1]["locator"] == "" and all(r["locator"] for r in results[:-1])
    for result in results:
        rows = _rows(Path(result["file"]).read_text(encoding="utf-8"))
        assert rows[0] == ["Id", "Name"] and len(rows) - 1 == result["number_of_records"]


def test_job_lifecycle_results_locators_and_gzip(sf_emulator, sf_session, sf_client, jobs_url, auth):
    created = sf_session.post(jobs_url, json={"operation": "query", "query": "SELECT Id, LastName FROM Contact"},
                              headers=auth)
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "UploadComplete" and job["id"].startswith("750") and job["object"] == "Contact"
    assert {"createdById", "createdDate", "systemModstamp", "concurrencyMode", "apiVersion"} <= set(job)

    early = sf_session.get(f"{jobs_url}/{job['id']}/results", headers=auth)
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"

    info = _wait_complete(sf_session, f"{jobs_url}/{job['id']}", auth)
    expected = sf_client.query("SELECT COUNT() FROM Contact")["totalSize"]
    assert info["state"] == "JobComplete" and info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == expected

    plain = {**auth, "Accept-Encoding": "identity"}
    first = sf_session.get(f"{jobs_url}/{job['id']}/results", params={"maxRecords": 250}, headers=plain)
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/csv")
    assert 0 < int(first.headers["Sforce-NumberOfRecords"]) <= 250  # maxRecords is a ceiling
    assert first.headers["Sforce-Limit-Info"] == f"api-usage={sf_emulator.api_counter.used}/15000"
    assert int(first.headers["Content-Length"]) == len(first.content)
    locator = first.headers["Sforce-Locator"]
    second = sf_session.get(f"{jobs_url}/{job['id']}/results", params={"maxRecords": 250, "locator": locator},
                            headers=plain)
    again = sf_session.get(f"{jobs_url}/{job['id']}/results", params={"maxRecords": 250, "locator": locator},
                           headers={**auth, "Accept-Encoding": "gzip"})
    assert again.headers["Content-Encoding"] == "gzip"
    assert again.content == second.content  # requests decoded the gzip stream
    assert _rows(second.text)[0] == ["Id", "LastName"]

    whole = sf_session.get(f"{jobs_url}/{job['id']}/results", headers=plain)
    assert whole.headers["Sforce-Locator"] == "null"
    assert int(whole.headers["Sforce-NumberOfRecords"]) == expected
    assert whole.text.startswith(first.text) and second.text.split("\n", 1)[1] in whole.text

    bad = sf_session.get(f"{jobs_url}/{job['id']}/results", params={"locator": "garbage!"}, headers=auth)
    assert bad.status_code == 400

    listed = sf_session.get(jobs_url, headers=auth).json()
    assert listed["done"] is True and job["id"] in {j["id"] for j in listed["records"]}
    deleted = sf_session.delete(f"{jobs_url}/{job['id']}", headers=auth)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = sf_session.get(f"{jobs_url}/{job['id']}", headers=auth)
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "NOT_FOUND"
    assert not list((sf_emulator.data_dir / "bulk").glob(f"{job['id']}*"))


def test_query_all_job_sees_deleted_rows(sf_session, sf_client, jobs_url, auth):
    soql = "SELECT Id FROM Contact WHERE IsDeleted = true"
    deleted = sf_client.query_all(soql, include_deleted=True)["totalSize"]
    job = sf_session.post(jobs_url, json={"operation": "queryAll", "query": soql}, headers=auth).json()
    assert job["operation"] == "queryAll"
    info = _wait_complete(sf_session, f"{jobs_url}/{job['id']}", auth)
    assert info["numberRecordsProcessed"] == deleted


def test_abort_then_delete_and_delete_refused_while_running(sf_session, jobs_url, auth):
    job = sf_session.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Contact"},
                          headers=auth).json()
    refused = sf_session.delete(f"{jobs_url}/{job['id']}", headers=auth)
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "API_ERROR"
    aborted = sf_session.patch(f"{jobs_url}/{job['id']}", json={"state": "Aborted"}, headers=auth)
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    time.sleep(0.3)  # longer than bulk_delay: the job must stay Aborted
    assert sf_session.get(f"{jobs_url}/{job['id']}", headers=auth).json()["state"] == "Aborted"
    results = sf_session.get(f"{jobs_url}/{job['id']}/results", headers=auth)
    assert results.status_code == 412
    again = sf_session.patch(f"{jobs_url}/{job['id']}", json={"state": "Aborted"}, headers=auth)
    assert again.status_code == 400
    assert sf_session.delete(f"{jobs_url}/{job['id']}", headers=auth).status_code == 204


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM TaskWhoRelation", "INVALIDENTITY"),
        ("SELECT COUNT() FROM Contact", None),
        ("SELECT Id, MailingAddress FROM Contact", None),
        ("SELECT Id, Nope FROM Contact", "INVALID_FIELD"),
    ],
)
def test_bulk_refusals_are_400_at_creation(sf_client, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf_client.bulk2.Contact.query(soql, wait=WAIT).__next__()
    assert error.value.status == 400
    assert isinstance(error.value.content, list) and error.value.content[0]["errorCode"]
    if code:
        assert error.value.content[0]["errorCode"] == code


def test_results_of_an_unknown_job_are_404(sf_session, jobs_url, auth):
    response = sf_session.get(f"{jobs_url}/750000000000000AAA/results", headers=auth)
    assert response.status_code == 404


def test_bulk_job_counter_and_audit_methods(sf_emulator, sf_client):
    before = sf_client.limits()["DailyBulkV2QueryJobs"]["Remaining"]
    sf_emulator.reset_audit()
    list(sf_client.bulk2.Contact.query("SELECT Id FROM Contact", max_records=1000, wait=WAIT))
    assert sf_client.limits()["DailyBulkV2QueryJobs"]["Remaining"] == before - 1
    entries = [e for e in sf_emulator.audit() if e["kind"] == "api"]
    job_calls = [e for e in entries if "/jobs/" in e["path"]]
    assert {e["method"] for e in job_calls} <= {"GET", "POST"}
    assert len({e["job_id"] for e in job_calls}) == 1
    assert [e["method"] for e in job_calls].count("POST") == 1


def test_412_maps_to_general_error(sf_client):
    job = sf_client.bulk2.Contact._client.create_job("query", "SELECT Id FROM Contact")
    with pytest.raises(SalesforceGeneralError) as error:
        sf_client.bulk2.Contact._client.get_query_results(job["id"])
    assert error.value.status == 412


# ---- wire-format variety (salesforce_emulator.wire; the fixture's is the realistic one) -----------
def _bulk_results(sf_session, jobs_url, auth, soql: str) -> str:
    job = sf_session.post(jobs_url, json={"operation": "query", "query": soql}, headers=auth).json()
    assert _wait_complete(sf_session, f"{jobs_url}/{job['id']}", auth)["state"] == "JobComplete"
    return sf_session.get(f"{jobs_url}/{job['id']}/results", headers=auth).text


def _an_account(sf_emulator) -> str:
    return next(iter(sf_emulator.org.query("SELECT Id FROM Account ORDER BY Id LIMIT 1").records()))["Id"]


def test_every_field_is_quoted_and_doubles_print_as_java_does(sf_emulator, sf_session, jobs_url, auth):
    """As the Bulk API 2.0 guide's results example: "Id","Name" / "005R0000000UyrWIAS","Jane Dunn"."""
    assert sf_emulator.wire.quote_all and sf_emulator.wire.java_doubles
    account = _an_account(sf_emulator)
    sf_emulator.org.set_values("Account", {account: {"AnnualRevenue": 16147805824397.0, "Phone": None,
                                                     "Description": "one\rtwo"}})
    text = _bulk_results(sf_session, jobs_url, auth,
                         f"SELECT Id, AnnualRevenue, Phone, Description FROM Account WHERE Id = '{account}'")
    assert text == f'"Id","AnnualRevenue","Phone","Description"\n"{account}","1.6147805824397E13","","one\rtwo"\n'
    assert _rows(text)[1] == [account, "1.6147805824397E13", "", "one\rtwo"]


def test_plain_csv_quotes_only_what_rfc_4180_needs_a_lone_cr_included(sf_emulator):
    """Without quote_all the csv module's minimal quoting, plus CR: it left a lone CR bare, which ends a
    record for CSV readers (pyarrow, COPY) and split the record in two."""
    account = _an_account(sf_emulator)
    sf_emulator.org.set_values("Account", {account: {"Description": "one\rtwo", "Phone": "555, ext. 1",
                                                     "Website": None}})
    out = io.BytesIO()
    cursor = sf_emulator.org.query(f"SELECT Id, Description, Phone, Website FROM Account WHERE Id = '{account}'",
                                   api="bulk")
    assert cursor.write_csv(out) == 1
    assert out.getvalue().decode() == f'"{account}","one\rtwo","555, ext. 1",""\n'.join(
        ["Id,Description,Phone,Website\n", ""])
    cursor = sf_emulator.org.query(f"SELECT Id, Phone FROM Account WHERE Id = '{account}'", api="bulk")
    out = io.BytesIO()
    cursor.write_csv(out, java_doubles=True)
    assert out.getvalue().decode() == f'Id,Phone\n{account},"555, ext. 1"\n'


def test_java_double_text():
    from salesforce_emulator.wire import java_double

    cases = {16147805824397.0: "1.6147805824397E13", 99213206.0: "9.9213206E7", 9.0e7: "9.0E7", 1e7: "1.0E7",
             9999999.0: "9999999.0", 1234.5: "1234.5", 100.0: "100.0", 0.001: "0.001", 0.0001: "1.0E-4",
             -1.234e-05: "-1.234E-5", 0.0: "0.0", 1.7976931348623157e308: "1.7976931348623157E308",
             37.7749: "37.7749"}
    assert {value: java_double(value) for value in cases} == cases
    assert java_double(-0.0) == "-0.0"


def test_bulk_pages_hold_fewer_records_than_max_records_at_times(sf_emulator, sf_session, jobs_url, auth):
    """Wire option short_bulk_pages (on in sf_emulator): maxRecords is a ceiling, not a page size."""
    assert sf_emulator.wire.short_bulk_pages
    job = sf_session.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Contact"}, headers=auth).json()
    info = _wait_complete(sf_session, f"{jobs_url}/{job['id']}", auth)
    sizes, ids, locator = [], [], None
    while locator != "null":
        params = {"maxRecords": 300, **({"locator": locator} if locator else {})}
        page = sf_session.get(f"{jobs_url}/{job['id']}/results", params=params, headers=auth)
        rows = _rows(page.text)
        assert rows[0] == ["Id"] and int(page.headers["Sforce-NumberOfRecords"]) == len(rows) - 1
        sizes.append(len(rows) - 1)
        ids += [r[0] for r in rows[1:]]
        locator = page.headers["Sforce-Locator"]
    assert max(sizes) <= 300 and min(sizes[:-1]) < 300 and sizes[:-1].count(300) >= 1
    assert len(ids) == len(set(ids)) == info["numberRecordsProcessed"]


def test_a_job_without_rows_answers_an_empty_body(sf_emulator, sf_session, jobs_url, auth):
    """Wire option empty_bulk_body (on in sf_emulator): no header row for no rows (the harder case)."""
    assert sf_emulator.wire.empty_bulk_body
    soql = "SELECT Id, LastName FROM Contact WHERE LastName = 'no such name'"
    job = sf_session.post(jobs_url, json={"operation": "query", "query": soql}, headers=auth).json()
    assert _wait_complete(sf_session, f"{jobs_url}/{job['id']}", auth)["numberRecordsProcessed"] == 0
    page = sf_session.get(f"{jobs_url}/{job['id']}/results", params={"maxRecords": 100}, headers=auth)
    assert page.status_code == 200 and page.content == b""
    assert page.headers["Sforce-NumberOfRecords"] == "0" and page.headers["Sforce-Locator"] == "null"


def test_results_with_another_api_version_than_the_job_are_409(sf_emulator, sf_session, jobs_url, auth):
    """Get Results for a Query Job: the job's own API version, or 409."""
    job = sf_session.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Contact"}, headers=auth).json()
    _wait_complete(sf_session, f"{jobs_url}/{job['id']}", auth)
    version = f"v{job['apiVersion']:.1f}"
    assert version in jobs_url
    other = sf_session.get(f"{jobs_url.replace(version, 'v60.0')}/{job['id']}/results", headers=auth)
    assert other.status_code == 409 and other.json()[0]["errorCode"] == "API_ERROR"
    assert sf_session.get(f"{jobs_url}/{job['id']}/results", headers=auth).status_code == 200
