"""The daily schema-audit DAG and the extract's drift guard, against the emulator and real Postgres."""

from __future__ import annotations

import pytest

from tests.integration.operating_support import fresh_database, rows
from tests.support.airflow_env import connections_to
from tests.support.dags import run_dag, task_states

pytestmark = pytest.mark.slow


ORG = {"contacts": 300, "seed": 5, "bulk_delay": 0.1}


def run_audit():
    from salesforce_elt.ops.audit import build_audit_dag

    return run_dag(dag=build_audit_dag())


def test_audit_records_every_object_and_reports_a_new_field(airflow_db, org, warehouse_url):
    with fresh_database(warehouse_url, "audit") as url, connections_to(org, url):
        first = run_audit()
        assert first.state == "success", task_states(first)
        checks = rows(url, "SELECT object_name, drifted FROM salesforce.schema_audit ORDER BY object_name")
        from salesforce_elt.engine.registry import REGISTRY

        assert [c["object_name"] for c in checks] == sorted(REGISTRY)
        assert not any(c["drifted"] for c in checks), checks

        org.org.add_field("Contact", "Region__c", "string", length=40)
        try:
            second = run_audit()
        finally:
            org.org.remove_field("Contact", "Region__c")
        assert second.state == "success", task_states(second)
        contact = rows(
            url,
            "SELECT drifted, drift FROM salesforce.schema_audit WHERE object_name = 'Contact' "
            "ORDER BY checked_at DESC, id DESC LIMIT 1",
        )[0]
        assert contact["drifted"] is True
        assert [f["field"] for f in contact["drift"]["added"]] == ["Region__c"]


def test_drift_can_fail_the_audit_for_an_alert(airflow_db, org, warehouse_url):
    with fresh_database(warehouse_url, "audit_fail") as url, connections_to(org, url, SALESFORCE_ELT_DRIFT_FAILS="true"):
        org.org.add_field("Contact", "Region__c", "string", length=40)
        try:
            run = run_audit()
        finally:
            org.org.remove_field("Contact", "Region__c")
        assert run.state == "failed"
        assert task_states(run)["check_drift"] == "failed"


def test_sync_survives_a_field_removed_in_salesforce(airflow_db, org, warehouse_url):
    """The removed field leaves the SOQL (no INVALID_FIELD); its column stays and new rows hold NULL."""
    with fresh_database(warehouse_url, "drift_sync") as url, connections_to(org, url):
        assert run_dag().state == "success"
        org.org.remove_field("Contact", "Department")
        try:
            created = org.org.mutate("Contact", create=5)["created"]
            run = run_dag()
            assert run.state == "success", task_states(run)
        finally:
            org.org.add_field("Contact", "Department", "string", length=80)
        new_rows = rows(
            url, "SELECT salesforce_id, department FROM salesforce.sf_contacts WHERE salesforce_id = ANY(%s)",
            (created,),
        )
        assert sorted(r["salesforce_id"] for r in new_rows) == sorted(created)
        assert all(r["department"] is None for r in new_rows)
