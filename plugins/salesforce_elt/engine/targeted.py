"""The targeted contact sync: which contacts had activity in a window, in Bulk-sized id chunks.

Discovery (REST, every query paged 2,000 records at a time):
- ``SELECT WhoId FROM Task|Event WHERE WhoId != null AND SystemModstamp in the window``;
- ``SELECT RelationId FROM TaskWhoRelation|EventWhoRelation WHERE SystemModstamp in the window``:
  contacts added to an activity (whether that bumps the activity is not documented);
- every contact of every activity changed in the window: ``SELECT Id FROM Task|Event WHERE
  SystemModstamp in the window``, then, page by page, ``SELECT RelationId FROM TaskWhoRelation
  WHERE TaskId IN ('00T...', ...)`` in statements under the REST limit. Salesforce refuses Task
  and Event as the inner select of a semi-join (MALFORMED_QUERY "Entity 'Task' is not supported
  for semi join inner selects"), so the ids are listed first; one page of them is in memory.
Activities are the live, unarchived ones (plain ``query``); an id counts when it has the Contact
key prefix ``003`` (WhoId and RelationId may name leads). In an org without Shared Activities
the relation objects do not exist (INVALID_TYPE): WhoId alone names an activity's contact, and
the discovery says so in its log. Every kept id is validated
(soql.validate_salesforce_id: 15 or 18 characters, Salesforce's alphabet and checksum, the
prefix) and de-duplicated, first occurrence first. The set of distinct ids is held in memory —
about 100 bytes per contact, so 1,000,000 contacts with activity in one window cost ~100 MB; an
hourly window holds far fewer.

Chunks are exactly the statements the extract will send: ``soql.chunk_ids_for_soql`` over
``SELECT <Contact fields> FROM Contact WHERE Id IN (...)`` with Salesforce's 100,000-character
limit (about 4,700 ids each), one Bulk 2.0 job per chunk.

XCom: a discovery of at most ``INLINE_MAX_IDS`` ids (1,000 ids ≈ 21 KB of JSON) travels inline,
one list per chunk. Larger ones are written to staging, one text file per chunk (one id per line;
10,000 ids ≈ 190 KB), and only the file URIs travel: Airflow keeps XComs in its metadata
database, which is not a place for megabytes.

The window: the targeted sync keeps its own high-water mark (``sync_state`` row
``MARK_NAME``), advanced by the DAG's last task once every chunk is loaded, with the windowing
rules of windows.py (scheduled runs: the data interval minus the lookback; manual runs: from the
mark; no mark yet: every activity). Loading contacts never moves the Contact DAG's own mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from salesforce_elt.engine.registry import CONTACT, SObjectSpec, get_object, relation_specs
from salesforce_elt.engine.soql import (
    SOQL_MAX_CHARS,
    build_select,
    build_spec_select,
    chunk_ids_for_soql,
)

MARK_NAME = "Contact (targeted sync)"
INLINE_MAX_IDS = 1_000
CONTACT_PREFIX = CONTACT.key_prefix


@dataclass(frozen=True)
class DiscoveryQuery:
    object_name: str
    field: str  # the column holding a person id (WhoId, RelationId)
    soql: str


@dataclass(frozen=True)
class RelationLookup:
    """Every person of the activities changed in a window, through one who relation object."""

    relation: str  # TaskWhoRelation
    parent: str  # Task
    parent_field: str  # TaskId
    parents_soql: str  # SELECT Id FROM Task WHERE <window>

    def statements(self, parent_ids: Iterable[str], limit: int) -> Iterator[str]:
        """``SELECT RelationId FROM <relation> WHERE <parent_field> IN (...)``, each within ``limit``."""
        base = f"{build_select(self.relation, ['RelationId'])} WHERE "
        return chunk_ids_for_soql(
            base, parent_ids, limit, field=self.parent_field, prefix=get_object(self.parent).key_prefix
        )


def discovery_queries(start: datetime | None, end: datetime) -> list[DiscoveryQuery]:
    """The REST queries listing people of activities and relations changed in [start, end)."""
    queries = [
        DiscoveryQuery(
            name, "WhoId", build_select(name, ["WhoId"], start=start, end=end, where="WhoId != null")
        )
        for name in ("Task", "Event")
    ]
    queries += [
        DiscoveryQuery(
            spec.name,
            "RelationId",
            build_select(spec.name, ["RelationId"], start=start, end=end, where="RelationId != null"),
        )
        for spec in relation_specs()
    ]
    return queries


def relation_lookups(start: datetime | None, end: datetime) -> list[RelationLookup]:
    """Per who relation object: the activities changed in [start, end), whose people it lists.

    None for an unbounded window: the relations changed before ``end`` (discovery_queries) are
    then every relation already, and listing every activity would only spend API calls.
    """
    if start is None:
        return []
    lookups = []
    for spec in relation_specs():
        assert spec.relation_parent is not None  # relation_specs() are the specs that have one
        field, parent = spec.relation_parent
        parents = build_select(parent, ["Id"], start=start, end=end)
        lookups.append(RelationLookup(spec.name, parent, field, parents))
    return lookups


@dataclass
class Discovery:
    """Distinct contact ids, first seen first, and how many person ids were not contacts."""

    ids: dict[str, None] = field(default_factory=dict)
    seen: int = 0
    not_contacts: int = 0

    def add(self, values: Iterable[str | None]) -> None:
        from salesforce_elt.engine.soql import validate_salesforce_id

        for value in values:
            if not value:
                continue
            self.seen += 1
            if not value.startswith(CONTACT_PREFIX):
                self.not_contacts += 1  # a lead (00Q): not a contact
                continue
            try:
                self.ids.setdefault(validate_salesforce_id(value, CONTACT_PREFIX), None)
            except ValueError as exc:
                raise ValueError(
                    f"targeted sync: Salesforce returned a malformed contact id: {exc}"
                ) from None


def contact_select_prefix(spec: SObjectSpec = CONTACT) -> str:
    """The start of every fetch statement; the extract builds the same one (``... WHERE Id IN (``)."""
    return f"{build_spec_select(spec)} WHERE "


def chunk_ids(
    ids: Iterable[str], limit: int = SOQL_MAX_CHARS, spec: SObjectSpec = CONTACT
) -> Iterator[list[str]]:
    """Ids in chunks whose fetch statement stays within ``limit`` characters (soql.chunk_ids_for_soql)."""
    prefix = contact_select_prefix(spec)
    head = f"{prefix}Id IN ("
    for statement in chunk_ids_for_soql(prefix, ids, limit, prefix=spec.key_prefix):
        # The statement is head + 'id','id',... + ")": the ids are exactly what it lists.
        yield [literal.strip("'") for literal in statement[len(head) : -1].split(",")]


def chunk_descriptors(
    chunks: Iterable[list[str]], write_chunk: Any, *, inline_max_ids: int = INLINE_MAX_IDS, total: int
) -> list[dict[str, Any]]:
    """The ``.expand`` list: ``{"index", "count", "ids"}`` inline, or ``{"index", "count", "ids_uri"}``.

    ``write_chunk(index, ids) -> uri`` stores one chunk when the discovery is too big for XCom.
    """
    inline = total <= inline_max_ids
    out = []
    for index, ids in enumerate(chunks):
        entry: dict[str, Any] = {"index": index, "count": len(ids)}
        if inline:
            entry["ids"] = ids
        else:
            entry["ids_uri"] = write_chunk(index, ids)
        out.append(entry)
    return out
