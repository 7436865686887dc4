"""The SOQL entry point: parse, check what Salesforce (or the emulator) refuses, and build the
SQL for the rows, the CSV values and the count."""

from __future__ import annotations

from datetime import UTC, datetime

from .. import objects as md
from ..errors import SalesforceError
from ..tables import q
from .conditions import Compiler
from .context import MAX_OFFSET, MAX_SOQL_LENGTH, Ctx, bulk_error
from .lexer import tokenize
from .parser import Cond, Parser, Query, SelectItem
from .plan import OutCol, Plan, csv_expr, make_builder, rest_converter
from .scope import Resolved, Scope, field_sql, prefixes, visibility


def compile_query(soql: str, schema: md.Schema, *, include_deleted: bool = False, api: str = "rest",
                  api_version: str = "59.0", now: datetime | None = None) -> Plan:
    if len(soql) > MAX_SOQL_LENGTH:
        # Salesforce refuses statements over 100,000 characters with MALFORMED_QUERY; the exact
        # wording is unverified ("Query is too long" is what its docs/forums quote).
        raise SalesforceError(400, "MALFORMED_QUERY",
                              f"Query is too long: {len(soql)} characters. SOQL statements cannot exceed "
                              f"{MAX_SOQL_LENGTH} characters.")
    ctx = Ctx(soql, schema, include_deleted, api, api_version, now or datetime.now(UTC))
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


def _check_unsupported(ctx: Ctx, query: Query, bulk: bool) -> None:
    kinds = {s.kind for s in query.select}
    if bulk:
        if "subquery" in kinds:
            raise bulk_error("Aggregate Relationships not supported in Bulk V2 Query with CSV content type")
        if "count" in kinds or "aggregate" in kinds:
            raise bulk_error("Aggregate functions such as COUNT() are not supported in Bulk V2 Query")
        if query.group_by is not None:
            raise bulk_error("GROUP BY is not supported in Bulk V2 Query")
        if "typeof" in kinds:
            raise bulk_error("TYPEOF is not supported in Bulk V2 Query")
        if query.offset is not None:
            raise bulk_error("OFFSET is not supported in Bulk V2 Query")
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

    def __init__(self, ctx: Ctx, scope: Scope, bulk: bool):
        self.ctx = ctx
        self.scope = scope
        self.bulk = bulk
        self.sql: list[str] = [f"b.{q('Id')}"]   # hidden: the record's url
        self.csv: list[str] = []
        self.out: list[OutCol] = []
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
            raise bulk_error("Selecting compound data not supported in Bulk Query")
        self.needed |= prefixes(res)
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
            self.out.append(OutCol(chain, f.name, -1, None, self._address(res)))
            return
        expr = self.scope.expr(res)
        self.out.append(OutCol(chain, f.name, self.add(expr), rest_converter(f)))
        self.csv.append(csv_expr(f, expr))

    def _address(self, res: Resolved) -> list[tuple[str, int]]:
        """Compound address: its components are selected and assembled into the JSON object."""
        src = res.rels[-1].targets[0] if res.rels else self.scope.obj
        alias = res.rels[-1].aliases[0] if res.rels else self.scope.alias
        comps = []
        for json_key, suffix in md.ADDRESS_KEYS:
            cf = next((c for c in src.fields if c.compound == res.field.name and c.name.endswith(suffix)
                       and c.type != "address"), None)
            if cf is not None:
                comps.append((json_key, self.add(field_sql(alias, cf))))
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


def _order_by(ctx: Ctx, scope: Scope, query: Query, needed: set[tuple[str, ...]]) -> str:
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
        needed |= prefixes(res)
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


def _compile(ctx: Ctx, comp: Compiler, query: Query, obj: md.SObject, bulk: bool) -> Plan:
    scope = Scope(ctx, obj, "b")
    is_count = query.select[0].kind == "count"
    select = _Select(ctx, scope, bulk)
    if not is_count:
        for item in query.select:
            select.item(item)

    params: list = []
    where_needed: set[tuple[str, ...]] = set()
    where_terms = []
    live = visibility(obj, "b", ctx.include_deleted)
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
        build_record=make_builder(obj.name, 0, select.out, ctx.api_version),
    )

