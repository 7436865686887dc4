"""Field resolution for one query level: relationship paths become LEFT JOINs to the parents."""

from __future__ import annotations

from dataclasses import dataclass

from .. import objects as md
from ..tables import live_filter, q
from .context import Ctx
from .lexer import Tok


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

    def __init__(self, ctx: Ctx, obj: md.SObject, alias: str):
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
            return field_sql(self.alias, res.field)
        rel = res.rels[-1]
        f = res.field
        if len(rel.targets) == 1:
            return field_sql(rel.aliases[0], f)
        if f.name == "Type" and rel.targets[0].field("Type") is None:
            return rel.type_expr
        parts = [field_sql(a, t.field(f.name)) for a, t in zip(rel.aliases, rel.targets, strict=True)
                 if t.field(f.name) is not None and t.field(f.name).is_physical]
        if not parts:
            return "NULL"
        return parts[0] if len(parts) == 1 else "COALESCE(" + ", ".join(parts) + ")"

    def from_sql(self, needed: set[tuple[str, ...]] | None = None) -> str:
        out = [f"{q(self.obj.name)} AS {self.alias}"]
        for prefix, sql in self.join_sql.items():
            if needed is None or prefix in needed:
                out.extend(sql)
        return " ".join(out)


def field_sql(alias: str, f: md.Field) -> str:
    if f.formula_sql:
        return "(" + f.formula_sql.format(t=alias) + ")"
    return f"{alias}.{q(f.name)}"


def prefixes(res: Resolved) -> set[tuple[str, ...]]:
    names = [r.name for r in res.rels]
    return {tuple(names[:i]) for i in range(1, len(names) + 1)}


def visibility(obj: md.SObject, alias: str, include_deleted: bool) -> str:
    return "" if include_deleted else live_filter(obj, alias)
