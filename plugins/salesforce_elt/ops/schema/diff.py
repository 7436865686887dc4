"""Schema drift: a live describe compared with a registry entry.

``compare(spec, describe_json)`` is pure (no I/O), so the extract operator can call it at run
time on the describe it already fetched, and the audit DAG and ``schema diff`` on theirs:

- ``added``: syncable fields Salesforce has and the registry does not, each as the FieldSpec
  ``schema add-fields`` would write;
- ``removed``: registry fields Salesforce no longer describes (a compound counts as removed
  when the compound itself is gone);
- ``changed``: type, length, precision or scale differences, and compound components that
  differ;
- ``missing_soql_fields``: every name of the entry's SELECT list that describe no longer has
  (components included) — what the extract drops from its SOQL to avoid INVALID_FIELD;
- ``excluded``: fields never synced (base64, unknown types), with the reason. They are not drift:
  a registry can never hold them, so counting them would keep an object drifted for ever.

Names compare case-insensitively, as Salesforce does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from salesforce_elt.engine import types
from salesforce_elt.engine.registry import FieldSpec, SObjectSpec
from salesforce_elt.ops.schema.describe import DescribedObject, field_spec, normalize, propose_column

# A field attribute's value: a type name, a length/precision/scale (None: not set), component names.
AttributeValue = str | int | list[str] | None


@dataclass(frozen=True)
class FieldChange:
    """One attribute of one registry field that differs from Salesforce."""

    sf_name: str
    column: str
    attribute: str  # type, length, precision, scale or components
    registry: AttributeValue
    salesforce: AttributeValue


@dataclass(frozen=True)
class Drift:
    """How a registry entry differs from the live org (empty tuples: in sync)."""

    object_name: str
    added: tuple[FieldSpec, ...] = ()
    removed: tuple[FieldSpec, ...] = ()
    changed: tuple[FieldChange, ...] = ()
    missing_soql_fields: tuple[str, ...] = ()
    excluded: tuple[tuple[str, str], ...] = field(default=())  # (field, reason)

    @property
    def drifted(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.missing_soql_fields)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``schema diff --json`` prints and the audit DAG stores."""
        return {
            "object": self.object_name,
            "drifted": self.drifted,
            "added": [_field_dict(f) for f in self.added],
            "removed": [_field_dict(f) for f in self.removed],
            "changed": [asdict(c) for c in self.changed],
            "missing_soql_fields": list(self.missing_soql_fields),
            "excluded": [{"field": name, "reason": reason} for name, reason in self.excluded],
        }


def _field_dict(f: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"field": f.sf_name, "column": f.column, "type": f.sf_type}
    for key in ("length", "precision", "scale"):
        if getattr(f, key) is not None:
            out[key] = getattr(f, key)
    if f.calculated:
        out["calculated"] = True
    return out


def _attribute_changes(current: FieldSpec, live: FieldSpec) -> list[FieldChange]:
    def change(attribute: str, old: AttributeValue, new: AttributeValue) -> FieldChange:
        return FieldChange(current.sf_name, current.column, attribute, old, new)

    if current.sf_type != live.sf_type:
        return [change("type", current.sf_type, live.sf_type)]
    t = current.sf_type
    changes: list[FieldChange] = []
    # Only what decides the column type: a varchar's length, a numeric's precision and scale.
    if t in types.STRING_TYPES and current.length != live.length:
        changes.append(change("length", current.length, live.length))
    if t in types.DECIMAL_TYPES and current.precision is not None:
        if current.precision != live.precision:
            changes.append(change("precision", current.precision, live.precision))
        if (current.scale or 0) != (live.scale or 0):
            changes.append(change("scale", current.scale, live.scale))
    if current.components:
        old = sorted(sf.lower() for sf, _ in current.components)
        new = sorted(sf.lower() for sf, _ in live.components)
        if old != new:
            changes.append(
                change("components", [sf for sf, _ in current.components], [sf for sf, _ in live.components])
            )
    return changes


def compare_described(spec: SObjectSpec, obj: DescribedObject) -> Drift:
    """``compare`` on an already normalized describe."""
    added: list[FieldSpec] = []
    removed: list[FieldSpec] = []
    changed: list[FieldChange] = []
    excluded: list[tuple[str, str]] = []
    registered = {f.sf_name.lower(): f for f in spec.fields}
    taken = set(spec.columns)
    live_names = {f.name.lower() for f in obj.fields}
    for described in obj.fields:
        if described.type == "id" or obj.is_component(described):
            continue
        current = registered.get(described.name.lower())
        column = current.column if current else propose_column(described.name, taken)
        try:
            live = field_spec(obj, described, column)
        except types.UnsupportedFieldType as exc:
            excluded.append((described.name, str(exc).split(": ", 1)[-1]))
            continue
        if current is None:
            added.append(live)
            taken.add(live.column)
        else:
            changed.extend(_attribute_changes(current, live))
    for f in spec.fields:
        if f.sf_name.lower() not in live_names:
            removed.append(f)
    missing = tuple(name for name in spec.soql_fields if name.lower() not in live_names)
    return Drift(spec.name, tuple(added), tuple(removed), tuple(changed), missing, tuple(excluded))


def compare(spec: SObjectSpec, describe_json: Mapping[str, Any]) -> Drift:
    """Registry entry vs ``GET /sobjects/X/describe`` JSON (see the module docstring)."""
    obj = normalize(describe_json)
    if obj.name.lower() != spec.name.lower():
        raise ValueError(f"describe is for {obj.name}, not the registry entry {spec.name}")
    return compare_described(spec, obj)


# ---- output ------------------------------------------------------------------------------------


def _size(f: FieldSpec) -> str:
    if f.precision is not None:
        return f"({f.precision},{f.scale or 0})"
    return f"({f.length})" if f.length is not None else ""


def render_text(drifts: Sequence[Drift]) -> str:
    """A readable report: one block per object, one line per difference."""
    lines: list[str] = []
    for drift in drifts:
        status = "DRIFTED" if drift.drifted else "in sync"
        lines.append(f"{drift.object_name}: {status}")
        rows: list[tuple[str, str, str, str]] = []
        rows += [
            ("added", f.sf_name, f"{f.sf_type}{_size(f)}", f"proposed column {f.column}") for f in drift.added
        ]
        rows += [
            ("removed", f.sf_name, f"{f.sf_type}{_size(f)}", f"column {f.column} stays")
            for f in drift.removed
        ]
        rows += [
            ("changed", c.sf_name, c.attribute, f"registry {c.registry!r} -> salesforce {c.salesforce!r}")
            for c in drift.changed
        ]
        rows += [("excluded", name, "", reason) for name, reason in drift.excluded]
        if rows:
            widths = [max(len(r[i]) for r in rows) for i in range(3)]
            for row in rows:
                lines.append(
                    "  "
                    + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                    + "  "
                    + row[3]
                )
        if drift.missing_soql_fields:
            lines.append(f"  not selectable any more: {', '.join(drift.missing_soql_fields)}")
    return "\n".join(lines)


def render_json(drifts: Sequence[Drift]) -> str:
    return json.dumps([d.to_dict() for d in drifts], indent=2)
