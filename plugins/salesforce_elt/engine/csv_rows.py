"""The CSV dialect every staged file is written in (raw parts, rejects): Bulk 2.0's, made safe for CR."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class CsvRowWriter:
    """``csv.writer`` (comma, LF, minimal quoting) that also quotes every field of a row holding a CR.

    The csv module quotes a field only for the delimiter, the quote character and the characters of
    its line terminator ("\n" here), so a lone carriage return went out bare, and CSV readers (pyarrow,
    COPY) end the record there. RFC 4180 requires CR inside a field to be quoted; a row with one
    goes out fully quoted (rare: the plain writer keeps its speed for every other row).
    """

    def __init__(self, text: SupportsWrite[str]) -> None:
        self._plain = csv.writer(text, lineterminator="\n")
        self._quoted = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence[Any]) -> None:
        if any(isinstance(v, str) and "\r" in v for v in row):
            self._quoted.writerow(row)
        else:
            self._plain.writerow(row)
