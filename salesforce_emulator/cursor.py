"""Streaming a compiled query's result: REST records or Bulk 2.0 CSV, from one read snapshot."""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from collections.abc import Iterator
from typing import Any, Protocol

from .soql import Plan
from .wire import java_double


class SnapshotSource(Protocol):
    """What a cursor needs of the org: a connection of its own (the store's ``Org``)."""

    def reader(self) -> sqlite3.Connection: ...


class QueryCursor:
    """A compiled query bound to its own read snapshot.

    The connection (and its read transaction) is opened at construction so that ``total_size``
    and the rows come from the same snapshot; it is released when ``records()`` /
    ``write_csv()`` finishes, on ``close()``, or when the cursor is garbage-collected. It may be
    consumed from a different thread than the one that created it (not concurrently).
    """

    FETCH = 2000

    def __init__(self, org: SnapshotSource, plan: Plan):
        self.plan = plan
        self.object_name: str = plan.object_name
        self.columns: list[str] = plan.columns
        self.is_count: bool = plan.is_count
        self._conn: sqlite3.Connection | None = org.reader()
        self._conn.execute("BEGIN")
        self.total_size: int = self._conn.execute(plan.count_sql, plan.count_params).fetchone()[0]
        if plan.is_count:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("COMMIT")
            self._conn.close()
            self._conn = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> QueryCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str) -> Iterator[list[tuple]]:
        if self._conn is None:
            raise RuntimeError("query cursor already consumed or closed")
        try:
            cur = self._conn.execute(sql, self.plan.params)
            while True:
                batch = cur.fetchmany(self.FETCH)
                if not batch:
                    break
                yield batch
        finally:
            self.close()

    def records(self) -> Iterator[dict]:
        """REST-shaped records, streamed."""
        if self.is_count:
            return
        build = self.plan.build_record
        for batch in self._rows(self.plan.sql):
            for row in batch:
                yield build(row)

    def write_csv(self, fileobj: Any, *, quote_all: bool = False, java_doubles: bool = False) -> int:
        """Bulk 2.0 CSV (header row, RFC 4180, null -> empty, LF); returns the number of rows.

        ``quote_all`` quotes every field (null -> ``""``); ``java_doubles`` prints floats as Java's
        Double.toString does (see salesforce_emulator.wire). Either way a field holding CR is quoted:
        the csv module quotes only for the characters of its line terminator ("\n"), and RFC 4180
        wants CR quoted too (an unquoted one ends the record for most readers).
        """
        wrapper = None
        if not isinstance(fileobj, io.TextIOBase):
            wrapper = io.TextIOWrapper(fileobj, encoding="utf-8", newline="", write_through=True)
            out = wrapper
        else:
            out = fileobj
        quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
        csv.writer(out, lineterminator="\n", quoting=quoting).writerow(self.columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=quoting)
        n = 0
        try:
            if not self.is_count:
                for batch in self._rows(self.plan.csv_sql):
                    if java_doubles:
                        batch = [tuple(java_double(v) if type(v) is float else v for v in row) for row in batch]
                    buffer.seek(0)
                    buffer.truncate()
                    writer.writerows(batch)
                    text = buffer.getvalue()
                    if "\r" in text and not quote_all:
                        # Rare: redo this batch, quoting every field of the rows holding a CR.
                        buffer.seek(0)
                        buffer.truncate()
                        row_writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
                        for row in batch:
                            cr = any(isinstance(v, str) and "\r" in v for v in row)
                            (row_writer if cr else writer).writerow(row)
                        text = buffer.getvalue()
                    out.write(text)
                    n += len(batch)
        finally:
            if wrapper is not None:
                wrapper.flush()
                wrapper.detach()
        return n
