"""`schema docs | diff | add-fields`: explore a live describe, detect drift, adopt new fields.

All three read the org through the `salesforce_default` connection (``--conn-id``), like the DAGs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import salesforce_elt
from salesforce_elt.engine import registry
from salesforce_elt.ops.cli import CliError, conn_id_help

if TYPE_CHECKING:
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.ops.schema.describe import DescribedObject

REPO_ROOT = Path(salesforce_elt.__file__).resolve().parents[2]


def logs_to_stderr() -> contextlib.AbstractContextManager[object]:
    """Airflow logs to stdout; a command's stdout is its result (``--json`` is parsed by scripts)."""
    return contextlib.redirect_stdout(sys.stderr)


def salesforce_hook(conn_id: str) -> SalesforceApiHook:
    """The ELT's Salesforce hook, or a CliError naming the missing connection (never its secrets)."""
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook

    hook = SalesforceApiHook(salesforce_conn_id=conn_id)
    try:
        hook.get_connection(conn_id)
    except Exception as exc:  # Airflow's not-found error class moved between versions
        raise CliError(
            f"Salesforce connection {conn_id!r} is not defined: set AIRFLOW_CONN_{conn_id.upper()} "
            f"or create it in Airflow ({type(exc).__name__})"
        ) from None
    return hook


def describe(hook: SalesforceApiHook, object_name: str) -> DescribedObject:
    from salesforce_elt.airflow.hooks.errors import SalesforceApiError
    from salesforce_elt.ops.schema.describe import normalize

    try:
        return normalize(hook.describe(object_name))
    except (SalesforceApiError, ValueError) as exc:
        raise CliError(f"describe {object_name}: {exc}") from None


def _registered(names: list[str] | None) -> list[registry.SObjectSpec]:
    try:
        return [registry.get_object(n) for n in names] if names else list(registry.REGISTRY.values())
    except KeyError as exc:
        raise CliError(exc.args[0]) from None


def _docs(args: argparse.Namespace) -> int:
    from salesforce_elt.ops.schema import docs

    paths = []
    with logs_to_stderr():
        hook = salesforce_hook(args.conn_id)
        for name in args.object or list(registry.REGISTRY):
            obj = describe(hook, name)
            spec = next((s for s in registry.REGISTRY.values() if s.name.lower() == obj.name.lower()), None)
            paths.append(docs.write(obj, spec, Path(args.out)))
    print("\n".join(str(p) for p in paths))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from salesforce_elt.ops.schema.diff import compare_described, render_json, render_text

    specs = _registered(args.object)
    with logs_to_stderr():
        hook = salesforce_hook(args.conn_id)
        drifts = [compare_described(spec, describe(hook, spec.name)) for spec in specs]
    print(render_json(drifts) if args.json else render_text(drifts))
    return 1 if any(d.drifted for d in drifts) else 0


def chosen_fields(
    spec: registry.SObjectSpec, obj: DescribedObject, wanted: list[str]
) -> list[registry.FieldSpec]:
    """The FieldSpecs for the requested new fields, or a CliError saying why one cannot be added."""
    from salesforce_elt.ops.schema.diff import compare_described

    drift = compare_described(spec, obj)
    added = {f.sf_name.lower(): f for f in drift.added}
    excluded = {name.lower(): reason for name, reason in drift.excluded}
    registered = {f.sf_name.lower() for f in spec.fields}
    chosen = []
    for name in {name.lower(): name for name in reversed(wanted)}.values():
        key, described = name.lower(), obj.field(name)
        if key in added:
            chosen.append(added[key])
        elif key in registered:
            raise CliError(f"{spec.name}.{name} is already in the registry")
        elif key in excluded:
            raise CliError(f"{spec.name}.{name} cannot be synced: {excluded[key]}")
        elif described is not None and obj.is_component(described):
            raise CliError(f"{spec.name}.{name} is part of the compound {described.compound_name}: add that")
        else:
            raise CliError(f"Salesforce has no field {spec.name}.{name} (or it is the key)")
    return chosen


def _add_fields(args: argparse.Namespace) -> int:
    from salesforce_elt.ops.schema import add_fields

    root = Path(args.repo_root).resolve()
    expected = root / add_fields.REGISTRY_PATH
    if Path(registry.__file__).resolve() != expected:
        raise CliError(
            f"--repo-root {root}: this process imported {registry.__file__}; run it with "
            f"PYTHONPATH={root / 'plugins'}:{root} so the registry it edits is the one it reads"
        )
    spec = _registered([args.object])[0]
    with logs_to_stderr():
        chosen = chosen_fields(spec, describe(salesforce_hook(args.conn_id), spec.name), args.field)
    message = args.message or f"add {spec.name} fields {', '.join(f.sf_name for f in chosen)}"
    try:
        revision = add_fields.apply(root, spec.name, chosen, message)
    except (add_fields.RegistryEditError, RuntimeError) as exc:
        raise CliError(f"{spec.name}: {exc} (registry left unchanged)") from None
    for f in chosen:
        print(f"registry: {spec.name} += {add_fields.field_spec_source(f)}")
    print(f"revision: {revision}")
    print("Review the revision, then apply it with: alembic upgrade head")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schema = subparsers.add_parser("schema", help="describe-based docs, drift report, adopt new fields")
    commands = schema.add_subparsers(dest="schema_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--conn-id", default=None, help=conn_id_help())

    docs = commands.add_parser(
        "docs", parents=[common], help="one Markdown file per object from a live describe"
    )
    docs.add_argument("--object", action="append", help="object API name (repeatable; default: the registry)")
    docs.add_argument("--out", default=str(REPO_ROOT / "docs" / "objects"), help="output folder")
    docs.set_defaults(handler=_docs)

    diff = commands.add_parser(
        "diff", parents=[common], help="live describe vs registry; exit 1 when drifted"
    )
    diff.add_argument("--object", action="append", help="registered object (repeatable; default: all)")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.set_defaults(handler=_diff)

    add = commands.add_parser(
        "add-fields",
        parents=[common],
        help="add new Salesforce fields to the registry and autogenerate the migration",
    )
    add.add_argument("--object", required=True, help="registered object, e.g. Contact")
    add.add_argument("--field", action="append", required=True, help="field API name (repeatable)")
    add.add_argument("--message", help="revision message (default: add <object> fields <names>)")
    add.add_argument(
        "--repo-root", default=str(REPO_ROOT), help="repository whose registry and migrations to edit"
    )
    add.set_defaults(handler=_add_fields)
