"""WHERE: literals typed against their field, conditions translated to SQL, semi-/anti-joins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import objects as md
from ..errors import SalesforceError
from ..ids import is_valid_id, to18
from .context import MAX_SEMI_JOINS, Ctx
from .dates import date_literal_range, fmt_dt, parse_datetime_literal
from .lexer import Tok
from .parser import Cond
from .scope import Scope, prefixes, visibility


def _number(tok: Tok, f: md.Field) -> int | float:
    return float(tok.text) if ("." in tok.text or f.type not in ("int", "long")) else int(tok.text)


# field kind -> (accepted token kinds, converter to the stored value)
_SCALARS: dict[str, tuple[tuple[str, ...], Callable[[Tok, md.Field], Any]]] = {
    "text": (("string",), lambda tok, f: tok.value[0]),
    "boolean": (("true", "false"), lambda tok, f: 1 if tok.kind == "true" else 0),
    "number": (("number",), _number),
    "date": (("date",), lambda tok, f: tok.text),
    "datetime": (("datetime",), lambda tok, f: fmt_dt(parse_datetime_literal(tok.text))),
}

_TYPE_NAMES = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "integer",
               "long": "long", "double": "double", "currency": "double", "percent": "double"}


class Compiler:
    def __init__(self, ctx: Ctx):
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
        needed |= prefixes(res)
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
        live = visibility(sub_obj, sub_scope.alias, ctx.include_deleted)
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

