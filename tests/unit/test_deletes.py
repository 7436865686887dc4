"""Delete strategies (salesforce_elt.engine.deletes): one per registry delete_handling, owning its step and templates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from salesforce_elt.engine import load, registry
from salesforce_elt.engine.contract import ExtractResult, IdReconcile, RelationScope, TransformResult
from salesforce_elt.engine.deletes import STRATEGIES, SoftAndHardDeletes, strategy_for
from salesforce_elt.engine.extract_plan import ExtractPlan
from salesforce_elt.engine.registry import CONTACT, EVENT_WHO_RELATION, TASK_WHO_RELATION, USER
from salesforce_elt.engine.relation_deletes import RelationDeletes
from salesforce_elt.engine.windows import SyncWindow, targeted_window

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
INCREMENTAL = SyncWindow(NOW - timedelta(hours=1), NOW, False, True, "data interval minus lookback")


def transformed(spec, *, rejects=0, **extract) -> TransformResult:
    result = ExtractResult(
        object_name=spec.name, api="rest", soql="", fields=spec.soql_fields, dropped_fields=(), raw_uri="file:///raw",
        files=(), records=0, job_ids=(), deleted_uri=None, deleted_records=0, window=INCREMENTAL,
        api_usage_before=None, api_usage_after=None, api_calls=0, **extract,
    )  # fmt: skip
    return TransformResult(result, "file:///typed", (), (), 0, rejects, None, 0)


def test_every_registry_object_has_a_strategy_whose_templates_exist():
    for spec in registry.REGISTRY.values():
        strategy = strategy_for(spec)
        assert strategy.handling == spec.delete_handling
        for name in strategy.templates:
            assert (load.SQL_DIR / name).is_file(), f"{spec.name}: {name}"
    assert isinstance(strategy_for(CONTACT), SoftAndHardDeletes)
    assert isinstance(strategy_for(TASK_WHO_RELATION), RelationDeletes)
    assert set(STRATEGIES) == {"none", "soft", "soft_and_hard", "relations"}


def test_an_unknown_delete_handling_is_refused_naming_the_object():
    with pytest.raises(ValueError, match=r"Contact: delete_handling 'purge' has no strategy \(known: none, soft"):
        strategy_for(replace(CONTACT, delete_handling="purge"))


def test_only_soft_and_hard_reads_the_feed_and_only_for_incremental_untargeted_windows():
    incremental = ExtractPlan.build(CONTACT, INCREMENTAL, None, None, "Id")
    assert strategy_for(CONTACT).reads_feed(incremental)
    assert not strategy_for(CONTACT).reads_feed(replace(incremental, window=replace(INCREMENTAL, start=None)))
    assert not strategy_for(CONTACT).reads_feed(ExtractPlan.build(CONTACT, targeted_window(CONTACT), ["003"], None, "Id"))
    assert not strategy_for(USER).reads_feed(ExtractPlan.build(USER, INCREMENTAL, None, None, "Id"))
    assert not strategy_for(TASK_WHO_RELATION).reads_feed(ExtractPlan.build(TASK_WHO_RELATION, INCREMENTAL, None, None, "Id"))


def test_soft_and_hard_hands_the_load_the_staged_id_list():
    assert strategy_for(CONTACT).load_scope(CONTACT, transformed(CONTACT)) == strategy_for(USER).load_scope(
        USER, transformed(USER)
    )
    reconcile = IdReconcile("purged", None, uri="file:///ids", files=("part-00000.csv",), records=2)
    scope = strategy_for(CONTACT).load_scope(CONTACT, transformed(CONTACT, id_reconcile=reconcile))
    assert scope.relation_scope is None
    assert scope.id_reconcile.files == ["part-00000.csv"] and scope.id_reconcile.reason == "purged"


def test_a_planned_id_comparison_without_its_id_list_is_refused():
    """Loading without the list would move the high-water mark past deletions nobody read."""
    reconcile = IdReconcile("purged", None, uri=None, files=(), records=0)
    with pytest.raises(ValueError, match=r"Contact: the extract planned an Id comparison \(purged\) but handed no Id list"):
        strategy_for(CONTACT).load_scope(CONTACT, transformed(CONTACT, id_reconcile=reconcile))


def test_relations_hand_the_load_their_parents_unless_a_row_was_rejected():
    relation_scope = RelationScope(False, ("file:///parents.csv",), None)
    scope = strategy_for(EVENT_WHO_RELATION).load_scope(
        EVENT_WHO_RELATION, transformed(EVENT_WHO_RELATION, relation_scope=relation_scope)
    )
    assert scope.id_reconcile is None
    assert (scope.relation_scope.parent_column, scope.relation_scope.parent_prefix) == ("event_id", "00U")
    assert [str(p) for p in scope.relation_scope.parent_files] == ["file:///parents.csv"]
    rejected = transformed(EVENT_WHO_RELATION, rejects=1, relation_scope=relation_scope)
    assert strategy_for(EVENT_WHO_RELATION).load_scope(EVENT_WHO_RELATION, rejected).relation_scope is None
