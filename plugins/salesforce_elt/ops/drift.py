"""The extract operators' runtime schema-drift guard.

Before a run builds its SOQL it describes the object (one API call) and compares it with the
registry (``schema.diff.compare``):

- a registered field that Salesforce no longer has is dropped from the SELECT list with a warning,
  instead of the whole run failing on INVALID_FIELD. Its column stays: rows written from then on
  leave it untouched (new rows: NULL), so history is not erased by a field deletion;
- fields that exist in Salesforce but not in the registry are reported (task log, the run's XCom,
  and the daily ``schema_audit`` table) — never silently ignored. Adopting them is a reviewed
  change: ``python -m salesforce_elt schema add-fields``.

Turn the guard off with SALESFORCE_ELT_DRIFT_GUARD=false or ``[salesforce_elt] drift_guard = false``
(saves one describe call per run).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from salesforce_elt import settings
from salesforce_elt.engine.registry import SObjectSpec

log = logging.getLogger(__name__)


def enabled() -> bool:
    return settings.drift_guard()


def without_fields(spec: SObjectSpec, dropped: Iterable[str]) -> SObjectSpec:
    """``spec`` minus the Salesforce fields in ``dropped`` (compounds keep their other components;
    derived columns that read a dropped field go too)."""
    gone = {name.lower() for name in dropped}
    if not gone:
        return spec
    if spec.primary_key.lower() in gone or spec.cursor_field.lower() in gone:
        raise ValueError(
            f"{spec.name}: Salesforce no longer reports {spec.primary_key} or {spec.cursor_field}; "
            "the object cannot be synced incrementally — check the connection's user permissions"
        )
    fields = []
    for f in spec.fields:
        if f.components:
            kept = tuple(c for c in f.components if c[0].lower() not in gone)
            if kept:
                fields.append(dataclasses.replace(f, components=kept))
        elif f.sf_name.lower() not in gone:
            fields.append(f)
    derived = tuple(d for d in spec.derived if not any(i.lower() in gone for i in d.inputs))
    return dataclasses.replace(spec, fields=tuple(fields), derived=derived)


def guard(spec: SObjectSpec, describe_json: dict[str, Any]) -> tuple[SObjectSpec, dict[str, Any]]:
    """The spec to extract with, and a small JSON-ready report for the XCom and the log."""
    from salesforce_elt.engine.soql import validate_field_name
    from salesforce_elt.ops.schema.diff import compare

    for name in spec.soql_fields:
        validate_field_name(name)  # a malformed registry name is an error, never "drift" to skip
    drift = compare(spec, describe_json)
    dropped = list(drift.missing_soql_fields)
    added = [f.sf_name for f in drift.added]
    if dropped:
        log.warning(
            "%s: Salesforce no longer has %s; extracting without them (their columns keep their last "
            "synced values). Remove them from the registry when the change is intended.",
            spec.name, ", ".join(dropped),
        )
    if added:
        log.warning(
            "%s: Salesforce has fields the registry does not sync: %s. Adopt them with "
            "`python -m salesforce_elt schema add-fields --object %s --field ...`.",
            spec.name, ", ".join(added), spec.name,
        )
    changed = [f"{c.sf_name} {c.attribute}: {c.registry} -> {c.salesforce}" for c in drift.changed]
    if changed:
        log.warning("%s: fields changed in Salesforce: %s", spec.name, "; ".join(changed))
    report = {"dropped_fields": dropped, "new_fields": added, "changed_fields": changed}
    return without_fields(spec, dropped), report


def record(context: Any, object_name: str, report: dict[str, Any]) -> None:
    """Write a run's drift to the ``schema_audit`` monitoring table (best effort: never fails the run)."""
    import json

    from salesforce_elt.engine.registry import warehouse_schema
    from salesforce_elt.engine.warehouse import connect

    drift = {"object": object_name, "drifted": True, "source": "extract", **report}
    try:
        with connect() as conn:
            conn.execute(
                f'INSERT INTO "{warehouse_schema()}".schema_audit (run_id, object_name, drifted, drift) '  # noqa: S608
                "VALUES (%s, %s, true, %s::jsonb)",
                (context.get("run_id"), object_name, json.dumps(drift)),
            )
    except Exception as exc:  # noqa: BLE001 - monitoring must not break the sync it reports on
        log.warning("%s: could not record schema drift in schema_audit: %s", object_name, exc)
