"""The triggerer's transport against the emulator: the async hook's login, retries and call log, and the
trigger's event carrying its polls to the resumed task's hook (``absorb_calls``)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time

import pytest

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.hooks.async_salesforce import DeadlineReached, SalesforceAsyncApiHook
from salesforce_elt.airflow.hooks.bulk2 import SalesforceBulk2Hook
from salesforce_elt.airflow.hooks.calls import ApiCall
from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.hooks.retry import RetryPolicy
from salesforce_elt.airflow.triggers import bulk2 as trigger_module
from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger
from salesforce_emulator.server import EmulatorServer
from tests.support.deferral import trigger_event
from tests.support.logs import captured_logs

FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.02)
_POLL = re.compile(r"/jobs/query/[^/?]+$")


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("calls_org"), contacts=30, seed=8, bulk_delay=0.3) as server:
        yield server


@pytest.fixture
def conn_id(org, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SF_CALLS", salesforce_connection(org.connection_info))
    # The trigger's own policy with millisecond backoff (its bounds unchanged).
    monkeypatch.setattr(trigger_module, "RetryPolicy", functools.partial(RetryPolicy, backoff_base=0.01))
    yield "sf_calls"
    org.faults.clear()


@pytest.fixture
def job_id(org, conn_id):
    job = SalesforceBulk2Hook(conn_id).create_query_job("SELECT Id FROM Contact")["id"]
    org.reset_audit()
    return job


def polls(org) -> list[tuple[str, str, int]]:
    return [(e["method"], e["path"], e["status"]) for e in org.audit() if _POLL.search(e["path"])]


def run(coro):
    return asyncio.run(coro)


# ---- the async hook -----------------------------------------------------------------------------
def test_get_job_retries_transient_answers_and_logs_every_call(org, conn_id, job_id, caplog, capfd):
    logs = captured_logs(caplog, capfd, 20)
    org.faults.set(fail_next=2, error_status=503, error_scope="bulk")

    async def go():
        async with SalesforceAsyncApiHook(conn_id, retry=FAST) as hook:
            return hook, await hook.get_job(job_id)

    hook, info = run(go())
    assert info["id"] == job_id and info["state"]
    assert [(c.method, c.path, c.status) for c in hook.call_log] == polls(org)
    assert [c.status for c in hook.call_log] == [503, 503, 200] and hook.api_calls == 3
    assert all(c.latency_ms >= 0 and c.api_usage and "/" in c.api_usage for c in hook.call_log)
    assert (
        len(
            re.findall(
                r"GET /services/data/v[\d.]+/jobs/query/\w+: HTTP 503 SERVER_UNAVAILABLE; retry \d/3", logs()
            )
        )
        >= 2
    )


def test_get_job_logs_in_again_once_on_an_expired_session(org, conn_id, job_id):
    async def go():
        async with SalesforceAsyncApiHook(conn_id, retry=FAST) as hook:
            first = await hook.authenticate()
            org.faults.set(expire_sessions_after=0)
            info = await hook.get_job(job_id)
            return hook, first, info

    hook, first, info = run(go())
    assert info["id"] == job_id and hook._token is not None and hook._token.access_token != first.access_token
    assert [c.status for c in hook.call_log] == [401, 200] and hook.api_calls == 2
    # The first login, the refused poll, the one re-login, the poll again.
    assert [(e["kind"], e["status"]) for e in org.audit()] == [
        ("oauth", 200),
        ("api", 401),
        ("oauth", 200),
        ("api", 200),
    ]


def test_get_job_fails_after_its_attempt_budget(org, conn_id, job_id):
    org.faults.set(fail_next=50, error_status=503, error_scope="bulk")

    async def failing():
        async with SalesforceAsyncApiHook(conn_id, retry=FAST) as hook:
            with pytest.raises(SalesforceApiError) as err:
                await hook.get_job(job_id)
            return hook, err.value

    hook, error = run(failing())
    assert error.error_code == "RETRIES_EXHAUSTED" and "GET failed after 4 attempt(s): HTTP 503" in str(error)
    assert [c.status for c in hook.call_log] == [503] * 4 == [s for _m, _p, s in polls(org)]


def test_no_retry_is_made_past_the_deadline(org, conn_id, job_id):
    org.faults.set(fail_next=500, error_status=503, error_scope="bulk")
    patient = RetryPolicy(max_retries=1000, backoff_base=0.05, backoff_max=0.05)

    async def go():
        async with SalesforceAsyncApiHook(conn_id, retry=patient, deadline=time.time() + 0.5) as hook:
            with pytest.raises(DeadlineReached):
                await hook.get_job(job_id)
            return hook

    started = time.monotonic()
    hook = run(go())
    assert time.monotonic() - started < 5 and 1 < len(hook.call_log) < 1000
    # The trigger reports it as what it is: the job's deadline, not an error.
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id=job_id, conn_id=conn_id, poll_interval=0.1, deadline=time.time() + 0.5)
    )
    assert event["status"] == "timeout" and event["calls"] and event["calls_dropped"] == 0, event


# ---- the trigger's event and the resumed task's hook ----------------------------------------------
def test_the_event_carries_every_poll_as_the_call_log_keeps_it(org, conn_id, job_id):
    org.faults.set(fail_next=2, error_status=420, error_scope="bulk")
    event = trigger_event(Bulk2QueryJobTrigger(job_id=job_id, conn_id=conn_id, poll_interval=0.1))

    assert event["status"] == "success", event
    assert json.loads(json.dumps(event)) == event  # it travels through Airflow's metadata DB
    assert [(c["method"], c["path"], c["status"]) for c in event["calls"]] == polls(org)
    assert [c["status"] for c in event["calls"]][:3] == [420, 420, 200] and event["calls_dropped"] == 0
    assert not any("Bearer" in json.dumps(c) or "?" in c["path"] for c in event["calls"])


def test_an_event_keeps_the_latest_polls_and_counts_the_rest(org, conn_id, job_id, monkeypatch):
    monkeypatch.setattr(trigger_module, "EVENT_CALLS_LIMIT", 2)
    org.faults.set(fail_next=4, error_status=503, error_scope="bulk")
    event = trigger_event(Bulk2QueryJobTrigger(job_id=job_id, conn_id=conn_id, poll_interval=0.1))

    made = polls(org)
    assert event["status"] == "success" and len(made) >= 5, (event, made)
    assert [(c["method"], c["path"], c["status"]) for c in event["calls"]] == made[-2:]
    assert event["calls_dropped"] == len(made) - 2


def test_the_resumed_hook_absorbs_the_trigger_calls(org, conn_id, job_id):
    org.faults.set(fail_next=1, error_status=503, error_scope="bulk")
    event = trigger_event(Bulk2QueryJobTrigger(job_id=job_id, conn_id=conn_id, poll_interval=0.1))
    org.faults.clear()

    hook = SalesforceBulk2Hook(conn_id)
    assert hook.absorb_calls(event["calls"], event["calls_dropped"]) == len(event["calls"])
    absorbed = [ApiCall.from_json(c) for c in event["calls"]]
    assert list(hook.call_log) == absorbed and hook.api_calls == len(absorbed)
    assert absorbed[0].status == 503 and absorbed[0].at.tzinfo is not None

    hook.get_job(job_id)  # the resumed task's own calls follow in the same log
    hook.absorb_calls([], dropped=3)  # calls the trigger could not keep are counted all the same
    saved = hook.take_call_log()
    assert saved[: len(absorbed)] == absorbed and saved[-1].path.endswith(job_id) and saved[-1].status == 200
    assert hook.api_calls == len(absorbed) + 1 + 3 and hook.calls_dropped == 3 and not hook.call_log


def test_a_call_without_an_answer_is_logged_but_not_counted():
    hook = SalesforceBulk2Hook("unused")
    call = {
        "at": "2026-01-02T03:04:05+00:00",
        "method": "GET",
        "path": "/p",
        "status": None,
        "latency_ms": 30000,
    }
    hook.absorb_calls([call])
    assert hook.api_calls == 0 and list(hook.call_log) == [ApiCall.from_json(call)]
    assert hook.call_log[0].to_json() == {**call, "api_usage": None}


def test_a_call_record_that_does_not_parse_is_counted_and_does_not_fail_the_task(caplog):
    hook = SalesforceBulk2Hook("unused")
    good = {"at": "2026-01-02T03:04:05+00:00", "method": "GET", "path": "/p", "status": 200, "latency_ms": 5}
    assert hook.absorb_calls([{"method": "GET"}, good]) == 1
    assert hook.api_calls == 2 and list(hook.call_log) == [ApiCall.from_json(good)]
    assert "does not parse" in caplog.text
