"""The sync engine: the object registry, SOQL, windows, transform, load and staging; no Airflow DAG code."""
