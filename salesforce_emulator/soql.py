"""SOQL: tokenizer, recursive-descent parser, and translator to parameterized SQLite SQL with
Salesforce semantics and error shapes.

Supported subset (contract §9): SELECT field list with child-to-parent paths (including the
polymorphic Who/What/Relation lookups), COUNT(), FROM, WHERE (= != <> < <= > >= LIKE IN NOT IN
INCLUDES EXCLUDES AND OR NOT, parentheses, null comparisons, date literals, semi-/anti-joins),
ORDER BY with ASC/DESC and NULLS FIRST/LAST, LIMIT and OFFSET.

Literals are always bound as parameters; only identifiers taken from the org's metadata are
written into the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import objects as md
from .errors import SalesforceError
from .ids import is_valid_id, to18

MAX_SOQL_LENGTH = 100_000
MAX_OFFSET = 2000
MAX_SEMI_JOINS = 2

# --- errors -----------------------------------------------------------------------------------


def _preamble(soql: str, pos: int) -> str:
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


class _Ctx:
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
        return SalesforceError(400, code, _preamble(self.soql, pos) + message)

    def malformed(self, pos: int, message: str) -> SalesforceError:
        return self.err("MALFORMED_QUERY", pos, message)

    def new_alias(self, base: str) -> str:
        self.alias_n += 1
        return f"{base}{self.alias_n}"


def _bulk_error(message: str) -> SalesforceError:
    # Bulk 2.0 refuses unsupported SOQL when the job is created: 400 with a JSON-array body.
    # The contract gives the messages for subqueries and compound fields; the errorCode is
    # unverified: Bulk API 1.0 reported these as "InvalidBatch : Failed to process query:
    # FUNCTIONALITY_NOT_ENABLED: ..."; Bulk 2.0 answers job creation with API_ERROR, which is
    # what we use for every Bulk-specific SOQL refusal.
    return SalesforceError(400, "API_ERROR", message)


# --- tokenizer --------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<badstring>'(?:[^'\\]|\\.)*\Z)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:+\-])
    """,
    re.VERBOSE | re.DOTALL,
)


_DOCUMENTED_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})")


@dataclass
class Tok:
    kind: str          # string, datetime, date, number, ident, op, punct, eof
    text: str
    pos: int
    value: Any = None  # decoded string literal

    @property
    def upper(self) -> str:
        return self.text.upper()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


def _decode_string(ctx: _Ctx, raw: str, pos: int) -> tuple[str, str]:
    """-> (value, LIKE pattern with '\\' as the escape character)."""
    body = raw[1:-1]
    value: list[str] = []
    like: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                value.append(_ESCAPES[nxt])
                like.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
            elif nxt in "%_":
                value.append(nxt)         # \% and \_ are literal in LIKE patterns
                like.append("\\" + nxt)
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
                value.append(chr(int(body[i + 2:i + 6], 16)))
                like.append(value[-1])
                i += 4
            else:
                raise ctx.malformed(pos + i + 1, f"Invalid string literal '{raw}'. Illegal character sequence "
                                                 f"'\\{nxt}' in string literal.")
            i += 2
            continue
        value.append(ch)
        like.append(ch)
        i += 1
    return "".join(value), "".join(like)


def tokenize(ctx: _Ctx) -> list[Tok]:
    soql = ctx.soql
    toks: list[Tok] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN_RE.match(soql, pos)
        if not m:
            raise ctx.malformed(pos, f"unexpected token: '{soql[pos]}'")
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "badstring":
            raise ctx.malformed(pos, f"line 1:{pos} mismatched character '<EOF>' expecting '''")
        if kind == "datetime" and not _DOCUMENTED_DATETIME.fullmatch(text):
            # SOQL and SOSL Reference, "Date Formats and Date Literals": YYYY-MM-DDThh:mm:ss
            # followed by +hh:mm, -hh:mm or Z only. Fractions and a colon-less offset are not
            # listed; refused (the exact message is unverified).
            raise ctx.malformed(pos, f"value of filter criterion for field is not a valid dateTime: {text}")
        if kind != "ws":
            tok = Tok(kind, text, pos)
            if kind == "string":
                tok.value = _decode_string(ctx, text, pos)
            toks.append(tok)
        pos = m.end()
    toks.append(Tok("eof", "<EOF>", len(soql)))
    return toks


# --- AST --------------------------------------------------------------------------------------

@dataclass
class SelectItem:
    kind: str          # field, count, aggregate, subquery, typeof
    tok: Tok
    path: str = ""


@dataclass
class Cond:
    kind: str                     # cmp, in, includes, excludes, like, and, or, not, semi
    tok: Tok | None = None        # field token
    op: str = ""
    values: list[Tok] = field(default_factory=list)
    children: list[Cond] = field(default_factory=list)
    negated: bool = False         # NOT IN / EXCLUDES
    sub: Query | None = None


@dataclass
class OrderItem:
    tok: Tok
    desc: bool = False
    nulls: str | None = None      # FIRST | LAST | None


@dataclass
class Query:
    select: list[SelectItem]
    obj_tok: Tok
    where: Cond | None = None
    group_by: Tok | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    offset_tok: Tok | None = None
    start: int = 0


AGGREGATES = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
FUNCTIONS = AGGREGATES | {"FORMAT", "TOLABEL", "CONVERTCURRENCY", "CALENDAR_YEAR", "DAY_ONLY", "FIELDS"}
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES", "ORDER",
            "BY", "LIMIT", "OFFSET", "GROUP", "HAVING", "ASC", "DESC", "NULLS", "FIRST", "LAST", "NULL",
            "TRUE", "FALSE", "WITH", "FOR", "TYPEOF", "USING", "SCOPE"}


class Parser:
    def __init__(self, ctx: _Ctx, toks: list[Tok]):
        self.ctx = ctx
        self.toks = toks
        self.i = 0

    # helpers
    @property
    def cur(self) -> Tok:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def advance(self) -> Tok:
        t = self.toks[self.i]
        if t.kind != "eof":
            self.i += 1
        return t

    def unexpected(self, tok: Tok | None = None) -> SalesforceError:
        tok = tok or self.cur
        return self.ctx.malformed(tok.pos, f"unexpected token: '{tok.text}'")

    def is_kw(self, *words: str) -> bool:
        return self.cur.kind == "ident" and self.cur.upper in words

    def expect_kw(self, word: str) -> Tok:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, ch: str) -> Tok:
        if not (self.cur.kind == "punct" and self.cur.text == ch):
            raise self.unexpected()
        return self.advance()

    def is_punct(self, ch: str) -> bool:
        return self.cur.kind == "punct" and self.cur.text == ch

    # grammar
    def parse_query(self, nested: bool = False) -> Query:
        start = self.cur.pos
        self.expect_kw("SELECT")
        select = self.parse_select_list()
        self.expect_kw("FROM")
        if self.cur.kind != "ident" or "." in self.cur.text:
            raise self.unexpected()
        obj_tok = self.advance()
        query = Query(select, obj_tok, start=start)
        if self.is_kw("USING"):
            raise self.ctx.malformed(self.cur.pos, "USING SCOPE is not supported by the emulator")
        if self.is_kw("WHERE"):
            self.advance()
            query.where = self.parse_or()
        if self.is_kw("WITH"):
            raise self.ctx.malformed(self.cur.pos, "WITH clauses are not supported by the emulator")
        if self.is_kw("GROUP"):
            query.group_by = self.advance()
            self.expect_kw("BY")
            self.parse_ident_list()
            if self.is_kw("HAVING"):
                raise self.ctx.malformed(self.cur.pos, "HAVING is not supported by the emulator")
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            query.order = self.parse_order()
        if self.is_kw("LIMIT"):
            self.advance()
            query.limit = self.parse_int()
        if self.is_kw("OFFSET"):
            query.offset_tok = self.advance()
            query.offset = self.parse_int()
        if self.is_kw("FOR"):
            raise self.ctx.malformed(self.cur.pos, "FOR VIEW/REFERENCE/UPDATE is not supported by the emulator")
        if not nested and self.cur.kind != "eof":
            raise self.unexpected()
        return query

    def parse_int(self) -> int:
        if self.cur.kind != "number" or "." in self.cur.text:
            raise self.unexpected()
        return int(self.advance().text)

    def parse_ident_list(self) -> list[Tok]:
        out = [self.expect_ident()]
        while self.is_punct(","):
            self.advance()
            out.append(self.expect_ident())
        return out

    def expect_ident(self) -> Tok:
        if self.cur.kind != "ident":
            raise self.unexpected()
        return self.advance()

    def parse_select_list(self) -> list[SelectItem]:
        items = [self.parse_select_item()]
        while self.is_punct(","):
            self.advance()
            items.append(self.parse_select_item())
        return items

    def parse_select_item(self) -> SelectItem:
        tok = self.cur
        if self.is_punct("("):
            self.skip_parenthesized()      # parent-to-child subquery: (SELECT ... FROM Contacts)
            return SelectItem("subquery", tok)
        if tok.kind != "ident" or (tok.upper == "FROM" and self.peek().kind != "punct"):
            raise self.unexpected()
        if tok.upper == "TYPEOF":
            while not self.is_kw("END"):
                if self.cur.kind == "eof":
                    raise self.unexpected()
                self.advance()
            self.advance()
            return SelectItem("typeof", tok)
        self.advance()
        if self.is_punct("(") and tok.upper in FUNCTIONS:
            return self.parse_function(tok)
        return SelectItem("field", tok, tok.text)

    def skip_parenthesized(self) -> None:
        depth = 0
        while True:
            t = self.advance()
            if t.kind == "eof":
                raise self.unexpected(t)
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
                if depth == 0:
                    return

    def parse_function(self, tok: Tok) -> SelectItem:
        self.advance()
        inner = None
        if not self.is_punct(")"):
            inner = self.expect_ident()
        self.expect_punct(")")
        if self.cur.kind == "ident" and self.cur.upper not in KEYWORDS:
            self.advance()  # alias
        if tok.upper == "COUNT" and inner is None:
            return SelectItem("count", tok)
        if tok.upper in AGGREGATES:
            return SelectItem("aggregate", tok, inner.text if inner else "")
        return SelectItem("function", tok)

    def parse_order(self) -> list[OrderItem]:
        items = []
        while True:
            tok = self.expect_ident()
            item = OrderItem(tok)
            if self.is_kw("ASC", "DESC"):
                item.desc = self.advance().upper == "DESC"
            if self.is_kw("NULLS"):
                self.advance()
                if not self.is_kw("FIRST", "LAST"):
                    raise self.unexpected()
                item.nulls = self.advance().upper
            items.append(item)
            if not self.is_punct(","):
                return items
            self.advance()

    # conditions: SOQL requires parentheses when AND and OR are mixed at one level.
    def parse_or(self) -> Cond:
        first = self.parse_not()
        if not self.is_kw("AND", "OR"):
            return first
        op = self.cur.upper
        children = [first]
        while self.is_kw("AND", "OR"):
            if self.cur.upper != op:
                raise self.unexpected()
            self.advance()
            children.append(self.parse_not())
        return Cond(op.lower(), children=children)

    def parse_not(self) -> Cond:
        if self.is_kw("NOT"):
            self.advance()
            return Cond("not", children=[self.parse_not()])
        if self.is_punct("("):
            self.advance()
            inner = self.parse_or()
            self.expect_punct(")")
            return inner
        return self.parse_comparison()

    def parse_comparison(self) -> Cond:
        ftok = self.expect_ident()
        if ftok.upper in KEYWORDS - {"FIRST", "LAST"}:
            raise self.unexpected(ftok)
        if self.cur.kind == "op":
            op = self.advance().text
            return Cond("cmp", ftok, "!=" if op == "<>" else op, [self.parse_value()])
        if self.is_kw("LIKE"):
            self.advance()
            return Cond("like", ftok, "LIKE", [self.parse_value()])
        negated = False
        if self.is_kw("NOT"):
            self.advance()
            negated = True
            if not self.is_kw("IN"):
                raise self.unexpected()
        if self.is_kw("IN"):
            self.advance()
            self.expect_punct("(")
            if self.is_kw("SELECT"):
                sub = self.parse_query(nested=True)
                self.expect_punct(")")
                return Cond("semi", ftok, "IN", negated=negated, sub=sub)
            values = self.parse_value_list()
            return Cond("in", ftok, "IN", values, negated=negated)
        if self.is_kw("INCLUDES", "EXCLUDES"):
            kind = self.advance().upper.lower()
            self.expect_punct("(")
            return Cond(kind, ftok, kind.upper(), self.parse_value_list())
        raise self.unexpected()

    def parse_value_list(self) -> list[Tok]:
        values = [self.parse_value()]
        while self.is_punct(","):
            self.advance()
            values.append(self.parse_value())
        self.expect_punct(")")
        return values

    def parse_value(self) -> Tok:
        tok = self.cur
        if tok.kind in ("string", "datetime", "date", "number"):
            return self.advance()
        if tok.kind == "punct" and tok.text in "+-" and self.peek().kind == "number":
            self.advance()
            num = self.advance()
            return Tok("number", tok.text + num.text, tok.pos)
        if tok.kind == "ident":
            self.advance()
            if self.is_punct(":"):
                self.advance()
                if self.cur.kind != "number":
                    raise self.unexpected()
                n = self.advance()
                return Tok("dateliteral", f"{tok.text}:{n.text}", tok.pos, (tok.upper, int(n.text)))
            if tok.upper in ("TRUE", "FALSE", "NULL"):
                return Tok(tok.upper.lower(), tok.text, tok.pos)
            return Tok("dateliteral", tok.text, tok.pos, (tok.upper, None))
        raise self.unexpected()


# --- date literals ------------------------------------------------------------------------------

def _month_start(d: date, delta_months: int = 0) -> date:
    m = d.month - 1 + delta_months
    return date(d.year + m // 12, m % 12 + 1, 1)


def date_literal_range(name: str, n: int | None, today: date) -> tuple[date, date] | None:
    """[start, end) in days for a SOQL date literal (UTC is the user's zone here)."""
    one = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)   # weeks start on Sunday (en_US)
    simple = {
        "TODAY": (today, today + one),
        "YESTERDAY": (today - one, today),
        "TOMORROW": (today + one, today + 2 * one),
        "THIS_WEEK": (week_start, week_start + 7 * one),
        "LAST_WEEK": (week_start - 7 * one, week_start),
        "NEXT_WEEK": (week_start + 7 * one, week_start + 14 * one),
        "THIS_MONTH": (_month_start(today), _month_start(today, 1)),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
    }
    if n is None:
        return simple.get(name)
    with_n = {
        # LAST_N_DAYS:n covers today and the n days before it (unverified edge: some sources
        # say it starts "n days ago"; including today is what an ELT user expects).
        "LAST_N_DAYS": (today - n * one, today + one),
        "NEXT_N_DAYS": (today + one, today + (n + 1) * one),
        "N_DAYS_AGO": (today - n * one, today - (n - 1) * one),
        "LAST_N_WEEKS": (week_start - 7 * n * one, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * one, week_start + 7 * (n + 1) * one),
        "LAST_N_MONTHS": (_month_start(today, -n), _month_start(today)),
        "NEXT_N_MONTHS": (_month_start(today, 1), _month_start(today, n + 1)),
        "LAST_N_YEARS": (date(today.year - n, 1, 1), date(today.year, 1, 1)),
        "NEXT_N_YEARS": (date(today.year + 1, 1, 1), date(today.year + n + 1, 1, 1)),
    }
    return with_n.get(name)


def _fmt_dt(d: datetime) -> str:
    d = d.astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def parse_datetime_literal(text: str) -> datetime:
    t = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", t):
        t = t[:-2] + ":" + t[-2:]
    return datetime.fromisoformat(t)


# --- compiled plan ------------------------------------------------------------------------------

@dataclass
class Plan:
    object_name: str
    columns: list[str]
    is_count: bool
    sql: str
    csv_sql: str
    params: list
    count_sql: str
    count_params: list
    build_record: Callable[[tuple], dict]


@dataclass
class Rel:
    """One hop of a relationship path as joined in SQL."""
    name: str                   # canonical relationship name (Account, Who, ...)
    ref: md.Field               # the reference field on the source object
    targets: list[md.SObject]   # modelled target objects (several for polymorphic lookups)
    aliases: list[str]
    id_expr: str                # SQL: the parent's Id (NULL when the lookup is empty/dangling)
    type_expr: str              # SQL: the parent's sObject type


@dataclass
class Resolved:
    rels: list[Rel]
    field: md.Field
    canonical: str              # "Account.Owner.Name"
    entity: str                 # entity name owning the final field (for errors)


NAME_ENTITY = "Name"


class Scope:
    """FROM clause builder for one query level: the base table plus LEFT JOINs to parents."""

    def __init__(self, ctx: _Ctx, obj: md.SObject, alias: str):
        self.ctx = ctx
        self.obj = obj
        self.alias = alias
        self.joins: dict[tuple[str, ...], Rel] = {}
        self.join_sql: dict[tuple[str, ...], list[str]] = {}

    def resolve(self, tok: Tok, *, allow_compound: bool = True) -> Resolved:
        ctx = self.ctx
        parts = tok.text.split(".")
        if len(parts) > 1 and parts[0].lower() == self.obj.name.lower() and self.obj.relationship(parts[0]) is None:
            parts = parts[1:]     # "SELECT Contact.Name FROM Contact" is legal SOQL
        cur_objs: list[md.SObject] = [self.obj]
        entity = self.obj.name
        rels: list[Rel] = []
        prefix: tuple[str, ...] = ()
        src_alias = self.alias
        for part in parts[:-1]:
            ref = cur_objs[0].relationship(part) if len(cur_objs) == 1 and entity != NAME_ENTITY else None
            targets = [t for t in (ctx.schema.objects.get(n) for n in (ref.reference_to if ref else ()))
                       if t is not None]
            if ref is None or not targets:
                raise ctx.err("INVALID_FIELD", tok.pos,
                              f"Didn't understand relationship '{part}' in field path. If you are attempting to "
                              "use a custom relationship, be sure to append the '__r' after the custom "
                              "relationship name. Please reference your WSDL or the describe call for the "
                              "appropriate names.")
            prefix = (*prefix, ref.relationship_name or part)
            rel = self.joins.get(prefix)
            if rel is None:
                rel = self._join(prefix, src_alias, ref, targets)
            rels.append(rel)
            cur_objs = targets
            entity = NAME_ENTITY if ref.polymorphic else targets[0].name
            src_alias = rel.aliases[0]
        fname = parts[-1]
        f = self._field_on(cur_objs, entity, fname)
        if f is None:
            raise ctx.err("INVALID_FIELD", tok.pos,
                          f"No such column '{fname}' on entity '{entity}'. If you are attempting to use a custom "
                          "field, be sure to append the '__c' after the custom field name. Please reference your "
                          "WSDL or the describe call for the appropriate names.")
        canonical = ".".join([r.name for r in rels] + [f.name])
        return Resolved(rels, f, canonical, entity)

    @staticmethod
    def _field_on(objs: list[md.SObject], entity: str, name: str) -> md.Field | None:
        if entity == NAME_ENTITY:
            allowed = {n.lower(): n for n in md.NAME_ENTITY_FIELDS}
            canon = allowed.get(name.lower())
            if canon is None:
                return None
            if canon == "Type":
                return md.Field("Type", "picklist", length=40)
            for o in objs:
                f = o.field(canon)
                if f is not None:
                    return f
            return md.Field(canon, "string", length=80)
        return objs[0].field(name)

    def _join(self, prefix: tuple[str, ...], src_alias: str, ref: md.Field, targets: list[md.SObject]) -> Rel:
        from .store import q

        aliases = []
        sql = []
        for t in targets:
            a = self.ctx.new_alias(self.alias + "_j")
            aliases.append(a)
            sql.append(f"LEFT JOIN {q(t.name)} AS {a} ON {a}.{q('Id')} = {src_alias}.{q(ref.name)}")
        if len(targets) == 1:
            id_expr = f"{aliases[0]}.{q('Id')}"
            type_expr = f"'{targets[0].name}'"
        else:
            id_expr = "COALESCE(" + ", ".join(f"{a}.{q('Id')}" for a in aliases) + ")"
            type_expr = "CASE " + " ".join(f"WHEN {a}.{q('Id')} IS NOT NULL THEN '{t.name}'"
                                           for a, t in zip(aliases, targets, strict=True)) + " END"
        rel = Rel(ref.relationship_name or ref.name, ref, targets, aliases, id_expr, type_expr)
        self.joins[prefix] = rel
        self.join_sql[prefix] = sql
        return rel

    def expr(self, res: Resolved) -> str:
        """SQL expression for a resolved non-compound field."""
        if not res.rels:
            return _field_sql(self.alias, res.field)
        rel = res.rels[-1]
        f = res.field
        if len(rel.targets) == 1:
            return _field_sql(rel.aliases[0], f)
        if f.name == "Type" and rel.targets[0].field("Type") is None:
            return rel.type_expr
        parts = [_field_sql(a, t.field(f.name)) for a, t in zip(rel.aliases, rel.targets, strict=True)
                 if t.field(f.name) is not None and t.field(f.name).is_physical]
        if not parts:
            return "NULL"
        return parts[0] if len(parts) == 1 else "COALESCE(" + ", ".join(parts) + ")"

    def from_sql(self, needed: set[tuple[str, ...]] | None = None) -> str:
        from .store import q

        out = [f"{q(self.obj.name)} AS {self.alias}"]
        for prefix, sql in self.join_sql.items():
            if needed is None or prefix in needed:
                out.extend(sql)
        return " ".join(out)


def _field_sql(alias: str, f: md.Field) -> str:
    from .store import q

    if f.formula_sql:
        return "(" + f.formula_sql.format(t=alias) + ")"
    return f"{alias}.{q(f.name)}"


def _prefixes(res: Resolved) -> set[tuple[str, ...]]:
    names = [r.name for r in res.rels]
    return {tuple(names[:i]) for i in range(1, len(names) + 1)}


# --- value typing -------------------------------------------------------------------------------

def _number(tok: Tok, f: md.Field) -> int | float:
    return float(tok.text) if ("." in tok.text or f.type not in ("int", "long")) else int(tok.text)


# field kind -> (accepted token kinds, converter to the stored value)
_SCALARS: dict[str, tuple[tuple[str, ...], Callable[[Tok, md.Field], Any]]] = {
    "text": (("string",), lambda tok, f: tok.value[0]),
    "boolean": (("true", "false"), lambda tok, f: 1 if tok.kind == "true" else 0),
    "number": (("number",), _number),
    "date": (("date",), lambda tok, f: tok.text),
    "datetime": (("datetime",), lambda tok, f: _fmt_dt(parse_datetime_literal(tok.text))),
}

_TYPE_NAMES = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "integer",
               "long": "long", "double": "double", "currency": "double", "percent": "double"}


class Compiler:
    def __init__(self, ctx: _Ctx):
        self.ctx = ctx

    def type_error(self, tok: Tok, f: md.Field) -> SalesforceError:
        t = f.type
        if t in _TYPE_NAMES:
            msg = (f"value of filter criterion for field '{f.name}' must be of type {_TYPE_NAMES[t]} and should not "
                   "be enclosed in quotes")
        else:
            msg = (f"value of filter criterion for field '{f.name}' must be of type string and should be enclosed "
                   "in quotes")
        return self.ctx.err("INVALID_QUERY_FILTER_OPERATOR", tok.pos, msg)

    def scalar(self, tok: Tok, f: md.Field) -> Any:
        """A literal as the stored value for field ``f`` (not for date-literal ranges)."""
        if tok.kind == "null":
            return None
        t = f.type
        if t in md.ID_TYPES:
            return self._id_value(tok, f)
        if t in md.TEXT_TYPES:
            kind = "text"
        elif t in md.NUMBER_TYPES:
            kind = "number"
        else:
            kind = t
        conv = _SCALARS.get(kind)
        if conv is None:
            if tok.kind == "string":
                return tok.value[0]
            raise self.type_error(tok, f)
        want, fn = conv
        if tok.kind not in want:
            raise self.type_error(tok, f)
        try:
            return fn(tok, f)
        except ValueError:
            raise self.type_error(tok, f) from None

    def _id_value(self, tok: Tok, f: md.Field) -> str | None:
        if tok.kind != "string":
            raise self.type_error(tok, f)
        v = tok.value[0]
        if v == "":
            return None
        if not is_valid_id(v):
            raise self.ctx.err("INVALID_QUERY_FILTER_OPERATOR", tok.pos, f"invalid ID field: {v}")
        return to18(v)

    def date_range(self, tok: Tok, f: md.Field) -> tuple[str, str]:
        name, n = tok.value
        rng = date_literal_range(name, n, self.ctx.now.date())
        if rng is None or f.type not in ("date", "datetime"):
            if rng is None:
                raise self.ctx.err("MALFORMED_QUERY", tok.pos, f"unexpected token: '{tok.text}'")
            raise self.type_error(tok, f)
        lo, hi = rng
        if f.type == "date":
            return lo.isoformat(), hi.isoformat()
        return lo.isoformat() + "T00:00:00.000+0000", hi.isoformat() + "T00:00:00.000+0000"

    # -- conditions --
    def cond(self, c: Cond, scope: Scope, params: list, needed: set, top: bool = True) -> str:
        if c.kind in ("and", "or"):
            parts = [self.cond(ch, scope, params, needed, top=(top and c.kind == "and")) for ch in c.children]
            return "(" + f" {c.kind.upper()} ".join(parts) + ")"
        if c.kind == "not":
            return "(NOT " + self.cond(c.children[0], scope, params, needed, top=False) + ")"
        if c.kind == "semi":
            return self.semi(c, scope, params, top)
        assert c.tok is not None
        res = scope.resolve(c.tok)
        f = res.field
        if f.is_compound or not f.describe()["filterable"]:
            raise self.ctx.err("INVALID_FIELD", c.tok.pos, f"field '{f.name}' can not be filtered in query call")
        needed |= _prefixes(res)
        col = scope.expr(res)
        return getattr(self, "c_" + c.kind)(c, f, col, params)

    def _text_cmp(self, f: md.Field) -> str:
        # SOQL string comparisons are case-insensitive (SQLite NOCASE folds ASCII only).
        return " COLLATE NOCASE" if f.type in md.TEXT_TYPES else ""

    def c_cmp(self, c: Cond, f: md.Field, col: str, params: list) -> str:
        tok = c.values[0]
        op = c.op
        if tok.kind == "dateliteral":
            lo, hi = self.date_range(tok, f)
            rng = {"=": (f"({col} >= ? AND {col} < ?)", [lo, hi]), "<": (f"{col} < ?", [lo]),
                   "<=": (f"{col} < ?", [hi]), ">": (f"{col} >= ?", [hi]), ">=": (f"{col} >= ?", [lo])}
            if op == "!=":
                params += [lo, hi]
                return f"({col} IS NULL OR {col} < ? OR {col} >= ?)"
            sql, vals = rng[op]
            params += vals
            return self._guard(f, col, sql)
        value = self.scalar(tok, f)
        if value is None:
            if op == "=":
                return f"({col} IS NULL)"
            if op == "!=":
                return f"({col} IS NOT NULL)"
            return "(0)"  # ordering comparisons with null match nothing
        coll = self._text_cmp(f)
        params.append(value)
        if op == "!=":
            # SOQL: "x != 'a'" also matches rows where x is null.
            return f"({col} IS NULL OR {col} <> ?{coll})"
        if f.type == "multipicklist" and op == "=":
            return self._guard(f, col, f"({col} = ?{coll})")
        return self._guard(f, col, f"{col} {op} ?{coll}")

    def _guard(self, f: md.Field, col: str, sql: str) -> str:
        # Two-valued logic: a comparison on a null value is false (never NULL), so NOT works the
        # way SOQL's NOT does.
        if f.nillable or not f.is_physical:
            return f"({col} IS NOT NULL AND {sql})"
        return f"({sql})"

    def c_like(self, c: Cond, f: md.Field, col: str, params: list) -> str:
        tok = c.values[0]
        if tok.kind != "string" or f.type not in md.TEXT_TYPES | md.ID_TYPES:
            if tok.kind == "string":
                raise self.ctx.err("INVALID_FIELD", c.tok.pos if c.tok else 0,
                                   f"invalid operator on {f.type} field: LIKE")
            raise self.type_error(tok, f)
        params.append(tok.value[1])
        return self._guard(f, col, f"{col} LIKE ? ESCAPE '\\'")

    def c_in(self, c: Cond, f: md.Field, col: str, params: list) -> str:
        values = []
        has_null = False
        ranges = []
        for tok in c.values:
            if tok.kind == "dateliteral":
                ranges.append(self.date_range(tok, f))
                continue
            v = self.scalar(tok, f)
            if v is None:
                has_null = True
            else:
                values.append(v)
        coll = self._text_cmp(f)
        terms = []
        if values:
            params += values
            terms.append(f"{col}{coll} IN ({', '.join('?' * len(values))})")
        for lo, hi in ranges:
            params += [lo, hi]
            terms.append(f"({col} >= ? AND {col} < ?)")
        pos = " OR ".join(terms) if terms else "0"
        if c.negated:
            # NOT IN also matches nulls (like !=), unless null is in the list.
            nulls = "0" if has_null else f"{col} IS NULL"
            return f"({nulls} OR NOT ({col} IS NOT NULL AND ({pos})))"
        if has_null:
            return f"({col} IS NULL OR ({col} IS NOT NULL AND ({pos})))"
        return f"({col} IS NOT NULL AND ({pos}))"

    def _includes_term(self, c: Cond, f: md.Field, col: str, params: list) -> str:
        if f.type != "multipicklist":
            raise self.ctx.err("INVALID_FIELD", c.tok.pos if c.tok else 0,
                               "includes or excludes operator only valid on multipicklist field")
        alts = []
        for tok in c.values:
            if tok.kind != "string":
                raise self.type_error(tok, f)
            need = [v.strip() for v in tok.value[0].split(";") if v.strip()]
            conj = []
            for v in need:
                params.append("%;" + v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ";%")
                conj.append(f"(';' || {col} || ';') LIKE ? ESCAPE '\\'")
            alts.append("(" + " AND ".join(conj or ["0"]) + ")")
        return "(" + " OR ".join(alts) + ")"

    def c_includes(self, c: Cond, f: md.Field, col: str, params: list) -> str:
        return f"({col} IS NOT NULL AND {self._includes_term(c, f, col, params)})"

    def c_excludes(self, c: Cond, f: md.Field, col: str, params: list) -> str:
        return f"({col} IS NULL OR NOT {self._includes_term(c, f, col, params)})"

    def semi(self, c: Cond, scope: Scope, params: list, top: bool) -> str:
        ctx = self.ctx
        assert c.tok is not None and c.sub is not None
        if not top:
            # Semi-/anti-joins may only be ANDed at the top level of WHERE.
            raise ctx.malformed(c.tok.pos, "Semi join sub-selects are only allowed at the top level WHERE "
                                           "expressions and not in nested WHERE expressions.")
        ctx.semi_joins += 1
        if ctx.semi_joins > MAX_SEMI_JOINS:
            raise ctx.malformed(c.tok.pos, "Maximum of 2 semi join sub-selects are allowed")
        res = scope.resolve(c.tok)
        if res.field.type not in md.ID_TYPES or res.rels:
            raise ctx.malformed(c.tok.pos, "Invalid field for semi/anti join: only an Id or a reference field "
                                           "may be the left operand")
        sub = c.sub
        sub_obj = self.object(sub.obj_tok)
        if sub_obj.activity:
            # Salesforce refuses Task and Event as the inner select of a semi-/anti-join (the error
            # points at the inner FROM object); list the activity ids first, then filter by them.
            raise ctx.malformed(sub.obj_tok.pos, f"Entity '{sub_obj.name}' is not supported for semi join inner selects")
        if len(sub.select) != 1 or sub.select[0].kind != "field":
            raise ctx.malformed(sub.start, "The selected field in a semi join sub-select must be a single Id or "
                                           "reference field")
        sub_scope = Scope(ctx, sub_obj, ctx.new_alias("s"))
        sres = sub_scope.resolve(sub.select[0].tok)
        if sres.field.type not in md.ID_TYPES:
            raise ctx.malformed(sub.select[0].tok.pos, "The selected field in a semi join sub-select must be an "
                                                       "Id or reference field")
        sub_params: list = []
        where = []
        live = _visibility(sub_obj, sub_scope.alias, ctx.include_deleted)
        if live:
            where.append(live)
        saved = ctx.semi_joins
        ctx.semi_joins = MAX_SEMI_JOINS + 1 if sub.where and _has_semi(sub.where) else saved
        if sub.where is not None:
            if _has_semi(sub.where):
                raise ctx.malformed(sub.where.tok.pos if sub.where.tok else sub.start,
                                    "Nesting of semi join sub-selects is not supported")
            where.append(self.cond(sub.where, sub_scope, sub_params, set(), top=False))
        ctx.semi_joins = saved
        sel = sub_scope.expr(sres)
        if c.negated:
            where.append(f"{sel} IS NOT NULL")   # NOT IN over a set holding NULL would match nothing
        sql = f"SELECT {sel} FROM {sub_scope.from_sql()}"  # noqa: S608 - identifiers only; values are bound
        if where:
            sql += " WHERE " + " AND ".join(where)
        if sub.limit is not None:
            sql += f" LIMIT {int(sub.limit)}"
        col = scope.expr(res)
        params += sub_params
        if c.negated:
            # Anti-join: rows whose value is null, or not among the sub-select's non-null values.
            return f"({col} IS NULL OR {col} NOT IN ({sql}))"
        return f"({col} IN ({sql}))"

    def object(self, tok: Tok) -> md.SObject:
        obj = self.ctx.schema.get(tok.text)
        if obj is None:
            raise self.ctx.err("INVALID_TYPE", tok.pos,
                               f"sObject type '{tok.text}' is not supported. If you are attempting to use a custom "
                               "object, be sure to append the '__c' after the entity name. Please reference your "
                               "WSDL or the describe call for the appropriate names.")
        return obj


def _has_semi(c: Cond) -> bool:
    return c.kind == "semi" or any(_has_semi(ch) for ch in c.children)


def _visibility(obj: md.SObject, alias: str, include_deleted: bool) -> str:
    from .store import q

    if include_deleted:
        return ""
    terms = []
    if obj.has_is_deleted:
        terms.append(f"{alias}.{q('IsDeleted')} = 0")
    if obj.activity:
        # Archived activities are returned only by queryAll.
        terms.append(f"{alias}.{q('IsArchived')} = 0")
    return " AND ".join(terms)


# --- record assembly ----------------------------------------------------------------------------

def _rest_converter(f: md.Field) -> Callable[[Any], Any] | None:
    if f.type == "boolean":
        return lambda v: None if v is None else bool(v)
    if f.type in ("int", "long"):
        return lambda v: None if v is None else int(v)
    if f.type in ("double", "currency", "percent"):
        return lambda v: None if v is None else float(v)
    return None


def _csv_expr(f: md.Field, expr: str) -> str:
    if f.type == "boolean":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END"
    return expr


@dataclass
class _OutCol:
    chain: list[tuple[str, int, int]]   # per relationship hop: (name, id index, type index)
    key: str
    index: int                          # value index (or first component index for addresses)
    conv: Callable[[Any], Any] | None
    address: list[tuple[str, int]] | None = None


def _make_builder(obj_name: str, id_index: int, out: list[_OutCol], api_version: str) -> Callable[[tuple], dict]:
    base = f"/services/data/v{api_version}/sobjects/"

    def build(row: tuple) -> dict:
        rid = row[id_index]
        rec: dict[str, Any] = {"attributes": {"type": obj_name, "url": f"{base}{obj_name}/{rid}"}}
        for col in out:
            target = rec
            dead = False
            for name, idi, tyi in col.chain:
                node = target.get(name, _MISSING)
                if node is _MISSING:
                    pid = row[idi]
                    if pid is None:
                        target[name] = None
                        dead = True
                        break
                    ptype = row[tyi]
                    node = {"attributes": {"type": ptype, "url": f"{base}{ptype}/{pid}"}}
                    target[name] = node
                elif node is None:
                    dead = True
                    break
                target = node
            if dead:
                continue
            if col.address is not None:
                vals = {k: row[i] for k, i in col.address}
                target[col.key] = vals if any(v is not None for v in vals.values()) else None
            else:
                v = row[col.index]
                target[col.key] = col.conv(v) if col.conv else v
        return rec

    return build


_MISSING = object()


# --- entry point --------------------------------------------------------------------------------

def compile_query(soql: str, schema: md.Schema, *, include_deleted: bool = False, api: str = "rest",
                  api_version: str = "59.0", now: datetime | None = None) -> Plan:
    if len(soql) > MAX_SOQL_LENGTH:
        # Salesforce refuses statements over 100,000 characters with MALFORMED_QUERY; the exact
        # wording is unverified ("Query is too long" is what its docs/forums quote).
        raise SalesforceError(400, "MALFORMED_QUERY",
                              f"Query is too long: {len(soql)} characters. SOQL statements cannot exceed "
                              f"{MAX_SOQL_LENGTH} characters.")
    ctx = _Ctx(soql, schema, include_deleted, api, api_version, now or datetime.now(UTC))
    query = Parser(ctx, tokenize(ctx)).parse_query()
    bulk = api == "bulk"
    if bulk and query.obj_tok.text.lower() in {n.lower() for n in md.BULK_UNSUPPORTED}:
        canon = next(n for n in md.BULK_UNSUPPORTED if n.lower() == query.obj_tok.text.lower())
        raise SalesforceError(400, "INVALIDENTITY", f"Entity '{canon}' is not supported by the Bulk API.")
    comp = Compiler(ctx)
    obj = comp.object(query.obj_tok)
    if include_deleted and not obj.query_all_supported:
        # Unverified code: TaskWhoRelation "supports query via REST only: not queryAll"; we answer
        # the way Salesforce answers an operation an entity does not support.
        raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION",
                              f"entity type {obj.name} does not support queryAll")
    _check_unsupported(ctx, query, bulk)
    return _compile(ctx, comp, query, obj, bulk)


def _check_unsupported(ctx: _Ctx, query: Query, bulk: bool) -> None:
    kinds = {s.kind for s in query.select}
    if bulk:
        if "subquery" in kinds:
            raise _bulk_error("Aggregate Relationships not supported in Bulk V2 Query with CSV content type")
        if "count" in kinds or "aggregate" in kinds:
            raise _bulk_error("Aggregate functions such as COUNT() are not supported in Bulk V2 Query")
        if query.group_by is not None:
            raise _bulk_error("GROUP BY is not supported in Bulk V2 Query")
        if "typeof" in kinds:
            raise _bulk_error("TYPEOF is not supported in Bulk V2 Query")
        if query.offset is not None:
            raise _bulk_error("OFFSET is not supported in Bulk V2 Query")
    for s in query.select:
        if s.kind in ("subquery", "typeof", "aggregate", "function"):
            raise ctx.malformed(s.tok.pos, f"{s.tok.text.upper()}: this SOQL feature is not supported by the "
                                           "emulator")
    if query.group_by is not None:
        raise ctx.malformed(query.group_by.pos, "GROUP BY is not supported by the emulator")
    if "count" in kinds and len(query.select) > 1:
        raise ctx.malformed(query.select[1].tok.pos, "COUNT() cannot be combined with other fields")
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SalesforceError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")


class _Select:
    """The SELECT list of the main query: SQL expressions plus the record-assembly plan."""

    def __init__(self, ctx: _Ctx, scope: Scope, bulk: bool):
        from .store import q

        self.ctx = ctx
        self.scope = scope
        self.bulk = bulk
        self.sql: list[str] = [f"b.{q('Id')}"]   # hidden: the record's url
        self.csv: list[str] = []
        self.out: list[_OutCol] = []
        self.columns: list[str] = []
        self.needed: set[tuple[str, ...]] = set()
        self._seen: set[str] = set()
        self._rel_idx: dict[tuple[str, ...], tuple[int, int]] = {}

    def add(self, expr: str) -> int:
        self.sql.append(expr)
        return len(self.sql) - 1

    def item(self, item: SelectItem) -> None:
        res = self.scope.resolve(item.tok)
        if res.canonical.lower() in self._seen:
            # Unverified code; Salesforce refuses duplicate columns in the SELECT list.
            raise self.ctx.err("MALFORMED_QUERY", item.tok.pos, f"duplicate field selected: {res.canonical}")
        self._seen.add(res.canonical.lower())
        f = res.field
        if f.is_compound and self.bulk:
            raise _bulk_error("Selecting compound data not supported in Bulk Query")
        self.needed |= _prefixes(res)
        chain = []
        names: list[str] = []
        for rel in res.rels:
            names.append(rel.name)
            key = tuple(names)
            if key not in self._rel_idx:
                self._rel_idx[key] = (self.add(rel.id_expr), self.add(rel.type_expr))
            chain.append((rel.name, *self._rel_idx[key]))
        self.columns.append(res.canonical)
        if f.is_compound:
            self.out.append(_OutCol(chain, f.name, -1, None, self._address(res)))
            return
        expr = self.scope.expr(res)
        self.out.append(_OutCol(chain, f.name, self.add(expr), _rest_converter(f)))
        self.csv.append(_csv_expr(f, expr))

    def _address(self, res: Resolved) -> list[tuple[str, int]]:
        """Compound address: its components are selected and assembled into the JSON object."""
        src = res.rels[-1].targets[0] if res.rels else self.scope.obj
        alias = res.rels[-1].aliases[0] if res.rels else self.scope.alias
        comps = []
        for json_key, suffix in md.ADDRESS_KEYS:
            cf = next((c for c in src.fields if c.compound == res.field.name and c.name.endswith(suffix)
                       and c.type != "address"), None)
            if cf is not None:
                comps.append((json_key, self.add(_field_sql(alias, cf))))
        return comps


def _window_filter(c: Cond | None) -> bool:
    """Does WHERE bound SystemModstamp/CreatedDate/LastModifiedDate at its top level (the
    incremental-extract shape)?"""
    if c is None:
        return False
    if c.kind == "and":
        return any(_window_filter(ch) for ch in c.children)
    return (c.kind == "cmp" and c.tok is not None and c.op in ("=", "<", "<=", ">", ">=")
            and c.tok.text.lower() in ("systemmodstamp", "createddate", "lastmodifieddate"))


def _order_by(ctx: _Ctx, scope: Scope, query: Query, needed: set[tuple[str, ...]]) -> str:
    from .store import q

    # With a time-window filter, ordering by Id through the Id index would scan the whole table;
    # "+Id" keeps SQLite on the SystemModstamp index and sorts the (small) window instead.
    id_term = f"+b.{q('Id')}" if _window_filter(query.where) else f"b.{q('Id')}"
    terms = []
    has_id = False
    for item in query.order:
        res = scope.resolve(item.tok)
        f = res.field
        if f.is_compound or not f.describe()["sortable"]:
            raise ctx.err("INVALID_FIELD", item.tok.pos, f"field '{f.name}' can not be sorted in a query call")
        needed |= _prefixes(res)
        coll = " COLLATE NOCASE" if f.type in md.TEXT_TYPES else ""
        expr = id_term if (not res.rels and f.name == "Id" and not terms) else scope.expr(res)
        term = f"{expr}{coll} {'DESC' if item.desc else 'ASC'}"
        # Salesforce default: ASC -> nulls first, DESC -> nulls last (also SQLite's default);
        # spell NULLS only when it differs so indexes stay usable.
        if item.nulls == "LAST" and not item.desc:
            term += " NULLS LAST"
        elif item.nulls == "FIRST" and item.desc:
            term += " NULLS FIRST"
        terms.append(term)
        has_id = has_id or (not res.rels and f.name == "Id")
    if not has_id:
        # deterministic paging; "no ORDER BY" = by Id (a tie-breaker after other terms stays
        # plain so that the (SystemModstamp, Id) index still provides the whole order)
        terms.append(f"b.{q('Id')}" if terms else id_term)
    return " ORDER BY " + ", ".join(terms)


def _compile(ctx: _Ctx, comp: Compiler, query: Query, obj: md.SObject, bulk: bool) -> Plan:
    scope = Scope(ctx, obj, "b")
    is_count = query.select[0].kind == "count"
    select = _Select(ctx, scope, bulk)
    if not is_count:
        for item in query.select:
            select.item(item)

    params: list = []
    where_needed: set[tuple[str, ...]] = set()
    where_terms = []
    live = _visibility(obj, "b", ctx.include_deleted)
    if live:
        where_terms.append(live)
    if query.where is not None:
        where_terms.append(comp.cond(query.where, scope, params, where_needed))
    where_sql = (" WHERE " + " AND ".join(where_terms)) if where_terms else ""

    tail = _order_by(ctx, scope, query, select.needed)
    lim_params: list = []
    if query.limit is not None or query.offset is not None:
        tail += " LIMIT ? OFFSET ?"
        lim_params = [query.limit if query.limit is not None else -1, query.offset or 0]

    from_all = scope.from_sql(select.needed | where_needed)
    sql = f"SELECT {', '.join(select.sql)} FROM {from_all}{where_sql}{tail}"  # noqa: S608 - identifiers only
    csv = f"SELECT {', '.join(select.csv) or 'NULL'} FROM {from_all}{where_sql}{tail}"  # noqa: S608
    from_where = scope.from_sql(where_needed)
    if lim_params:
        count_sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {from_where}{where_sql} LIMIT ? OFFSET ?)"  # noqa: S608
    else:
        count_sql = f"SELECT COUNT(*) FROM {from_where}{where_sql}"  # noqa: S608
    return Plan(
        object_name=obj.name, columns=select.columns, is_count=is_count, sql=sql, csv_sql=csv,
        params=params + lim_params, count_sql=count_sql, count_params=params + lim_params,
        build_record=_make_builder(obj.name, 0, select.out, ctx.api_version),
    )


__all__ = ["compile_query", "tokenize", "date_literal_range", "Plan"]
