"""The retry policy as tenacity controllers: what the sync hook's ``request`` and the async hook run."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.hooks.retry import RetryPolicy, Transient, transient_answer

POLICY = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.01, max_retry_after=60)


class Flaky:
    """Fails with the given exceptions in turn, then answers "ok"; counts the attempts."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def run_sync(policy: RetryPolicy, call: Flaky, sleeps: list[float], log: logging.Logger) -> str:
    for attempt in policy.retrying("GET", "/services/data/v59.0/limits", log, sleep=sleeps.append):
        with attempt:
            return call()
    raise AssertionError("unreachable")


def run_async(policy: RetryPolicy, call: Flaky, sleeps: list[float], log: logging.Logger) -> str:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> str:
        async for attempt in policy.async_retrying("GET", "/services/data/v59.0/limits", log, sleep=sleep):
            with attempt:
                return call()
        raise AssertionError("unreachable")

    return asyncio.run(go())


RUNNERS = {"sync": run_sync, "async": run_async}


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.WARNING, logger="retry-test")
    return logging.getLogger("retry-test")


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_a_wait_is_never_shorter_than_retry_after_and_is_logged_first(mode, log, caplog):
    sleeps: list[float] = []
    call = Flaky(Transient("HTTP 429 REQUEST_LIMIT_EXCEEDED", 2.0), Transient("ConnectionError"))
    assert RUNNERS[mode](POLICY, call, sleeps, log) == "ok"
    assert call.attempts == 3
    assert sleeps[0] == 2.0 and 0 <= sleeps[1] <= 0.002  # Retry-After, then the jittered backoff
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "GET /services/data/v59.0/limits: HTTP 429 REQUEST_LIMIT_EXCEEDED; retry 1/3 in 2.0s",
        "GET /services/data/v59.0/limits: ConnectionError; retry 2/3 in 0.0s",
    ]


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_the_attempt_budget_ends_in_retries_exhausted(mode, log):
    sleeps: list[float] = []
    call = Flaky(*(Transient("HTTP 503 SERVER_UNAVAILABLE") for _ in range(10)))
    with pytest.raises(SalesforceApiError) as err:
        RUNNERS[mode](POLICY, call, sleeps, log)
    assert call.attempts == POLICY.max_retries + 1 and len(sleeps) == POLICY.max_retries
    assert (err.value.error_code, err.value.url_path) == ("RETRIES_EXHAUSTED", "/services/data/v59.0/limits")
    assert err.value.message == "GET failed after 4 attempt(s): HTTP 503 SERVER_UNAVAILABLE"


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_a_retry_after_beyond_the_limit_fails_at_once(mode, log):
    sleeps: list[float] = []
    call = Flaky(Transient("HTTP 429 REQUEST_LIMIT_EXCEEDED", 3600.0))
    with pytest.raises(SalesforceApiError, match=r"after 1 attempt\(s\).*Retry-After 3600s"):
        RUNNERS[mode](POLICY, call, sleeps, log)
    assert call.attempts == 1 and sleeps == []


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_other_errors_are_not_retried(mode, log):
    sleeps: list[float] = []
    call = Flaky(SalesforceApiError("INVALID_FIELD", "No such column", 400, "/q"))
    with pytest.raises(SalesforceApiError, match="INVALID_FIELD"):
        RUNNERS[mode](POLICY, call, sleeps, log)
    assert call.attempts == 1 and sleeps == []


def test_transient_statuses_become_retries_and_a_query_timeout_never_does():
    edge = transient_answer(420, "<html><body>We are setting things up.</body></html>", "/jobs/query", None)
    assert isinstance(edge, Transient) and edge.reason == "HTTP 420 HTTP_420" and edge.retry_after is None
    throttled = transient_answer(429, "[]", "/query", "7")
    assert throttled.retry_after == 7.0
    body = json.dumps(
        [{"errorCode": "QUERY_TIMEOUT", "message": "Your query request was running for too long."}]
    )
    with pytest.raises(SalesforceApiError) as err:
        transient_answer(500, body, "/services/data/v59.0/query", None)
    assert (err.value.error_code, err.value.status) == ("QUERY_TIMEOUT", 500)


def test_the_one_off_questions_agree_with_the_controller():
    policy = RetryPolicy(max_retries=2, backoff_base=1.0, backoff_max=8.0, max_retry_after=10)
    assert [policy.should_retry(n) for n in range(4)] == [True, True, False, False]
    assert not policy.should_retry(0, retry_after=11) and policy.should_retry(0, retry_after=10)
    assert all(0 <= policy.delay(3) <= 8.0 for _ in range(50)) and policy.delay(0, retry_after=9.5) == 9.5
