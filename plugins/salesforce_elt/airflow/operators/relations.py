"""Extract a who relation object (TaskWhoRelation, EventWhoRelation): REST only, no queryAll.

The reading itself is the object's delete strategy, ``delete_handling="relations"``
(relation_deletes.py): removed relations from the relation feed, the changed parents' relation
sets re-read, and the parents handed to the load as the relation scope. In an org without
Shared Activities the relation objects do not exist (describe NOT_FOUND, SOQL INVALID_TYPE):
the extract ends skipped with that reason (and a ``skipped`` sync_runs row), so its transform
and load are skipped too and the DAG run stays green.
"""

from __future__ import annotations

from salesforce_elt.airflow.operators.extract import SalesforceRestExtractOperator
from salesforce_elt.engine.relation_deletes import SUMMARY_STATEMENTS

__all__ = ["SUMMARY_STATEMENTS", "SalesforceRelationsExtractOperator"]


class SalesforceRelationsExtractOperator(SalesforceRestExtractOperator):
    """REST extract of a ``delete_handling="relations"`` object plus the scope its load needs.

    The XCom is the extract result plus ``relation_scope`` (contract.RelationScope):
    ``{"complete": bool, "parent_uris": [...CSV files with the parent Id first...], "reason": ...}``.
    """

    ui_color = "#e0f0e0"
