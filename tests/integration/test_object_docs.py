"""The committed docs/objects/ pages are what `schema docs` writes today from the registry and the
emulator's describe: regenerated into a temp folder and compared page by page."""

from __future__ import annotations

from tests.support.object_docs import DOCS, REGENERATE, stale_pages, write_object_docs


def test_object_docs_are_current(sf_emulator, tmp_path):
    written = write_object_docs(sf_emulator.connection_info, tmp_path)
    assert written, "schema docs wrote no page"
    stale = stale_pages(tmp_path)
    assert stale == [], (
        f"stale in docs/objects: {', '.join(stale)} (not what `schema docs` writes now: compare with "
        f"{tmp_path}); regenerate with `{REGENERATE}` and commit {DOCS.relative_to(DOCS.parents[1])}/"
    )
