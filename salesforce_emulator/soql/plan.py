"""The compiled plan, and how a result row becomes a REST record or a Bulk CSV value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import objects as md


@dataclass
class Plan:
    object_name: str
    columns: list[str]
    is_count: bool
    sql: str
    csv_sql: str
    params: list
    count_sql: str
    count_params: list
    build_record: Callable[[tuple], dict]


# --- record assembly ----------------------------------------------------------------------------

def rest_converter(f: md.Field) -> Callable[[Any], Any] | None:
    if f.type == "boolean":
        return lambda v: None if v is None else bool(v)
    if f.type in ("int", "long"):
        return lambda v: None if v is None else int(v)
    if f.type in ("double", "currency", "percent"):
        return lambda v: None if v is None else float(v)
    return None


def csv_expr(f: md.Field, expr: str) -> str:
    if f.type == "boolean":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END"
    return expr


@dataclass
class OutCol:
    chain: list[tuple[str, int, int]]   # per relationship hop: (name, id index, type index)
    key: str
    index: int                          # value index (or first component index for addresses)
    conv: Callable[[Any], Any] | None
    address: list[tuple[str, int]] | None = None


def make_builder(obj_name: str, id_index: int, out: list[OutCol], api_version: str) -> Callable[[tuple], dict]:
    base = f"/services/data/v{api_version}/sobjects/"

    def build(row: tuple) -> dict:
        rid = row[id_index]
        rec: dict[str, Any] = {"attributes": {"type": obj_name, "url": f"{base}{obj_name}/{rid}"}}
        for col in out:
            target = rec
            dead = False
            for name, idi, tyi in col.chain:
                node = target.get(name, _MISSING)
                if node is _MISSING:
                    pid = row[idi]
                    if pid is None:
                        target[name] = None
                        dead = True
                        break
                    ptype = row[tyi]
                    node = {"attributes": {"type": ptype, "url": f"{base}{ptype}/{pid}"}}
                    target[name] = node
                elif node is None:
                    dead = True
                    break
                target = node
            if dead:
                continue
            if col.address is not None:
                vals = {k: row[i] for k, i in col.address}
                target[col.key] = vals if any(v is not None for v in vals.values()) else None
            else:
                v = row[col.index]
                target[col.key] = col.conv(v) if col.conv else v
        return rec

    return build


_MISSING = object()

