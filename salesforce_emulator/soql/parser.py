"""SOQL recursive-descent parser: tokens to the query AST."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SalesforceError
from .context import Ctx
from .lexer import Tok


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
    def __init__(self, ctx: Ctx, toks: list[Tok]):
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

