"""Salesforce -> PostgreSQL sync: one Airflow DAG per synced table, built from salesforce_elt.engine.registry.

(Airflow's safe-mode parser only opens files mentioning both "airflow" and "dag": keep those words.)
"""

from salesforce_elt.airflow.dag_factory import build_object_dags

globals().update(build_object_dags())
