"""docs/objects/ as `schema docs` writes it: the emulator's describe of every registry object.

The pages are committed; tests/integration/test_object_docs.py fails when they differ from what
the registry and the emulator give today. ``python -m tests.support.object_docs`` rewrites them
(an emulated org of its own, no Airflow connection to set up).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.databases import REPO

DOCS = REPO / "docs" / "objects"
REGENERATE = "python -m tests.support.object_docs"


def write_object_docs(connection_info: dict, out_dir: Path) -> list[Path]:
    """`schema docs --out out_dir` against the org of ``connection_info``; the pages written."""
    from embedded_stack.connections import salesforce_connection
    from salesforce_elt.ops.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_connection(connection_info))
        assert main(["schema", "docs", "--out", str(out_dir)]) == 0
    return sorted(out_dir.glob("*.md"))


def stale_pages(generated: Path, committed: Path = DOCS) -> list[str]:
    """Committed pages that differ from, are missing from, or are not among the generated ones."""
    new = {p.name: p.read_text(encoding="utf-8") for p in generated.glob("*.md")}
    old = {p.name: p.read_text(encoding="utf-8") for p in committed.glob("*.md")}
    return sorted(name for name in new.keys() | old.keys() if new.get(name) != old.get(name))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sf-elt-docs-") as tmp:
        # Airflow reads its home when first imported: a throwaway one, not the user's.
        os.environ.setdefault("AIRFLOW_HOME", str(Path(tmp) / "airflow"))
        from salesforce_emulator.server import EmulatorServer

        with EmulatorServer(Path(tmp) / "org", contacts=20, seed=1) as server:
            for stale in set(DOCS.glob("*.md")):
                stale.unlink()  # pages of objects no longer in the registry go too
            write_object_docs(server.connection_info, DOCS)  # `schema docs` prints each page's path
    return 0


if __name__ == "__main__":
    sys.exit(main())
