"""REST query paging: query locators backed by JSON-lines files on disk.

The first page is answered from the cursor directly; the rest of the result is written by a
background thread as one JSON record per line to DIR/query/<locator>.jsonl, with the byte
offset of every 200th row kept in memory, so any later page is a seek plus at most 199
skipped lines. Nothing holds the whole result in memory. Locators expire after 15 minutes
without use (as Salesforce's do) and at most MAX_OPEN stay open (oldest closed first).
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
from collections import OrderedDict
from pathlib import Path

from salesforce_emulator.errors import SalesforceError
from salesforce_emulator.wire import WireFormat, dumps

_ALNUM = string.ascii_letters + string.digits
_STRIDE = 200  # smallest legal batch size, so every page start is at most one stride away
IDLE_EXPIRY_SECONDS = 15 * 60
MAX_OPEN = 50
DEFAULT_BATCH = 2000


def parse_batch_size(header: str | None) -> int:
    """Sforce-Query-Options: batchSize=N (200..2000). Out-of-range values are clamped.

    Salesforce treats the size as a hint and may return fewer rows; clamping is the
    plausible reading (unverified) rather than rejecting the request.
    """
    if not header:
        return DEFAULT_BATCH
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize":
            try:
                return min(max(int(value.strip()), 200), 2000)
            except ValueError:
                return DEFAULT_BATCH
    return DEFAULT_BATCH


def invalid_locator() -> SalesforceError:
    return SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


class _Locator:
    """One open query locator: the rest of a result being written to its JSON-lines file.

    A writer thread drains the cursor (which may be consumed from another thread) so the first
    page returns at once; page requests wait until the rows they need are on disk.
    """

    def __init__(self, path: Path, total: int, first_file_row: int, expected_rows: int, batch: int,
                 wire: WireFormat) -> None:
        self.path = path
        self.total = total
        self.first_file_row = first_file_row  # result row number of the file's first line
        self.expected_rows = expected_rows
        self.batch = batch
        self.wire = wire
        self.offsets: list[int] = []  # byte offset of file line k * _STRIDE
        self.rows_written = 0
        self.finished = False
        self.cancelled = False
        self.last_used = time.monotonic()
        self.cond = threading.Condition()

    def write(self, records) -> None:
        written = 0
        try:
            with self.path.open("wb") as out:
                for record in records:
                    if self.cancelled:
                        return
                    if written % _STRIDE == 0:
                        # Rows become visible to readers only once flushed to the file.
                        out.flush()
                        with self.cond:
                            self.offsets.append(out.tell())
                            self.rows_written = written
                            self.cond.notify_all()
                    out.write(dumps(record, self.wire.java_doubles).encode() + b"\n")
                    written += 1
        finally:
            with self.cond:
                self.rows_written = written
                self.expected_rows = written
                self.finished = True
                self.cond.notify_all()

    def wait_for(self, rows: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.finished or self.rows_written >= rows, timeout=600)

    def close(self) -> None:
        self.cancelled = True
        self.path.unlink(missing_ok=True)


def _page_json(total: int, next_url: str | None, record_lines: list[bytes]) -> bytes:
    head = {"totalSize": total, "done": next_url is None}
    if next_url:
        head["nextRecordsUrl"] = next_url
    prefix = json.dumps(head, separators=(",", ":"))[:-1].encode()
    return prefix + b',"records":[' + b",".join(record_lines) + b"]}"


class QueryLocators:
    def __init__(self, data_dir: Path, wire: WireFormat | None = None) -> None:
        self.wire = wire or WireFormat()
        self.dir = data_dir / "query"
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.iterdir():
            stale.unlink()
        self._lock = threading.Lock()
        self._open: OrderedDict[str, _Locator] = OrderedDict()

    def close(self) -> None:
        with self._lock:
            locators = list(self._open.values())
            self._open.clear()
        for loc in locators:
            loc.close()

    def _next_url(self, version: str, locator_id: str, row: int) -> str:
        return f"/services/data/v{version}/query/{locator_id}-{row}"

    def first_page(self, cursor, batch: int, version: str) -> bytes:
        """Answer the first page and park the remainder of the result behind a locator."""
        records = iter(cursor.records())
        size = self.wire.page_size(batch, 0)
        first = []
        for record in records:
            first.append(dumps(record, self.wire.java_doubles).encode())
            if len(first) == size:
                break
        total = cursor.total_size
        if len(first) < size or total <= size:
            cursor.close()
            return _page_json(total, None, first)
        locator_id = "01g" + "".join(secrets.choice(_ALNUM) for _ in range(15))
        locator = _Locator(self.dir / f"{locator_id}.jsonl", total, size, total - size, batch, self.wire)
        with self._lock:
            self._open[locator_id] = locator
            self._expire_locked()
        threading.Thread(target=locator.write, args=(records,), name=f"query-{locator_id}", daemon=True).start()
        return _page_json(total, self._next_url(version, locator_id, size), first)

    def _expire_locked(self) -> None:
        now = time.monotonic()
        for key in list(self._open):
            loc = self._open[key]
            if now - loc.last_used > IDLE_EXPIRY_SECONDS or len(self._open) > MAX_OPEN:
                del self._open[key]
                loc.close()

    def page(self, locator_ref: str, version: str) -> bytes:
        """A later page, for 'query/<locator id>-<row>'."""
        locator_id, _, row_text = locator_ref.rpartition("-")
        if not row_text.isdigit():
            raise invalid_locator()
        row = int(row_text)
        with self._lock:
            self._expire_locked()
            loc = self._open.get(locator_id)
            if loc is not None:
                loc.last_used = time.monotonic()
                self._open.move_to_end(locator_id)
        if loc is None:
            raise invalid_locator()
        line = row - loc.first_file_row
        wanted = min(loc.wire.page_size(loc.batch, row), loc.expected_rows - line)
        if line < 0 or wanted <= 0:
            raise invalid_locator()
        loc.wait_for(line + wanted)
        with loc.cond:
            wanted = min(wanted, loc.rows_written - line)
            offset = loc.offsets[line // _STRIDE] if wanted > 0 else 0
        lines: list[bytes] = []
        try:
            with loc.path.open("rb") as f:
                f.seek(offset)
                for _ in range(line % _STRIDE):
                    f.readline()
                for _ in range(max(wanted, 0)):
                    lines.append(f.readline().rstrip(b"\n"))
        except FileNotFoundError as exc:  # expired between lookup and read
            raise invalid_locator() from exc
        done = line + len(lines) >= loc.expected_rows
        return _page_json(loc.total, None if done else self._next_url(version, locator_id, row + len(lines)), lines)
