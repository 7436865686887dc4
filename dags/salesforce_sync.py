"""Salesforce -> PostgreSQL sync: one DAG per synced table, built from salesforce_elt.registry."""

from salesforce_elt.dag_factory import build_object_dags

globals().update(build_object_dags())
