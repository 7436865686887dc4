"""The API budget guard against the emulator's daily limit: a run under the reserve does not start
(skipped or failed, as configured), moves no high-water mark, and the next run syncs what it skipped;
REST paging stops as soon as Sforce-Limit-Info crosses into the reserve."""

from __future__ import annotations

import pytest

from tests.integration.operating_support import rows
from tests.support.dags import run_dag, task_states

pytestmark = pytest.mark.slow

DAILY_LIMIT = 5000
ORG = {"contacts": 300, "seed": 9, "bulk_delay": 0.1, "daily_api_limit": DAILY_LIMIT}
SYNC_SETTINGS = {"SALESFORCE_ELT_API_RESERVE": "0"}


def high_water_mark(warehouse_db):
    return rows(warehouse_db, "SELECT high_water_mark FROM salesforce.sync_state WHERE object_name = 'Contact'")[0][
        "high_water_mark"
    ]


def test_a_run_under_the_reserve_is_skipped_and_the_next_run_syncs_its_window(sync_env, warehouse_db, org):
    assert run_dag().state == "success"  # initial full load
    mark = high_water_mark(warehouse_db)
    changed = org.org.mutate("Contact", update=12, late_share=0.0)["updated"]

    sync_env.setenv("SALESFORCE_ELT_API_RESERVE", "0.999")  # remaining share is always below 99.9 %
    jobs_before = sum(1 for e in org.audit() if e["method"] == "POST" and e["path"].endswith("/jobs/query"))
    skipped = run_dag()
    states = task_states(skipped)
    assert (states["preflight"], states["extract"], states["transform"], states["load"]) == (
        "success",
        "skipped",
        "skipped",
        "skipped",
    )
    assert (
        sum(1 for e in org.audit() if e["method"] == "POST" and e["path"].endswith("/jobs/query"))
        == jobs_before
    )
    (row,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (skipped.run_id,))
    assert row["status"] == "skipped" and row["error_message"].startswith(
        "Contact: not starting to extract Contact"
    )
    assert "DailyApiRequests" in row["error_message"] and "reserve of 99.9%" in row["error_message"]
    assert high_water_mark(warehouse_db) == mark  # nothing loaded, nothing skipped over
    stale = rows(
        warehouse_db,
        "SELECT count(*) AS n FROM salesforce.sf_contacts WHERE salesforce_id = ANY(%s) AND sync_run_id = %s",
        (changed, skipped.run_id),
    )
    assert stale[0]["n"] == 0

    sync_env.setenv("SALESFORCE_ELT_API_RESERVE", "0")
    caught_up = run_dag()
    assert caught_up.state == "success", task_states(caught_up)
    (row,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (caught_up.run_id,))
    assert row["status"] == "success" and row["window_start"] <= mark  # reaches back over the skipped run
    synced = rows(
        warehouse_db,
        "SELECT count(*) AS n FROM salesforce.sf_contacts WHERE salesforce_id = ANY(%s) AND sync_run_id = %s",
        (changed, caught_up.run_id),
    )
    assert synced[0]["n"] == len(changed)


def test_budget_action_fail_fails_the_extract_with_the_reason(sync_env, warehouse_db):
    sync_env.setenv("SALESFORCE_ELT_API_RESERVE", "0.999")
    sync_env.setenv("SALESFORCE_ELT_BUDGET_ACTION", "fail")
    try:
        dag_run = run_dag()
    finally:
        sync_env.setenv("SALESFORCE_ELT_API_RESERVE", "0")
        sync_env.delenv("SALESFORCE_ELT_BUDGET_ACTION")
    assert dag_run.state == "failed" and task_states(dag_run)["extract"] == "failed"
    (row,) = rows(warehouse_db, "SELECT * FROM salesforce.sync_runs WHERE run_id = %s", (dag_run.run_id,))
    assert row["status"] == "failed" and "not starting to extract Contact" in row["error_message"]


def test_rest_paging_stops_when_usage_crosses_the_reserve(sync_env, org, tmp_path):
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine.registry import CONTACT
    from salesforce_elt.ops.budget import BudgetExhausted

    hook = SalesforceApiHook("salesforce_default")
    remaining = hook.limits()["DailyApiRequests"]["Remaining"]
    # The first page passes (no check before it); after it one more call is spent: under the reserve.
    hook.api_reserve = (remaining - 0.5) / DAILY_LIMIT
    org.reset_audit()
    with pytest.raises(BudgetExhausted, match="stopped REST query paging: Salesforce DailyApiRequests"):
        hook.query_to_csv(
            "SELECT " + ", ".join(CONTACT.soql_fields) + " FROM Contact",
            CONTACT.soql_fields,
            ObjectStoragePath(f"file://{tmp_path}/raw"),
            batch_size=200,
        )
    pages = [e for e in org.audit() if "/query" in e["path"]]
    assert len(pages) == 1  # a 300-row result in 200-row pages: the second page was never asked for
    assert [c.path.rsplit("/", 1)[-1] for c in hook.call_log][-1] == "query"
