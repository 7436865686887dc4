"""Markdown documentation of one Salesforce object from its live describe and the registry.

One file per object (``docs/objects/Contact.md``): fields grouped as standard, custom,
relationship and system, each with its Salesforce facts and the warehouse column it maps to —
the registry's column when the object and field are registered, the column ``schema add-fields``
would propose otherwise. The output has no timestamps, so regenerating unchanged docs gives an
identical file (they are committed and reviewed like code).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.dialects import postgresql

from salesforce_elt.engine import types
from salesforce_elt.engine.registry import FieldSpec, SObjectSpec, warehouse_schema
from salesforce_elt.ops.schema.describe import DescribedField, DescribedObject, field_spec, propose_column

GROUPS = (
    ("standard", "Standard fields"),
    ("custom", "Custom fields"),
    ("relationship", "Relationship fields"),
    ("system", "System fields"),
)
PICKLIST_SHOWN = 15
_POSTGRES = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect constructors are unannotated
_HEADER = (
    "| Field | Label | Salesforce type | Length / precision, scale | Nillable | References "
    "| Picklist values | Formula | Column | Postgres type |"
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text not in (None, "") else ""


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def postgres_type(spec: FieldSpec) -> str:
    return str(types.column_type(spec).compile(dialect=_POSTGRES)).lower()


def _size(f: DescribedField) -> str:
    if f.type in types.DECIMAL_TYPES and f.precision:
        return f"{f.precision}, {f.scale or 0}"
    if f.type in ("int", "long") and f.digits:
        return f"{f.digits} digits"
    return str(f.length) if f.length and f.type != "id" else ""


def _picklist(f: DescribedField) -> str:
    values = list(f.picklist_values[:PICKLIST_SHOWN])
    if len(f.picklist_values) > PICKLIST_SHOWN:
        values.append(f"… {len(f.picklist_values) - PICKLIST_SHOWN} more")
    return ", ".join(values)


class _Columns:
    """Where each described field lands: registry column, proposed column, jsonb key or excluded."""

    def __init__(self, obj: DescribedObject, spec: SObjectSpec | None) -> None:
        self.obj, self.spec = obj, spec
        self.registered = {f.sf_name.lower(): f for f in spec.fields} if spec else {}
        self.taken = set(spec.columns) if spec else set()
        self.proposed: dict[str, FieldSpec | str] = {}  # lower name -> FieldSpec, or the exclusion reason

    def mapping(self, f: DescribedField) -> FieldSpec | str:
        key = f.name.lower()
        if key in self.registered:
            return self.registered[key]
        if key not in self.proposed:
            column = propose_column(f.name, self.taken)
            try:
                self.proposed[key] = field_spec(self.obj, f, column)
                self.taken.add(column)
            except types.UnsupportedFieldType as exc:
                self.proposed[key] = str(exc).split(": ", 1)[-1]
        return self.proposed[key]

    def cells(self, f: DescribedField) -> tuple[str, str]:
        """(column, Postgres type) for one field's row."""
        if f.type == "id":
            return _code(self.spec.key_column if self.spec else "salesforce_id"), "varchar(18) (primary key)"
        if self.obj.is_component(f):
            parent = self.obj.field(f.compound_name or "")
            mapped = self.mapping(parent) if parent else None
            if isinstance(mapped, FieldSpec):
                key = dict((sf.lower(), k) for sf, k in mapped.components).get(f.name.lower(), "?")
                return _code(f"{mapped.column} ->> '{key}'"), f"key of {mapped.column} (jsonb)"
            return "", ""
        mapped = self.mapping(f)
        if isinstance(mapped, str):
            return f"excluded: {mapped}", ""
        column = _code(mapped.column)
        if f.name.lower() not in self.registered:
            column += " (proposed)"
        return column, postgres_type(mapped)


def _row(f: DescribedField, columns: _Columns) -> str:
    column, pg_type = columns.cells(f)
    cells = (
        _code(f.name),
        _cell(f.label),
        f.type + (" (compound)" if f.is_compound else ""),
        _size(f),
        "yes" if f.nillable else "no",
        ", ".join(f.reference_to),
        _cell(_picklist(f)),
        "yes" if f.calculated else "",
        column,
        pg_type,
    )
    return "| " + " | ".join(cells) + " |"


def _overview(obj: DescribedObject, spec: SObjectSpec | None) -> list[str]:
    facts = [
        f"- Label: {obj.label}; key prefix `{obj.key_prefix or '-'}`; {'custom' if obj.custom else 'standard'} object; "
        f"queryable: {'yes' if obj.queryable else 'no'}; replicateable: {'yes' if obj.replicateable else 'no'}.",
    ]
    if spec is None:
        facts.append(
            "- Not in the registry: columns below are what `schema add-fields` would propose once an "
            "`SObjectSpec` exists."
        )
    else:
        facts.append(
            f"- Synced to `{warehouse_schema()}.{spec.table}` by DAG `{spec.resolved_dag_id}` "
            f"({spec.api} API, cursor `{spec.cursor_field}`, deletes: {spec.delete_handling})."
        )
    return facts


def render(obj: DescribedObject, spec: SObjectSpec | None) -> str:
    """The Markdown page for one object."""
    columns = _Columns(obj, spec)
    lines = [
        f"# {obj.name}",
        "",
        "<!-- Generated by `python -m salesforce_elt schema docs` from a live describe; do not edit. -->",
        "",
        *_overview(obj, spec),
    ]
    for group, title in GROUPS:
        fields = [f for f in obj.fields if f.group == group]
        if not fields:
            continue
        lines += ["", f"## {title} ({len(fields)})", "", _HEADER, "|" + "---|" * 10]
        lines += [_row(f, columns) for f in fields]
    excluded = [(f, columns.mapping(f)) for f in obj.fields if f.type != "id" and not obj.is_component(f)]
    excluded = [(f, reason) for f, reason in excluded if isinstance(reason, str)]
    if excluded:
        lines += ["", "## Excluded fields", ""]
        lines += [f"- `{f.name}` ({f.type}): {reason}" for f, reason in excluded]
    formulas = [f for f in obj.fields if f.calculated]
    if formulas:
        lines += [
            "",
            "## Formula fields",
            "",
            "A formula change does not bump SystemModstamp: these columns can go stale until re-read.",
            "",
        ]
        lines += [f"- `{f.name}`: `{_cell(f.formula or '(formula not shown)')}`" for f in formulas]
    if spec is not None:
        missing = [f for f in spec.fields if obj.field(f.sf_name) is None]
        if missing:
            lines += ["", "## In the registry but not in Salesforce", ""]
            lines += [
                f"- `{f.sf_name}` -> `{f.column}` (the column stays; the sync leaves it null)"
                for f in missing
            ]
    return "\n".join(lines) + "\n"


def write(obj: DescribedObject, spec: SObjectSpec | None, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{obj.name}.md"
    path.write_text(render(obj, spec), encoding="utf-8")
    return path
