"""Acceptance: unmodified simple-salesforce and Airflow's SalesforceHook against the emulator."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import requests
from simple_salesforce import Salesforce

from salesforce_emulator.client import client_credentials_token

pytest_plugins = ["salesforce_emulator.pytest_plugin"]


def test_acceptance_list(sf_emulator, sf_session, tmp_path):
    info = sf_emulator.connection_info
    token = client_credentials_token(info, sf_session)
    sf = Salesforce(instance_url=info["instance_url"], session_id=token, session=sf_session)
    store_count = sf_emulator.org.record_counts(["Contact"])[0]["count"]

    rest = sf.query_all("SELECT Id, Email, Account.Name FROM Contact")
    assert rest["totalSize"] == len(rest["records"]) == store_count
    assert sum(1 for _ in sf.query_all_iter("SELECT Id FROM Contact")) == store_count
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == store_count

    pages = list(sf.bulk2.Contact.query("SELECT Id, Email FROM Contact", max_records=800, wait=0.1))
    assert sum(len(list(csv.reader(p.splitlines()))) - 1 for p in pages) == store_count
    files = sf.bulk2.Contact.download("SELECT Id FROM Contact", path=str(tmp_path), max_records=800, wait=0.1)
    assert sum(len(Path(f["file"]).read_text().splitlines()) - 1 for f in files) == store_count

    assert "Contact" in {o["name"] for o in sf.describe()["sobjects"]}
    assert sf.Contact.describe()["name"] == "Contact"
    assert sf.limits()["DailyApiRequests"]["Remaining"] < sf.limits()["DailyApiRequests"]["Max"]
    now = dt.datetime.now(dt.UTC)
    deleted = sf.restful("sobjects/Contact/deleted/", params={
        "start": (now - dt.timedelta(days=1)).isoformat(timespec="seconds"),
        "end": now.isoformat(timespec="seconds"),
    })
    assert "deletedRecords" in deleted
    assert sf.api_usage["api-usage"].used == sf_emulator.api_counter.used


def test_airflow_salesforce_hook_test_connection(sf_emulator, sf_session, monkeypatch):
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    info = sf_emulator.connection_info
    monkeypatch.setenv("AIRFLOW_CONN_SF_EMULATOR", json.dumps({
        "conn_type": "salesforce",
        "extra": {"instance_url": info["instance_url"], "version": "59.0"},
    }))
    token = client_credentials_token(info, sf_session)
    hook = SalesforceHook(salesforce_conn_id="sf_emulator", session_id=token, session=sf_session)
    assert hook.test_connection() == (True, "Connection successfully tested")
    assert hook.make_query("SELECT Id FROM Account LIMIT 3")["totalSize"] == 3

    bad = SalesforceHook(salesforce_conn_id="sf_emulator", session_id="00Dnope!ARnope", session=sf_session)
    status, message = bad.test_connection()
    assert status is False and "INVALID_SESSION_ID" in message


def test_certificate_covers_localhost_and_the_ca_is_required(sf_emulator, sf_session):
    port = sf_emulator.connection_info["instance_url"].rsplit(":", 1)[1]
    assert sf_session.get(f"https://localhost:{port}/services/data/", timeout=10).status_code == 200
    plain = requests.Session()
    plain.trust_env = False
    try:
        plain.get(f"{sf_emulator.connection_info['instance_url']}/services/data/", timeout=10)
    except requests.exceptions.SSLError:
        return
    raise AssertionError("a client without the emulator's CA must not get through")
