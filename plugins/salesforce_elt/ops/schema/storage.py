"""Storage calculator: what each synced table costs in Postgres, and what the whole org would cost.

Per table: exact rows (``count(*)``) and the planner's estimate (``pg_class.reltuples``, -1 until
the first ANALYZE -> None), heap / index / TOAST bytes, bytes per row, and a projection: the org's
record count (``/limits/recordCount``) of each object feeding the table times bytes per row.

Byte split (sums to ``pg_total_relation_size``):
- ``table_bytes``: the heap with its free-space and visibility maps (``pg_table_size`` minus TOAST);
- ``index_bytes``: ``pg_indexes_size``;
- ``toast_bytes``: the TOAST relation with its index (``pg_total_relation_size(reltoastrelid)``),
  where long text and jsonb values live.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from salesforce_elt.engine import registry
from salesforce_elt.engine.warehouse import one_row

if TYPE_CHECKING:
    import psycopg

_SIZES = """
SELECT c.reltuples,
       pg_table_size(c.oid) AS table_and_toast,
       pg_indexes_size(c.oid) AS index_bytes,
       CASE WHEN c.reltoastrelid = 0 THEN 0 ELSE pg_total_relation_size(c.reltoastrelid) END AS toast_bytes,
       pg_total_relation_size(c.oid) AS total_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
"""


def _table_stats(conn: psycopg.Connection, schema: str, table: str) -> dict[str, Any]:
    from psycopg import sql

    sizes = conn.execute(_SIZES, (schema, table)).fetchone()
    if sizes is None:
        raise LookupError(
            f"table {schema}.{table} does not exist: apply the migrations (python -m salesforce_elt migrate)"
        )
    reltuples, table_and_toast, index_bytes, toast_bytes, total_bytes = sizes
    count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
    rows = one_row(count, f"the row count of {schema}.{table}")[0]
    return {
        "rows": rows,
        "estimated_rows": int(reltuples) if reltuples is not None and reltuples >= 0 else None,
        "table_bytes": table_and_toast - toast_bytes,
        "index_bytes": index_bytes,
        "toast_bytes": toast_bytes,
        "total_bytes": total_bytes,
    }


def storage_report(conn: psycopg.Connection, record_counts: Mapping[str, int] | None) -> list[dict[str, Any]]:
    """One dict per synced table (sorted by table): sizes, bytes per row and the org projection.

    ``record_counts`` is ``SalesforceApiHook.record_counts(objects)`` (``None``: no projection).
    An object missing from it gets no projection rather than a wrong one.
    """
    schema = registry.warehouse_schema()
    report = []
    for table, specs in registry.tables().items():
        stats = _table_stats(conn, schema, table)
        per_row = stats["total_bytes"] / stats["rows"] if stats["rows"] else None
        objects = [spec.name for spec in specs]
        org = {name: (record_counts or {}).get(name) for name in objects}
        projection = {
            name: round(count * per_row) if count is not None and per_row is not None else None
            for name, count in org.items()
        }
        known = [v for v in projection.values() if v is not None]
        report.append(
            {
                "schema": schema,
                "table": table,
                "objects": objects,
                **stats,
                "bytes_per_row": round(per_row, 1) if per_row is not None else None,
                "org_records": org,
                "projected_bytes_by_object": projection,
                "projected_bytes": sum(known) if known and len(known) == len(projection) else None,
            }
        )
    return report


def human_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def render_text(report: list[dict[str, Any]]) -> str:
    """A fixed-width table, one line per synced table, plus the projected total."""
    header = (
        "table",
        "rows",
        "est. rows",
        "table",
        "indexes",
        "toast",
        "total",
        "bytes/row",
        "org records",
        "projected",
    )
    rows = [header]
    for entry in report:
        org_records = [v for v in entry["org_records"].values() if v is not None]
        rows.append(
            (
                f"{entry['schema']}.{entry['table']}",
                str(entry["rows"]),
                "-" if entry["estimated_rows"] is None else str(entry["estimated_rows"]),
                human_bytes(entry["table_bytes"]),
                human_bytes(entry["index_bytes"]),
                human_bytes(entry["toast_bytes"]),
                human_bytes(entry["total_bytes"]),
                "-" if entry["bytes_per_row"] is None else f"{entry['bytes_per_row']:.0f}",
                str(sum(org_records)) if org_records else "-",
                human_bytes(entry["projected_bytes"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    projected = [e["projected_bytes"] for e in report if e["projected_bytes"] is not None]
    if projected:
        lines.append(f"projected size of the whole org: {human_bytes(sum(projected))}")
    return "\n".join(lines)
