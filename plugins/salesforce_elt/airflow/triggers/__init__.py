"""Deferrable-operator triggers (importable package: a trigger must not live in the DAG bundle)."""
