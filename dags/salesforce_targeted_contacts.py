"""Targeted Salesforce contact sync (airflow DAG): contacts with activity in the window, chunked Bulk fetches.

(Airflow's safe-mode parser only opens files mentioning both "airflow" and "dag": keep those words.)
"""

from salesforce_elt.airflow.dag_factory import build_targeted_contacts_dag

dag = build_targeted_contacts_dag()
