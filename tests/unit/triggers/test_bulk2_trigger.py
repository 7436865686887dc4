"""The trigger's serialized form is stored in Airflow's DB: pin its classpath and kwargs."""

from __future__ import annotations

import importlib

from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger


def test_serialize_pins_classpath_and_kwargs():
    trigger = Bulk2QueryJobTrigger(
        job_id="750xx0000000001",
        conn_id="salesforce_default",
        poll_interval=5.0,
        deadline=1.5e9,
        carry={"object": "Contact", "index": 0},
        not_before=1.4e9,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "salesforce_elt.airflow.triggers.bulk2.Bulk2QueryJobTrigger"
    assert kwargs == {
        "job_id": "750xx0000000001",
        "conn_id": "salesforce_default",
        "poll_interval": 5.0,
        "deadline": 1.5e9,
        "max_consecutive_errors": 10,
        "carry": {"object": "Contact", "index": 0},
        "not_before": 1.4e9,
    }


def test_serialized_form_rebuilds_an_equal_trigger():
    classpath, kwargs = Bulk2QueryJobTrigger(job_id="750A", conn_id="sf", deadline=None).serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_a_trigger_row_stored_by_an_earlier_release_still_loads():
    """Before the engine/airflow/ops layout the class lived in salesforce_elt.triggers.bulk2: trigger
    rows of tasks deferred before an upgrade carry that path, and the triggerer imports it as Airflow does."""
    from airflow.sdk._shared.module_loading import import_string

    old = import_string("salesforce_elt.triggers.bulk2.Bulk2QueryJobTrigger")
    assert old is Bulk2QueryJobTrigger
    _, kwargs = Bulk2QueryJobTrigger(job_id="750A", conn_id="sf", deadline=None).serialize()
    assert old(**kwargs).serialize()[1] == kwargs
