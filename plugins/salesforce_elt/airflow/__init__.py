"""Airflow integration: hooks, operators, triggers, the DAG factory, Assets and alert notifiers."""
