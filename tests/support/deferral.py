"""Deferrable operators driven as the triggerer and a worker drive them (no scheduler needed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from airflow.sdk.exceptions import TaskDeferred

from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger

TRIGGER_CLASSPATH = "salesforce_elt.airflow.triggers.bulk2.Bulk2QueryJobTrigger"


def trigger_event(trigger: Bulk2QueryJobTrigger) -> dict[str, Any]:
    """The payload of the trigger's one and only event."""

    async def run() -> dict[str, Any]:
        events = [event async for event in trigger.run()]
        assert len(events) == 1, events
        return events[0].payload

    return asyncio.run(run())


def run_extract(operator, ctx: dict[str, Any]) -> dict[str, Any]:
    """execute -> (trigger, serialized and rebuilt as the triggerer does) -> execute_complete ..."""
    try:
        return operator.execute(ctx)
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        classpath, kwargs = pending.trigger.serialize()
        assert classpath == TRIGGER_CLASSPATH
        event = trigger_event(Bulk2QueryJobTrigger(**json.loads(json.dumps(kwargs))))
        try:
            return operator.execute_complete(ctx, event=event)
        except TaskDeferred as deferred:
            pending = deferred
