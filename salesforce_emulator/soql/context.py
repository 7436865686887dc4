"""Per-query compile context and the shapes of SOQL errors."""

from __future__ import annotations

from datetime import datetime

from .. import objects as md
from ..errors import SalesforceError

MAX_SOQL_LENGTH = 100_000
MAX_OFFSET = 2000
MAX_SEMI_JOINS = 2


def preamble(soql: str, pos: int) -> str:
    """The "\\n<line>\\n<caret>\\nERROR at Row:r:Column:c\\n" preamble Salesforce prefixes
    positional query errors with (column is 1-based)."""
    pos = max(0, min(pos, len(soql)))
    row = soql.count("\n", 0, pos) + 1
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    if line_end < 0:
        line_end = len(soql)
    col = pos - line_start + 1
    return f"\n{soql[line_start:line_end]}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n"


class Ctx:
    """Per-query compile context: the SOQL text (for error positions) and options."""

    def __init__(self, soql: str, schema: md.Schema, include_deleted: bool, api: str, api_version: str,
                 now: datetime):
        self.soql = soql
        self.schema = schema
        self.include_deleted = include_deleted
        self.api = api
        self.api_version = api_version
        self.now = now
        self.alias_n = 0
        self.semi_joins = 0

    def err(self, code: str, pos: int, message: str) -> SalesforceError:
        return SalesforceError(400, code, preamble(self.soql, pos) + message)

    def malformed(self, pos: int, message: str) -> SalesforceError:
        return self.err("MALFORMED_QUERY", pos, message)

    def new_alias(self, base: str) -> str:
        self.alias_n += 1
        return f"{base}{self.alias_n}"


def bulk_error(message: str) -> SalesforceError:
    # Bulk 2.0 refuses unsupported SOQL when the job is created: 400 with a JSON-array body.
    # The contract gives the messages for subqueries and compound fields; the errorCode is
    # unverified: Bulk API 1.0 reported these as "InvalidBatch : Failed to process query:
    # FUNCTIONALITY_NOT_ENABLED: ..."; Bulk 2.0 answers job creation with API_ERROR, which is
    # what we use for every Bulk-specific SOQL refusal.
    return SalesforceError(400, "API_ERROR", message)

