"""Daily Salesforce schema audit Airflow DAG: drift, storage report, optional formula refresh."""

from salesforce_elt.ops.audit import DAG_ID, build_audit_dag

globals()[DAG_ID] = build_audit_dag()
