"""Retry policy, header parsing, error bodies and REST record flattening."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from salesforce_elt.airflow.hooks.errors import (
    BulkQueryNotSupportedError,
    SalesforceApiError,
    error_from_body,
)
from salesforce_elt.airflow.hooks.records import flatten_record
from salesforce_elt.airflow.hooks.retry import (
    RetryPolicy,
    is_transient_status,
    parse_api_usage,
    parse_retry_after,
)


def test_full_jitter_delay_stays_within_the_exponential_cap():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    for attempt in range(8):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= min(8.0, 2**attempt) for d in delays)
    assert len({round(policy.delay(5), 6) for _ in range(20)}) > 1  # jittered, not constant


def test_retry_after_is_honoured_and_bounded():
    policy = RetryPolicy(max_retries=3, backoff_base=0.01, max_retry_after=120)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.should_retry(0, retry_after=100)
    assert not policy.should_retry(0, retry_after=3600)
    assert policy.should_retry(2) and not policy.should_retry(3)


def test_retry_after_header_forms():
    assert parse_retry_after("12") == 12.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_transient_statuses():
    # 420 and 406 come from Salesforce's edge and succeed when asked again.
    assert all(is_transient_status(s) for s in (406, 420, 429, 500, 502, 503, 504))
    assert not any(is_transient_status(s) for s in (400, 401, 403, 404, 405, 409, 412, 415))


def test_edge_answers_without_a_json_body_are_named():
    page = "<!DOCTYPE html><html><body><p>We are setting things up.\n This process can take</p></body></html>"
    error = error_from_body(420, page, "/services/data/v59.0/jobs/query")
    assert (error.error_code, error.status) == ("HTTP_420", 420)
    assert error.message == "We are setting things up. This process can take"
    empty = error_from_body(406, "", "/services/data/v59.0/jobs/query/750x")
    assert (empty.error_code, empty.message) == ("HTTP_406", "(empty body)")
    assert (
        str(empty) == "Salesforce HTTP_406 (HTTP 406) on /services/data/v59.0/jobs/query/750x: (empty body)"
    )


def test_api_usage_header():
    assert parse_api_usage("api-usage=18/15000") == "18/15000"
    assert parse_api_usage("api-usage=18/15000, per-app-api-usage=2/250(appName=x)") == "18/15000"
    assert parse_api_usage("per-app-api-usage=2/250(appName=x)") is None
    assert parse_api_usage(None) is None


def test_rest_error_array_is_parsed():
    body = json.dumps([{"message": "No such column 'Foo'", "errorCode": "INVALID_FIELD"}])
    error = error_from_body(400, body, "/services/data/v59.0/query")
    assert type(error) is SalesforceApiError
    assert (error.error_code, error.status, error.url_path) == (
        "INVALID_FIELD",
        400,
        "/services/data/v59.0/query",
    )
    assert (
        str(error)
        == "Salesforce INVALID_FIELD (HTTP 400) on /services/data/v59.0/query: No such column 'Foo'"
    )


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("INVALIDENTITY", "Entity 'TaskWhoRelation' is not supported by the Bulk API."),
        ("API_ERROR", "Selecting compound data not supported in Bulk Query"),
        ("API_ERROR", "Aggregate Relationships not supported in Bulk V2 Query with CSV content type"),
    ],
)
def test_bulk_refusals_become_the_fallback_exception(code, message):
    body = json.dumps([{"message": message, "errorCode": code}])
    assert isinstance(
        error_from_body(400, body, "/services/data/v59.0/jobs/query"), BulkQueryNotSupportedError
    )
    # The same error from REST is an ordinary failure: there is nothing to fall back to.
    assert not isinstance(
        error_from_body(400, body, "/services/data/v59.0/query"), BulkQueryNotSupportedError
    )


def test_non_json_error_is_quoted_shortened():
    error = error_from_body(502, "<html>" + "x" * 2000, "/services/data/v59.0/query")
    assert error.error_code == "HTTP_502" and len(error.message) == 500


def test_flatten_record_walks_parent_paths_and_prints_booleans():
    record = {
        "attributes": {"type": "Contact"},
        "Id": "0035g0000A0Gma8AQC",
        "HasOptedOutOfEmail": False,
        "Email": None,
        "Account": {"attributes": {"type": "Account"}, "Name": "Acme", "Owner": None},
        "NumberOfEmployees": 12,
    }
    fields = ["Id", "HasOptedOutOfEmail", "Email", "Account.Name", "Account.Owner.Name", "numberofemployees"]
    assert flatten_record(record, fields) == ["0035g0000A0Gma8AQC", "false", None, "Acme", None, 12]


def test_flatten_record_refuses_compound_values():
    record = {"Id": "x", "MailingAddress": {"street": "1 Main St"}}
    with pytest.raises(SalesforceApiError, match="MailingAddress"):
        flatten_record(record, ["Id", "MailingAddress"])
