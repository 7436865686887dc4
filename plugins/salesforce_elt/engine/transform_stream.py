"""Transform each raw part while the rest of the extract is still downloading.

Over a real network the Bulk download is bound by the link, and the CPU waits. Here one
background thread converts every part the download reports finished (``part_ready``, callable
from any download thread), so the conversion overlaps the download instead of following it.
The typed parts, the rejects and the counts are exactly what the transform task would write
(the same ``PartTransformer``); the transform task then only checks the reject threshold.

A conversion error is kept, not raised into the download: ``finish()`` re-raises it, and the
extract then leaves the parts to the transform task, which fails with the usual message.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from salesforce_elt.engine.transform import PartTransformer, PathLike, Result

if TYPE_CHECKING:
    from salesforce_elt.engine.registry import SObjectSpec


class TransformWhileDownloading:
    """One thread, one queue of finished part names, one PartTransformer."""

    def __init__(self, spec: SObjectSpec, requested: Sequence[str], raw_dir: PathLike, typed_dir: PathLike) -> None:
        self._transformer = PartTransformer(spec, requested, raw_dir, typed_dir)
        self._parts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._abandoned = False
        self.busy_seconds = 0.0  # time spent converting (it overlaps the download)
        self._thread = threading.Thread(target=self._run, name="transform-parts", daemon=True)
        self._thread.start()

    def part_ready(self, name: str) -> None:
        """A part file is complete: convert it (thread-safe; returns at once)."""
        self._parts.put(name)

    def _run(self) -> None:
        while (name := self._parts.get()) is not None:
            if self._error is not None or self._abandoned:
                continue  # drain: the download goes on, the transform task will redo everything
            started = time.monotonic()
            try:
                self._transformer.add(name)
            except BaseException as exc:  # noqa: BLE001 - kept for finish(), which re-raises it
                self._error = exc
            self.busy_seconds += time.monotonic() - started

    def _stop(self) -> None:
        self._parts.put(None)
        self._thread.join()
        self._transformer.close()

    def finish(self) -> Result:
        """Wait for the parts reported so far; the result, typed files in part order."""
        self._stop()
        if self._error is not None:
            raise self._error
        result = self._transformer.finish()
        result.typed_files.sort()  # part names are zero-padded: name order is download order
        return result

    def abandon(self) -> None:
        """The download failed: stop converting (the attempt's files are left as they are)."""
        self._abandoned = True
        self._stop()
