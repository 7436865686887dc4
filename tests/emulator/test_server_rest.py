"""REST query paging, describe, limits, feeds and error shapes, through real simple-salesforce."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

pytest_plugins = ["salesforce_emulator.pytest_plugin"]


def _page_sizes(wire, batch: int, total: int) -> list[int]:
    """The page sizes the emulator serves for ``total`` records at ``batch`` (its wire format may
    serve pages shorter than asked for, as Salesforce may)."""
    sizes, row = [], 0
    while row < total:
        sizes.append(min(wire.page_size(batch, row), total - row))
        row += sizes[-1]
    return sizes or [0]


def _count(sf_client, soql_from_where: str) -> int:
    return sf_client.query(f"SELECT COUNT() {soql_from_where}")["totalSize"]


def _auth(sf_client) -> dict:
    return {"Authorization": f"Bearer {sf_client.session_id}"}


def test_versions_list_needs_no_session(sf_emulator, sf_session):
    response = sf_session.get(f"{sf_emulator.connection_info['instance_url']}/services/data/")
    assert response.status_code == 200
    versions = {v["version"] for v in response.json()}
    assert "59.0" in versions
    assert all(v["url"] == f"/services/data/v{v['version']}" for v in response.json())


def test_resources_for_any_version_and_trailing_slashes(sf_emulator, sf_session, sf_client):
    base = sf_emulator.connection_info["instance_url"]
    for path in ("/services/data/v42.0", "/services/data/v61.0/", "/services/data/v59.0/limits/",
                 "/services/data/v59.0/sobjects/Contact/describe/", "/services/data/v59.0/sobjects/"):
        response = sf_session.get(base + path, headers=_auth(sf_client))
        assert response.status_code == 200, path
        assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    resources = sf_session.get(base + "/services/data/v42.0", headers=_auth(sf_client)).json()
    assert resources["query"] == "/services/data/v42.0/query"


def test_query_all_matches_the_store_count(sf_emulator, sf_client):
    result = sf_client.query_all("SELECT Id, Name, Account.Name FROM Contact")
    expected = sf_emulator.org.record_counts(["Contact"])[0]["count"]
    assert result["totalSize"] == expected == len(result["records"])
    assert _count(sf_client, "FROM Contact") == expected
    ids = [r["Id"] for r in result["records"]]
    assert len(set(ids)) == len(ids)
    assert all(r["attributes"]["type"] == "Contact" for r in result["records"])


def test_pages_carry_total_size_and_locator_urls(sf_emulator, sf_client):
    expected = sf_emulator.org.record_counts(["Contact"])[0]["count"]
    assert expected > 400, "the fixture org must span several pages"
    headers = {"Sforce-Query-Options": "batchSize=200"}
    page = sf_client.query("SELECT Id FROM Contact", headers=headers)
    sizes = [len(page["records"])]
    while not page["done"]:
        assert page["totalSize"] == expected
        assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-\d+", page["nextRecordsUrl"])
        assert page["nextRecordsUrl"].endswith(f"-{sum(sizes)}")
        page = sf_client.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        sizes.append(len(page["records"]))
    assert "nextRecordsUrl" not in page and page["totalSize"] == expected
    assert sum(sizes) == expected and sizes == _page_sizes(sf_emulator.wire, 200, expected)
    assert all(0 < size <= 200 for size in sizes)


def test_query_all_iter_and_query_all_agree_and_pages_can_be_refetched(sf_client):
    streamed = [r["Id"] for r in sf_client.query_all_iter("SELECT Id FROM Contact ORDER BY Id")]
    first = sf_client.query("SELECT Id FROM Contact ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=500"})
    again_a = sf_client.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    again_b = sf_client.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert again_a == again_b
    fetched = first["records"] + again_a["records"]
    assert [r["Id"] for r in fetched] == streamed[: len(fetched)]
    assert streamed == sorted(streamed)


def test_query_all_includes_deleted_rows(sf_emulator, sf_session, sf_client):
    admin = f"{sf_emulator.connection_info['instance_url']}/__emulator__/mutate"
    response = sf_session.post(admin, json={"object": "Contact", "delete": 3})
    assert response.status_code == 200 and len(response.json()["deleted"]) == 3
    live = _count(sf_client, "FROM Contact")
    deleted = sf_client.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert deleted["totalSize"] >= 3
    everything = sf_client.query_all("SELECT Id FROM Contact", include_deleted=True)
    assert everything["totalSize"] == live + deleted["totalSize"]


def test_describe_global_and_object(sf_client):
    names = {o["name"] for o in sf_client.describe()["sobjects"]}
    assert {"Account", "Contact", "Task", "User"} <= names
    contact = sf_client.Contact.describe()
    fields = {f["name"]: f for f in contact["fields"]}
    assert fields["Id"]["type"] == "id" and fields["MailingAddress"]["type"] == "address"
    assert sf_client.Contact.metadata()["objectDescribe"]["name"] == "Contact"


def test_limits_and_limit_header_track_the_real_counter(sf_emulator, sf_client):
    limits = sf_client.limits()
    usage = sf_client.api_usage["api-usage"]
    assert usage.used == sf_emulator.api_counter.used
    assert limits["DailyApiRequests"] == {"Max": usage.total, "Remaining": usage.total - usage.used}
    for key in ("DailyBulkV2QueryJobs", "DailyBulkV2QueryFileStorageMB", "DailyBulkApiBatches", "DataStorageMB"):
        assert limits[key]["Max"] >= limits[key]["Remaining"] >= 0


def test_record_count(sf_emulator, sf_client):
    body = sf_client.restful("limits/recordCount", params={"sObjects": "Contact,Account"})
    counts = {row["name"]: row["count"] for row in body["sObjects"]}
    assert counts["Contact"] == _count(sf_client, "FROM Contact")
    assert counts["Account"] == _count(sf_client, "FROM Account")


def test_updated_and_deleted_feeds(sf_emulator, sf_session, sf_client):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    admin = f"{sf_emulator.connection_info['instance_url']}/__emulator__/mutate"
    # late_share=1 stamps the updates minutes in the past: the feeds cover only whole minutes
    # up to now, as Salesforce's do, so fresh changes would not show yet.
    changed = sf_session.post(admin, json={"object": "Contact", "update": 5, "hard_delete": 2, "late_share": 1.0}).json()
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    updated = read_feed(sf_client, "updated", start, end)
    assert set(changed["updated"]) <= set(updated["ids"])
    deleted = read_feed(sf_client, "deleted", start, end)
    assert {"deletedRecords", "earliestDateAvailable", "latestDateCovered"} <= set(deleted)
    everything = {r["Id"] for r in sf_client.query_all_iter("SELECT Id FROM Contact", include_deleted=True)}
    assert len(changed["hard_deleted"]) == 2 and not set(changed["hard_deleted"]) & everything


def read_feed(sf_client, kind: str, start: dt.datetime, end: dt.datetime) -> dict:
    """A feed read as the SOAP guide says: while latestDateCovered is before the end (a lagging
    answer), the next call starts there; the answers' ids and deletions together."""
    ids, deletions = [], []
    for _ in range(4):
        params = {"start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}
        answer = sf_client.restful(f"sobjects/Contact/{kind}/", params=params)
        ids += answer.get("ids", [])
        deletions += answer.get("deletedRecords", [])
        covered = dt.datetime.fromisoformat(answer["latestDateCovered"].replace("+0000", "+00:00"))
        if covered >= min(end, dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0):
            return {**answer, "ids": ids, "deletedRecords": deletions}
        start = min(covered, end - dt.timedelta(minutes=2))  # /deleted wants more than a minute
    raise AssertionError(f"the {kind} feed still lags after 4 calls")


def test_feeds_lag_latest_date_covered_and_list_nothing_after_it(sf_emulator, sf_session, sf_client):
    """Fault feed_lag_minutes: latestDateCovered stays N minutes behind the end, never before the start."""
    admin = f"{sf_emulator.connection_info['instance_url']}/__emulator__/mutate"
    gone = sf_session.post(admin, json={"object": "Contact", "hard_delete": 2}).json()["hard_deleted"]
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=30), now + dt.timedelta(minutes=1)
    params = {"start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}
    sf_emulator.faults.set(feed_lag_minutes=5)
    for kind in ("deleted", "updated"):
        answer = sf_client.restful(f"sobjects/Contact/{kind}/", params=params)
        covered = dt.datetime.fromisoformat(answer["latestDateCovered"].replace("+0000", "+00:00"))
        assert covered == now.replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    assert not set(gone) & {e["id"] for e in answer.get("deletedRecords", [])}
    deleted = sf_client.restful("sobjects/Contact/deleted/", params=params)
    assert not set(gone) & {e["id"] for e in deleted["deletedRecords"]}  # after latestDateCovered
    sf_emulator.faults.set(feed_lag_minutes=60)  # never before the start
    deleted = sf_client.restful("sobjects/Contact/deleted/", params=params)
    assert deleted["latestDateCovered"].startswith(start.strftime("%Y-%m-%dT%H:%M:00"))
    sf_emulator.faults.clear()


def test_the_realistic_wire_lags_every_other_feed_answer(sf_emulator, sf_client):
    assert sf_emulator.wire.lagging_feeds
    now = dt.datetime.now(dt.UTC)
    params = {
        "start": (now - dt.timedelta(minutes=30)).isoformat(timespec="seconds"),
        "end": (now + dt.timedelta(minutes=1)).isoformat(timespec="seconds"),
    }
    floor = now.replace(second=0, microsecond=0)
    lags = []
    for _ in range(6):
        answer = sf_client.restful("sobjects/Contact/deleted/", params=params)
        covered = dt.datetime.fromisoformat(answer["latestDateCovered"].replace("+0000", "+00:00"))
        lags.append(round((floor - covered).total_seconds() / 60))
    assert lags.count(0) == 3 and all(0 <= lag <= 3 for lag in lags) and max(lags) > 0


def test_feed_without_dates_is_400(sf_client):
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.restful("sobjects/Contact/updated/", params={"start": "2024-01-01T00:00:00Z"})


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELEC Id FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id, Foo__c FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM NoSuchObject", "INVALID_TYPE"),
    ],
)
def test_query_errors_are_400_arrays(sf_client, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf_client.query(soql)
    assert error.value.status == 400
    assert error.value.content[0]["errorCode"] == code


def test_bad_locator_is_invalid_query_locator(sf_client):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf_client.query_more("/services/data/v59.0/query/01gAAAAAAAAAAAAAAA-2000", identifier_is_url=True)
    assert error.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_unknown_object_and_resource_are_404(sf_emulator, sf_session, sf_client):
    with pytest.raises(SalesforceResourceNotFound) as error:
        sf_client.NoSuchThing__c.describe()
    assert error.value.content[0]["errorCode"] == "NOT_FOUND"
    response = sf_session.get(f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/nope",
                              headers=_auth(sf_client))
    assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"


def test_error_responses_still_carry_the_limit_header(sf_emulator, sf_session, sf_client):
    response = sf_session.get(f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/query",
                              params={"q": "SELECT Nope FROM Contact"}, headers=_auth(sf_client))
    assert response.status_code == 400
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={sf_emulator.api_counter.used}/15000"


def test_every_counted_call_is_audited(sf_emulator, sf_client):
    sf_emulator.reset_audit()
    before = sf_emulator.api_counter.used
    sf_client.query_all("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=1000"})
    sf_client.limits()
    entries = [e for e in sf_emulator.audit() if e["kind"] == "api"]
    assert len(entries) == sf_emulator.api_counter.used - before
    assert {e["method"] for e in entries} == {"GET"}
    assert entries[-1]["api_usage"] == sf_emulator.api_counter.used
    assert all(e["status"] == 200 for e in entries)


def test_schema_drift_through_the_admin_endpoint(sf_emulator, sf_session, sf_client):
    admin = f"{sf_emulator.connection_info['instance_url']}/__emulator__/schema"
    added = sf_session.post(f"{admin}/add-field", json={"object": "Contact", "field": "Drift_Test__c", "type": "string",
                                                         "attributes": {"length": 40}})
    assert added.status_code == 200
    fields = {f["name"]: f for f in sf_client.Contact.describe()["fields"]}
    assert fields["Drift_Test__c"]["length"] == 40
    assert sf_client.query("SELECT Id, Drift_Test__c FROM Contact LIMIT 1")["records"][0]["Drift_Test__c"] is None
    duplicate = sf_session.post(f"{admin}/add-field", json={"object": "Contact", "field": "Drift_Test__c"})
    assert duplicate.status_code == 400
    removed = sf_session.post(f"{admin}/remove-field", json={"object": "Contact", "field": "Drift_Test__c"})
    assert removed.status_code == 200
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.query("SELECT Id, Drift_Test__c FROM Contact LIMIT 1")
    missing_key = sf_session.post(f"{admin}/remove-field", json={"object": "Contact"})
    assert missing_key.status_code == 400 and "field" in missing_key.json()["error"]


def test_wrong_method_is_405(sf_emulator, sf_session, sf_client):
    response = sf_session.post(f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/limits",
                               headers=_auth(sf_client))
    assert response.status_code == 405 and response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_feed_errors_reach_the_client_as_400(sf_emulator, sf_session, sf_client, monkeypatch):
    from salesforce_emulator import store

    now = dt.datetime.now(dt.UTC)
    params = {"start": (now - dt.timedelta(days=2)).isoformat(timespec="seconds"),
              "end": now.isoformat(timespec="seconds")}
    with pytest.raises(SalesforceMalformedRequest) as unsupported:
        sf_client.restful("sobjects/TaskWhoRelation/updated/", params=params)
    assert unsupported.value.content[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"

    # 600,000 ids are out of reach of a test org: lower the data layer's threshold instead.
    admin = f"{sf_emulator.connection_info['instance_url']}/__emulator__/mutate"
    sf_session.post(admin, json={"object": "Contact", "update": 3, "late_share": 1.0})
    monkeypatch.setattr(store, "FEED_ID_LIMIT", 1)
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf_client.restful("sobjects/Contact/updated/", params=params)
    assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_concurrent_clients_get_consistent_pages(sf_emulator, sf_client):
    from concurrent.futures import ThreadPoolExecutor

    expected = sf_client.query("SELECT COUNT() FROM Contact")["totalSize"]
    used_before = sf_emulator.api_counter.used

    def run(_):
        # One requests.Session per thread: sessions are not documented as thread-safe.
        session = requests.Session()
        session.verify, session.trust_env = sf_emulator.connection_info["ca_file"], False
        client = Salesforce(instance_url=sf_emulator.connection_info["instance_url"],
                            session_id=sf_client.session_id, session=session)
        return len({r["Id"] for r in client.query_all_iter(
            "SELECT Id, Name FROM Contact", headers={"Sforce-Query-Options": "batchSize=300"})})

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run, range(4))) == [expected] * 4
    assert sf_emulator.api_counter.used - used_before == 4 * len(_page_sizes(sf_emulator.wire, 300, expected))


# ---- wire-format variety and the org's update API ---------------------------------------------------
def test_rest_pages_are_shorter_than_asked_and_vary(sf_emulator, sf_client):
    """"There is no guarantee that the requested batch size is the actual batch size" (Query Options Header)."""
    assert sf_emulator.wire.short_pages
    sizes = _page_sizes(sf_emulator.wire, 2000, _count(sf_client, "FROM Contact"))
    page = sf_client.query("SELECT Id FROM Contact")  # batchSize 2000 by default
    assert len(page["records"]) == sizes[0] < 2000 and not page["done"]
    assert len(set(_page_sizes(sf_emulator.wire, 200, 2000))) > 5  # sizes vary from page to page


def test_rest_json_prints_doubles_as_java_does_and_keeps_nul(sf_emulator, sf_session, sf_client):
    account = next(iter(sf_emulator.org.query("SELECT Id FROM Account ORDER BY Id LIMIT 1").records()))["Id"]
    sf_emulator.org.set_values("Account", {account: {"AnnualRevenue": 16147805824397.0, "Description": "a\x00b"}})
    url = f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/query"
    raw = sf_session.get(url, params={"q": f"SELECT AnnualRevenue, Description FROM Account WHERE Id = '{account}'"},
                         headers=_auth(sf_client)).text
    assert '"AnnualRevenue":1.6147805824397E13' in raw and '"Description":"a\\u0000b"' in raw
    (record,) = sf_client.query(f"SELECT AnnualRevenue, Description FROM Account WHERE Id = '{account}'")["records"]
    assert (record["AnnualRevenue"], record["Description"]) == (16147805824397.0, "a\x00b")


def test_set_values_updates_like_the_api(sf_emulator, sf_client):
    from salesforce_emulator.errors import SalesforceError

    contact = next(iter(sf_emulator.org.query("SELECT Id, SystemModstamp FROM Contact ORDER BY Id LIMIT 1").records()))
    assert sf_emulator.org.set_values("Contact", {contact["Id"]: {"Title": "", "Department": "x" * 80}}) == [
        contact["Id"]]
    (record,) = sf_client.query(f"SELECT Title, Department, SystemModstamp FROM Contact "
                                f"WHERE Id = '{contact['Id']}'")["records"]
    assert record["Title"] is None  # Salesforce stores "" as null
    assert record["Department"] == "x" * 80 and record["SystemModstamp"] >= contact["SystemModstamp"]
    with pytest.raises(SalesforceError, match="STRING_TOO_LONG"):
        sf_emulator.org.set_values("Contact", {contact["Id"]: {"Department": "x" * 81}})
    with pytest.raises(SalesforceError, match="INVALID_FIELD_FOR_INSERT_UPDATE"):
        sf_emulator.org.set_values("Contact", {contact["Id"]: {"SystemModstamp": "2020-01-01T00:00:00.000+0000"}})
    with pytest.raises(SalesforceError, match="NOT_FOUND"):
        sf_emulator.org.set_values("Contact", {"003000000000000AAA": {"Title": "x"}})


def test_wire_options_parse():
    from salesforce_emulator.wire import WireFormat

    assert WireFormat.parse("") == WireFormat()
    assert WireFormat.parse("realistic") == WireFormat(
        quote_all=True, java_doubles=True, short_pages=True, short_bulk_pages=True, empty_bulk_body=True,
        lagging_feeds=True
    )
    assert WireFormat.parse("quote_all, short_pages,max_page=7") == WireFormat(quote_all=True, short_pages=True,
                                                                               max_page=7)
    with pytest.raises(ValueError, match="unknown wire option 'quote_everything'"):
        WireFormat.parse("quote_everything")
    assert all(1 <= WireFormat.parse("short_pages,max_page=7").page_size(2000, row) <= 7 for row in range(500))


def test_uri_plus_headers_past_16384_bytes_are_refused(sf_emulator, sf_session, sf_client):
    """Past 16,384 bytes of URI plus headers: 431, or 414 when the URI alone is too long; an HTML page."""
    base = f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/query"
    auth = {"Authorization": f"Bearer {sf_client.session_id}"}

    def ask(target_bytes: int) -> requests.Response:
        url = f"{base}?q=SELECT+Id+FROM+Contact+LIMIT+1&pad="
        prepared = sf_session.prepare_request(requests.Request("GET", url, headers=auth))
        headers = {**prepared.headers, "Host": urlsplit(base).netloc}  # http.client adds Host
        head = len(f"GET {prepared.path_url} HTTP/1.1") + 2 + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 2
        return sf_session.get(url + "x" * (target_bytes - head), headers=auth)

    assert ask(16_384).status_code == 200  # exactly at the limit: served
    refused = ask(16_385)
    assert refused.status_code == 431 and refused.headers["Content-Type"].startswith("text/html")
    assert "Request Header Fields Too Large" in refused.text
    long_uri = sf_session.get(f"{base}?q=SELECT+Id+FROM+Contact&pad={'x' * 16_400}", headers=auth)
    assert long_uri.status_code == 414 and "URI Too Long" in long_uri.text
    big_header = sf_session.get(f"{base}?q=SELECT+Id+FROM+Contact+LIMIT+1", headers={**auth, "X-Pad": "y" * 16_400})
    assert big_header.status_code == 431
