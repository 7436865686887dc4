"""The Bulk trigger under its earlier class path (see this package's docstring)."""

from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger

__all__ = ["Bulk2QueryJobTrigger"]
