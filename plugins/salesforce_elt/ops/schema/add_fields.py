"""``schema add-fields``: new Salesforce fields into the registry source, then a reviewed migration.

1. ``insert_fields(source, object_name, specs)`` edits ``registry.py``'s text: ``ast`` finds the
   ``SObjectSpec(name="X", ..., fields=(...))`` call and the new ``FieldSpec(...)`` lines go just
   before the tuple's closing parenthesis, indented like the entries above them. Everything else
   in the file (comments, blank lines, formatting) stays byte for byte.
2. ``generate_revision(repo_root, message)`` runs ``alembic revision --autogenerate`` in a fresh
   interpreter, so the models are built from the edited registry (this process has the old one
   imported). Autogenerate compares the models with the warehouse, which must be at head.
3. If anything fails, the registry file is put back as it was and no revision is left behind:
   a registry change without its migration would fail ``alembic check``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from salesforce_elt.engine.registry import FieldSpec, address, location

REGISTRY_PATH = Path("plugins/salesforce_elt/engine/registry.py")
VERSIONS_PATH = Path("migrations/versions")


class RegistryEditError(ValueError):
    """The registry source cannot be edited automatically; the message says why and where."""


def field_spec_source(f: FieldSpec) -> str:
    """The Python expression for a FieldSpec, in the registry's positional style."""
    if f.sf_type == "address" and f.sf_name.endswith("Address"):
        prefix = f.sf_name.removesuffix("Address")
        if _same_compound(f, address(prefix, f.column)):
            return f'address("{prefix}", "{f.column}")'
    if f.sf_type == "location" and _same_compound(f, location(f.sf_name, f.column)):
        return f'location("{f.sf_name}", "{f.column}")'
    args = [repr(f.sf_name), repr(f.column), repr(f.sf_type)]
    for name in ("length", "precision", "scale"):
        if getattr(f, name) is not None:
            args.append(f"{name}={getattr(f, name)!r}")
    if not f.nullable:
        args.append("nullable=False")
    if f.calculated:
        args.append("calculated=True")
    if f.index:
        args.append("index=True")
    if f.components:
        args.append(f"components={f.components!r}")
    return f"FieldSpec({', '.join(args)})".replace("'", '"')


def _same_compound(f: FieldSpec, helper: FieldSpec) -> bool:
    # The helper's component order is canonical; describe may list the components in another.
    return set(f.components) == set(helper.components) and replace(f, components=helper.components) == helper


def _spec_call(tree: ast.Module, object_name: str) -> ast.Call:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "SObjectSpec":
            for kw in node.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant) and kw.value.value == object_name:
                    return node
    raise RegistryEditError(f'no SObjectSpec(name="{object_name}", ...) call in the registry source')


def _fields_tuple(call: ast.Call, object_name: str) -> ast.Tuple:
    for kw in call.keywords:
        if kw.arg == "fields":
            if isinstance(kw.value, ast.Tuple) and kw.value.elts:
                return kw.value
            raise RegistryEditError(
                f"{object_name}: fields= is not a literal, non-empty tuple; add the fields by hand"
            )
    raise RegistryEditError(f"{object_name}: SObjectSpec call has no fields= keyword")


def _end(node: ast.expr) -> tuple[int, int]:
    """(0-based line, byte column) where ``node`` ends (ast.parse always sets both)."""
    if node.end_lineno is None or node.end_col_offset is None:
        raise RegistryEditError("the registry source parsed without end positions")
    return node.end_lineno - 1, node.end_col_offset


def _before(line: str, byte_offset: int) -> str:
    # ast columns count UTF-8 bytes, not characters.
    return line.encode("utf-8")[:byte_offset].decode("utf-8")


def insert_fields(source: str, object_name: str, specs: Sequence[FieldSpec]) -> str:
    """``source`` with ``specs`` appended to the object's ``fields=(...)`` tuple."""
    tree = ast.parse(source)
    fields = _fields_tuple(_spec_call(tree, object_name), object_name)
    lines = source.splitlines(keepends=True)
    close_line, close_col = _end(fields)  # the closing parenthesis
    if _before(lines[close_line], close_col - 1).strip():
        raise RegistryEditError(
            f"{object_name}: the fields tuple does not end with ')' on a line of its own; add the fields by hand"
        )
    last = fields.elts[-1]
    line = lines[last.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    # The entry before ours needs its trailing comma (Black's magic comma usually puts one there).
    tail_line, tail_byte = _end(last)
    tail_col = len(_before(lines[tail_line], tail_byte))
    between = "".join(lines[tail_line:close_line])[tail_col:]
    if "," not in between.split("#", 1)[0]:
        text = lines[tail_line]
        lines[tail_line] = text[:tail_col] + "," + text[tail_col:]
    new_lines = [f"{indent}{field_spec_source(f)},\n" for f in specs]
    edited = "".join(lines[:close_line] + new_lines + lines[close_line:])
    ast.parse(edited)  # never write a registry Python cannot read
    return edited


def next_revision_id(versions: Path) -> str:
    """The project numbers revisions 0001, 0002, ...: the next free number."""
    numbers = [int(m.group(1)) for p in versions.glob("*.py") if (m := re.match(r"(\d+)_", p.name))]
    return f"{max(numbers, default=0) + 1:04d}"


# Runs in a fresh interpreter whose sys.path starts with the target repo (see generate_revision).
_REVISION_SCRIPT = """
import sys
from dataclasses import replace
from pathlib import Path
from alembic import command
from alembic.config import Config
import salesforce_elt
from salesforce_elt.engine import registry
root, message, rev_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
if not Path(salesforce_elt.__file__).resolve().is_relative_to(root.resolve()):
    sys.exit(f"imported salesforce_elt from {salesforce_elt.__file__}, not from {root}")
registry.validate()
script = command.revision(Config(str(root / "alembic.ini")), message=message, autogenerate=True, rev_id=rev_id)
# Autogenerate spells the schema out; the template's SCHEMA keeps SALESFORCE_ELT_SCHEMA working.
path = Path(script.path)
path.write_text(path.read_text().replace(f"schema={registry.warehouse_schema()!r}", "schema=SCHEMA"))
print(path)
"""


def generate_revision(repo_root: Path, message: str) -> Path:
    """Autogenerate the next Alembic revision in ``repo_root``; returns its path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(repo_root / "plugins"), str(repo_root), *filter(None, [env.get("PYTHONPATH")])]
    )
    rev_id = next_revision_id(repo_root / VERSIONS_PATH)
    result = subprocess.run(
        [sys.executable, "-c", _REVISION_SCRIPT, str(repo_root), message, rev_id],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        # The last lines name the problem (e.g. "Target database is not up to date.").
        detail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"alembic revision --autogenerate failed: {detail}")
    return Path(result.stdout.strip().splitlines()[-1])


def apply(repo_root: Path, object_name: str, specs: Sequence[FieldSpec], message: str) -> Path:
    """Edit the registry and generate the revision; on any failure leave both as they were."""
    registry_file = repo_root / REGISTRY_PATH
    versions = repo_root / VERSIONS_PATH
    original = registry_file.read_text(encoding="utf-8")
    before = set(versions.glob("*.py"))
    registry_file.write_text(insert_fields(original, object_name, specs), encoding="utf-8")
    try:
        return generate_revision(repo_root, message)
    except BaseException:
        registry_file.write_text(original, encoding="utf-8")
        for leftover in set(versions.glob("*.py")) - before:
            leftover.unlink()
        raise
