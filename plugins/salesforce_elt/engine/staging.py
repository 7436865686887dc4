"""Staging files between extract and transform (layout in docs/sync-contract.md).

<base>/<dag_id>/<run_id>/<object>/<task_id>[-<map_index>]/try-<try_number>/raw/part-00000.csv
Every attempt writes to its own directory, so files of a dead attempt are never loaded: only the
path in the extract task's XCom is read.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from airflow.sdk import Context, ObjectStoragePath

from salesforce_elt import settings
from salesforce_elt.engine.csv_rows import CsvRowWriter

log = logging.getLogger(__name__)

ROWS_PER_PART = 100_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:+=-]")


def _segment(value: str) -> str:
    # Run ids are free text when triggered by hand; a "/" would change the layout's depth.
    return _UNSAFE.sub("_", value)


def staging_root(base: str | None = None) -> ObjectStoragePath:
    return ObjectStoragePath(base or settings.staging_base())


def attempt_dir(context: Context, object_name: str, base: str | None = None) -> ObjectStoragePath:
    """This task attempt's own staging directory (``.../try-<n>``), created if missing."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    task_part = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}-{map_index}"
    path = (
        staging_root(base)
        / _segment(ti.dag_id)
        / _segment(ti.run_id)
        / _segment(object_name)
        / _segment(task_part)
        / f"try-{ti.try_number}"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def part_name(index: int) -> str:
    return f"part-{index:05d}.csv"


class CsvPartWriter:
    """Writes rows as Bulk 2.0-style CSV part files, a new part every ``rows_per_part`` rows.

    Same dialect as Bulk 2.0 results (comma, LF, RFC 4180 quoting, see ``CsvRowWriter``), header in
    every part. ``None`` becomes an empty field. Only one part is open at a time: memory stays bounded.
    """

    def __init__(
        self,
        dest_dir: ObjectStoragePath,
        header: Sequence[str],
        *,
        rows_per_part: int = ROWS_PER_PART,
        start_part: int = 0,
    ):
        self.dest_dir = dest_dir
        self.header = list(header)
        self.rows_per_part = rows_per_part
        self.files: list[str] = []
        self.records = 0
        self._next_part = start_part
        self._rows_in_part = 0
        self._text: io.TextIOWrapper | None = None
        self._writer: CsvRowWriter | None = None

    def __enter__(self) -> CsvPartWriter:
        self.dest_dir.mkdir(parents=True, exist_ok=True)
        self._open_part()  # even an empty result gets one header-only file
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_part()

    def _open_part(self) -> None:
        name = part_name(self._next_part)
        self._next_part += 1
        binary: IO[bytes] = (self.dest_dir / name).open("wb")
        self._text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        self._writer = CsvRowWriter(self._text)
        self._writer.writerow(self.header)
        self._rows_in_part = 0
        self.files.append(name)

    def _close_part(self) -> None:
        if self._text is not None:
            self._text.close()  # closes the underlying binary stream too
            self._text = None

    def write(self, row: Iterable[Any]) -> None:
        if self._rows_in_part >= self.rows_per_part:
            self._close_part()
            self._open_part()
        if self._writer is None:
            raise RuntimeError("CsvPartWriter.write() outside its with block")
        self._writer.writerow(["" if v is None else v for v in row])
        self._rows_in_part += 1
        self.records += 1


class CsvRecordCounter:
    """Counts CSV records in a byte stream fed chunk by chunk, honouring newlines inside quotes."""

    def __init__(self) -> None:
        self.newlines = 0
        self.bytes = 0
        self._in_quotes = False
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.bytes += len(chunk)
        self._last = chunk[-1:]
        if not self._in_quotes and b'"' not in chunk:
            self.newlines += chunk.count(b"\n")
            return
        # Segments between quote characters alternate outside/inside; a doubled quote ("")
        # toggles twice, so it leaves the state unchanged, as RFC 4180 intends.
        segments = chunk.split(b'"')
        for i, segment in enumerate(segments):
            if not self._in_quotes:
                self.newlines += segment.count(b"\n")
            if i < len(segments) - 1:
                self._in_quotes = not self._in_quotes

    @property
    def records(self) -> int:
        """Data rows: lines minus the header row (a missing final newline still ends a row)."""
        if self.bytes == 0:
            return 0
        lines = self.newlines + (0 if self._last == b"\n" else 1)
        return max(0, lines - 1)


def _newest_mtime(path: ObjectStoragePath) -> float:
    newest: float = path.stat().st_mtime
    for entry in path.rglob("*"):
        newest = max(newest, entry.stat().st_mtime)
    return newest


def cleanup_staging(
    older_than_days: float | None = None, *, base: str | None = None, now: datetime | None = None
) -> list[str]:
    """Delete run folders (``<base>/<dag_id>/<run_id>``) untouched for longer than the retention.

    A run folder's age is its newest file's modification time, so a run that is still writing
    (or was retried yesterday) is kept. Returns the URIs removed.
    """
    days = settings.staging_retention_days() if older_than_days is None else older_than_days
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).timestamp()
    root = staging_root(base)
    if not root.exists():
        return []
    removed: list[str] = []
    for dag_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for run_dir in sorted(p for p in dag_dir.iterdir() if p.is_dir()):
            if _newest_mtime(run_dir) < cutoff:
                run_dir.fs.rm(run_dir.path, recursive=True)
                removed.append(str(run_dir))
                log.info("Removed staging run folder %s", run_dir)
    return removed
