"""SOQL: tokenizer, recursive-descent parser, and translator to parameterized SQLite SQL with
Salesforce semantics and error shapes.

Supported subset (contract §9): SELECT field list with child-to-parent paths (including the
polymorphic Who/What/Relation lookups), COUNT(), FROM, WHERE (= != <> < <= > >= LIKE IN NOT IN
INCLUDES EXCLUDES AND OR NOT, parentheses, null comparisons, date literals, semi-/anti-joins),
ORDER BY with ASC/DESC and NULLS FIRST/LAST, LIMIT and OFFSET.

Literals are always bound as parameters; only identifiers taken from the org's metadata are
written into the SQL text. The modules, each depending only on those before it:

- ``context``: limits, the per-query context and the error shapes (the "ERROR at Row" preamble);
- ``lexer``: tokens; ``parser``: the AST; ``dates``: date and dateTime literals;
- ``scope``: field paths resolved against the metadata, relationship joins;
- ``conditions``: WHERE; ``plan``: the compiled plan and record assembly;
- ``compiler``: ``compile_query``, the entry point.

Nothing here knows the store: the translator writes SQL for the table layout of ``tables`` and
returns a ``Plan`` that the store executes.
"""

from __future__ import annotations

from .compiler import compile_query
from .context import MAX_OFFSET, MAX_SEMI_JOINS, MAX_SOQL_LENGTH
from .dates import date_literal_range, parse_datetime_literal
from .lexer import Tok, tokenize
from .plan import Plan

__all__ = ["MAX_OFFSET", "MAX_SEMI_JOINS", "MAX_SOQL_LENGTH", "Plan", "Tok", "compile_query",
           "date_literal_range", "parse_datetime_literal", "tokenize"]
