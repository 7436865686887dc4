"""Fault injection: every failure mode is observed by real simple-salesforce as on Salesforce."""

from __future__ import annotations

import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from salesforce_emulator.faults import Faults

pytest_plugins = ["salesforce_emulator.pytest_plugin"]

WAIT = 0.1


def _client_credentials(info):
    return {"grant_type": "client_credentials", "client_id": info["client_id"], "client_secret": info["client_secret"]}


@pytest.fixture
def admin(sf_emulator):
    return f"{sf_emulator.connection_info['instance_url']}/__emulator__"


@pytest.mark.parametrize("status", [500, 503])
def test_fail_next_gives_server_errors_then_recovers(sf_emulator, sf_client, status):
    sf_emulator.faults.set(fail_next=2, error_status=status)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as error:
            sf_client.limits()
        assert error.value.status == status
        assert error.value.content[0]["errorCode"] in ("UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE")
    assert sf_client.limits()["DailyApiRequests"]


def test_throttle_burst_is_429(sf_emulator, sf_client):
    sf_emulator.faults.set(throttle_next=1)
    with pytest.raises(SalesforceGeneralError) as error:
        sf_client.query("SELECT Id FROM Contact LIMIT 1")
    assert error.value.status == 429
    assert sf_client.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1


def test_error_rate_is_deterministic_for_a_seed():
    def pattern():
        faults = Faults()
        faults.set(error_rate=0.3, seed=7)
        return [faults.take_error() for _ in range(50)]

    first = pattern()
    assert first == pattern()
    assert 5 <= sum(1 for s in first if s == 503) <= 25


def test_request_limit_exceeded_fault(sf_emulator, sf_client):
    sf_emulator.faults.set(limit_exceeded=True)
    with pytest.raises(SalesforceRefusedRequest) as error:
        sf_client.limits()
    assert error.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_latency_is_added(sf_emulator, sf_client):
    sf_emulator.faults.set(latency_ms=300)
    started = time.monotonic()
    sf_client.limits()
    assert time.monotonic() - started >= 0.3


def test_sessions_expire_after_n_calls(sf_emulator, sf_client):
    sf_emulator.faults.set(expire_sessions_after=2)
    sf_client.limits()
    sf_client.limits()
    with pytest.raises(SalesforceExpiredSession) as error:
        sf_client.limits()
    assert error.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_bulk_job_fails_with_error_message(sf_emulator, sf_client):
    sf_emulator.faults.set(bulk_fail_next=1)
    with pytest.raises(SalesforceOperationError, match="Retried more than 15 times"):
        list(sf_client.bulk2.Contact.query("SELECT Id FROM Contact", wait=WAIT))


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_connection_reset_mid_bulk_page(sf_emulator, sf_session, sf_client, encoding):
    sf_session.headers["Accept-Encoding"] = encoding
    client = sf_client.bulk2.Contact._client
    job = client.create_job("query", "SELECT Id, FirstName, LastName, Email FROM Contact")
    client.wait_for_job(job["id"], True, WAIT)
    sf_emulator.faults.set(reset_bulk_page_next=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        client.get_query_results(job["id"], max_records=1000)
    # The same page works on retry: locators stay valid.
    page = client.get_query_results(job["id"], max_records=1000)
    again = client.get_query_results(job["id"], max_records=1000)
    # maxRecords is a ceiling (short_bulk_pages); the page is the same each time it is fetched.
    assert 0 < page["number_of_records"] <= 1000 and page == again


def test_connection_reset_mid_rest_page(sf_emulator, sf_client):
    sf_emulator.faults.set(reset_rest_page_next=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        sf_client.query_all("SELECT Id, Name FROM Contact")
    assert sf_client.query_all("SELECT Id FROM Contact")["totalSize"] > 0


@pytest.mark.parametrize(
    ("status", "raised"), [(500, SalesforceGeneralError), (400, SalesforceMalformedRequest)]
)
def test_query_timeout_for_large_results(sf_emulator, sf_client, status, raised):
    """QUERY_TIMEOUT's status is undocumented: 500 by default (the harder case), 400 on request."""
    if status == 500:
        sf_emulator.faults.set(query_timeout_rows=10)
    else:
        sf_emulator.faults.set(query_timeout_rows=10, query_timeout_status=status)
    with pytest.raises(raised) as error:
        sf_client.query("SELECT Id FROM Contact")
    assert error.value.status == status
    assert error.value.content[0] == {
        "message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT", "fields": []
    }
    assert sf_client.query("SELECT Id FROM Contact LIMIT 5")["totalSize"] == 5


def test_admin_endpoint_sets_and_clears_faults_and_is_never_faulted(sf_emulator, sf_session, sf_client, admin):
    response = sf_session.post(f"{admin}/faults", json={"fail_next": 5, "error_status": 503})
    assert response.status_code == 200 and response.json()["fail_next"] == 5
    # Neither admin calls nor token requests consume the faults.
    assert sf_session.get(f"{admin}/audit").status_code == 200
    info = sf_emulator.connection_info
    token = sf_session.post(f"{info['login_url']}/services/oauth2/token", data=_client_credentials(info))
    assert token.status_code == 200
    assert sf_session.get(f"{admin}/faults").json()["fail_next"] == 5
    with pytest.raises(SalesforceGeneralError):
        sf_client.limits()
    assert sf_session.delete(f"{admin}/faults").json()["fail_next"] == 0
    assert sf_client.limits()
    bad = sf_session.post(f"{admin}/faults", json={"no_such_fault": 1})
    assert bad.status_code == 400 and "no_such_fault" in bad.json()["error"]


def test_login_faults_only_when_configured(sf_emulator, sf_session):
    info = sf_emulator.connection_info
    url = f"{info['login_url']}/services/oauth2/token"
    sf_emulator.faults.set(fail_next=1, include_login=True)
    failed = sf_session.post(url, data=_client_credentials(info))
    assert failed.status_code == 503
    ok = sf_session.post(url, data=_client_credentials(info))
    assert ok.status_code == 200


def test_admin_can_invalidate_every_session(sf_session, sf_client, admin):
    assert sf_client.limits()
    assert sf_session.delete(f"{admin}/sessions").status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        sf_client.limits()


def test_edge_420_is_an_html_page_and_406_has_no_body(sf_emulator, sf_session, sf_client):
    # What Salesforce's edge sends (Airbyte's source-salesforce retries both): not a JSON error array.
    url = f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/limits"
    headers = {"Authorization": f"Bearer {sf_client.session_id}"}
    sf_emulator.faults.set(fail_next=1, error_status=420)
    edge = sf_session.get(url, headers=headers)
    assert edge.status_code == 420 and edge.headers["Content-Type"].startswith("text/html")
    assert "We are setting things up" in edge.text
    sf_emulator.faults.set(fail_next=1, error_status=406)
    empty = sf_session.get(url, headers=headers)
    assert empty.status_code == 406 and empty.content == b"" and "Content-Type" not in empty.headers
    assert sf_session.get(url, headers=headers).status_code == 200  # then it answers again
    # simple-salesforce has no retry for them: they surface as general errors.
    sf_emulator.faults.set(fail_next=1, error_status=420)
    with pytest.raises(SalesforceGeneralError) as error:
        sf_client.limits()
    assert error.value.status == 420


def test_bulk_scope_faults_only_bulk_calls(sf_emulator, sf_client):
    sf_emulator.faults.set(fail_next=2, error_status=406, error_scope="bulk")
    # REST calls pass untouched and consume nothing ...
    assert sf_client.limits()["DailyApiRequests"]
    assert sf_client.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1
    assert sf_emulator.faults.snapshot()["fail_next"] == 2
    # ... Bulk 2.0 calls get the burst, then work.
    client = sf_client.bulk2.Contact._client
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as error:
            client.create_job("query", "SELECT Id FROM Contact")
        assert error.value.status == 406
    assert client.create_job("query", "SELECT Id FROM Contact")["id"].startswith("750")


def test_unknown_error_status_or_scope_is_refused():
    faults = Faults()
    with pytest.raises(ValueError, match=r"error_status must be one of \[406, 420, 429, 500, 502, 503\]"):
        faults.set(error_status=418)
    with pytest.raises(ValueError, match="error_scope must be one of"):
        faults.set(error_scope="rest")


def test_sessions_expire_at_the_first_call_to_a_path(sf_emulator, sf_client):
    sf_emulator.faults.set(expire_sessions_at=r"/limits/recordCount\?")
    assert sf_client.limits()  # other paths pass
    with pytest.raises(SalesforceExpiredSession):
        sf_client.restful("limits/recordCount", params={"sObjects": "Contact"})
    assert sf_emulator.faults.snapshot()["expire_sessions_at"] is None  # once only
    with pytest.raises(ValueError, match="expire_sessions_at is not a regular expression"):
        Faults().set(expire_sessions_at="(")
