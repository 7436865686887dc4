"""Salesforce -> PostgreSQL ELT for Apache Airflow: hooks, operators, triggers, registry, models."""
