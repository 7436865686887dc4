"""DDL of the baseline tables: the raw Bulk CSV's columns with the target table's types and indexes.

The raw CSV has one column per SOQL field (compounds as components); the warehouse table has
typed columns (compounds folded into one JSON column). A "target-shaped" table for the raw
CSV keeps every raw column, gives it the type of the target column it feeds (components of a
compound stay text) and carries the target's primary key and secondary indexes. The COPY and
hand-written baselines write into such tables, so their rows cost what the engine's rows cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects import postgresql

from salesforce_elt.engine import models
from salesforce_elt.engine.registry import SObjectSpec


@dataclass(frozen=True)
class RawColumn:
    sf_name: str  # the raw CSV header
    name: str  # the baseline table's column
    pg_type: str
    kind: str = "text"  # text | boolean | date | datetime | double


def raw_columns(spec: SObjectSpec) -> list[RawColumn]:
    """One column per raw CSV column, in ``spec.soql_fields`` order."""
    table = models.table_for(spec)
    dialect = postgresql.dialect()
    key_type = table.c[spec.key_column].type.compile(dialect=dialect)
    by_sf: dict[str, RawColumn] = {spec.primary_key: RawColumn(spec.primary_key, spec.key_column, key_type)}
    for f in spec.fields:
        if f.components:
            for component in f.soql_fields:
                by_sf[component] = RawColumn(component, component.lower(), "text")
            continue
        # A multipicklist's raw "A;B" is not an array literal: the raw tables keep it as text.
        pg_type = "text" if f.sf_type == "multipicklist" else table.c[f.column].type.compile(dialect=dialect)
        by_sf[f.soql_fields[0]] = RawColumn(f.soql_fields[0], f.column, pg_type, kind=_kind(pg_type))
    return [by_sf[name] for name in spec.soql_fields]


def _kind(pg_type: str) -> str:
    upper = pg_type.upper()
    if upper.startswith("BOOLEAN"):
        return "boolean"
    if upper.startswith("TIMESTAMP"):
        return "datetime"
    if upper == "DATE":
        return "date"
    if upper.startswith(("DOUBLE", "FLOAT", "NUMERIC", "REAL")):
        return "double"
    if upper.startswith(("INTEGER", "BIGINT", "SMALLINT")):
        return "integer"
    return "text"


def index_columns(spec: SObjectSpec) -> list[str]:
    """The target table's secondary index columns (single-column indexes, as the models declare)."""
    table = models.table_for(spec)
    return sorted(col.name for index in table.indexes for col in index.columns)


def create_table_sql(
    spec: SObjectSpec, qualified_name: str, *, unlogged: bool = False, indexes: bool = True
) -> list[str]:
    """Statements creating the target-shaped raw table (``indexes=False``: no key, no index)."""
    cols = raw_columns(spec)
    body = ", ".join(f'"{c.name}" {c.pg_type}' for c in cols)
    if indexes:
        body += f', PRIMARY KEY ("{spec.key_column}")'
    statements = [f"CREATE {'UNLOGGED ' if unlogged else ''}TABLE {qualified_name} ({body})"]
    if indexes:
        short = qualified_name.split(".")[-1].strip('"')
        statements += [
            f'CREATE INDEX "ix_{short}_{name}" ON {qualified_name} ("{name}")' for name in index_columns(spec)
        ]
    return statements
