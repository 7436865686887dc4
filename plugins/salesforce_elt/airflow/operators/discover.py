"""Operators of the targeted contact sync (rules in salesforce_elt.engine.targeted).

discover (REST) -> extract (one Bulk 2.0 job per id chunk, mapped) -> transform -> load (mapped)
-> mark (the targeted sync's own high-water mark, once every chunk is loaded).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from salesforce_elt import settings
from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.operators.extract import REST_SOQL_MAX_CHARS, SalesforceBulkExtractOperator
from salesforce_elt.engine.registry import CONTACT, get_object, missing_in_org
from salesforce_elt.engine.soql import SOQL_MAX_CHARS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine.targeted import Discovery

WINDOW_XCOM_KEY = "window"


class SalesforceContactDiscoveryOperator(BaseOperator):
    """List the contacts with activity in the run's window; return the id chunks to ``.expand`` over.

    Also pushes the window (XCom key ``window``) for the mark task. ``soql_max_chars`` is the
    fetch statement limit the chunks respect (Salesforce: 100,000); ``inline_max_ids`` the
    largest discovery whose ids travel inline in XCom (larger: staged chunk files).
    """

    ui_color = "#e8f4e8"

    def __init__(
        self,
        *,
        conn_id: str = settings.SALESFORCE_CONN_ID,
        warehouse_conn_id: str = settings.WAREHOUSE_CONN_ID,
        soql_max_chars: int = SOQL_MAX_CHARS,
        inline_max_ids: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.soql_max_chars = soql_max_chars
        self.inline_max_ids = inline_max_ids

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
        from salesforce_elt.engine import state, targeted
        from salesforce_elt.engine.staging import attempt_dir
        from salesforce_elt.engine.windows import compute_window

        mark = state.get_high_water_mark(targeted.MARK_NAME, conn_id=self.warehouse_conn_id)
        window = compute_window(context, CONTACT, mark)
        self.log.info("targeted contacts: activity window %s", window.to_json())
        hook = SalesforceApiHook(self.conn_id)
        found = targeted.Discovery()
        missing: set[str] = set()  # relation objects the org does not have (no Shared Activities)
        for query in targeted.discovery_queries(window.start, window.end):
            before = len(found.ids)
            if not self._add(found, missing, query.object_name, self._values(hook, query.soql, query.field)):
                continue
            self.log.info(
                "%s.%s: %d new contact id(s)", query.object_name, query.field, len(found.ids) - before
            )
        for lookup in targeted.relation_lookups(window.start, window.end):
            if lookup.relation in missing:
                continue
            before = len(found.ids)
            for page in self._pages(hook, lookup.parents_soql, "Id"):
                parents = [parent_id for parent_id in page if parent_id]  # an Id is never null
                for statement in lookup.statements(parents, REST_SOQL_MAX_CHARS):
                    self._add(found, missing, lookup.relation, self._values(hook, statement, "RelationId"))
            self.log.info(
                "%s.RelationId of every %s changed in the window: %d new contact id(s)",
                lookup.relation, lookup.parent, len(found.ids) - before,
            )  # fmt: skip
        chunks_dir = attempt_dir(context, CONTACT.name) / "chunks"

        def write_chunk(index: int, ids: list[str]) -> str:
            path = chunks_dir / f"ids-{index:05d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(ids) + "\n")
            return str(path)

        inline_max = targeted.INLINE_MAX_IDS if self.inline_max_ids is None else self.inline_max_ids
        chunks = targeted.chunk_descriptors(
            targeted.chunk_ids(found.ids, self.soql_max_chars),
            write_chunk,
            inline_max_ids=inline_max,
            total=len(found.ids),
        )
        self.log.info(
            "targeted contacts: %d distinct contact id(s) (%d person id(s) read, %d not contacts) in %d "
            "chunk(s) of at most %d SOQL characters, passed %s; %d API call(s)",
            len(found.ids),
            found.seen,
            found.not_contacts,
            len(chunks),
            self.soql_max_chars,
            "inline" if len(found.ids) <= inline_max else "as staged files",
            hook.api_calls,
        )
        context["ti"].xcom_push(key=WINDOW_XCOM_KEY, value=window.to_json())
        return chunks

    def _add(self, found: Discovery, missing: set[str], object_name: str, values: Iterator[str | None]) -> bool:
        """Add the person ids; False when the object does not exist in this org (and why, logged once)."""
        try:
            found.add(values)
        except SalesforceApiError as exc:
            reason = missing_in_org(get_object(object_name), exc.error_code)
            if reason is None:
                raise
            if object_name not in missing:
                self.log.warning("targeted contacts: %s", reason)
            missing.add(object_name)
            return False
        return True

    @classmethod
    def _values(cls, hook: SalesforceApiHook, soql: str, field: str) -> Iterator[str | None]:
        """One field of every record of a REST query, page by page (2,000 records in memory)."""
        for page in cls._pages(hook, soql, field):
            yield from page

    @staticmethod
    def _pages(hook: SalesforceApiHook, soql: str, field: str) -> Iterator[list[str | None]]:
        """One field of a REST query's records, a page (at most 2,000 values) at a time."""
        headers = {"Sforce-Query-Options": "batchSize=2000"}
        page = hook.get_json("query", params={"q": soql}, headers=headers)
        while True:
            yield [record.get(field) for record in page.get("records", [])]
            if page.get("done", True):
                return
            page = hook.get_json(page["nextRecordsUrl"], headers=headers)


class SalesforceIdChunkExtractOperator(SalesforceBulkExtractOperator):
    """The Bulk extract of one discovery chunk (``chunk``: a descriptor from the discover task)."""

    template_fields: Sequence[str] = (*SalesforceBulkExtractOperator.template_fields, "chunk")

    def __init__(self, *, chunk: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chunk = chunk

    def execute(self, context: Context) -> dict[str, Any]:
        if not isinstance(self.chunk, dict) or ("ids" not in self.chunk and "ids_uri" not in self.chunk):
            raise TypeError(
                f"{self.task_id}: expected a discovery chunk with ids or ids_uri, got {self.chunk!r:.200}"
            )
        if "ids" in self.chunk:
            self.ids = list(self.chunk["ids"])
        else:
            from airflow.sdk import ObjectStoragePath

            self.ids = ObjectStoragePath(self.chunk["ids_uri"]).read_text().split()
        if len(self.ids) != self.chunk["count"]:
            raise ValueError(
                f"{self.task_id}: chunk {self.chunk['index']} holds {len(self.ids)} ids, "
                f"the discovery wrote {self.chunk['count']}"
            )
        return super().execute(context)


class TargetedMarkOperator(BaseOperator):
    """Advance the targeted sync's high-water mark to the discovery window's end (after all loads)."""

    template_fields: Sequence[str] = ("window",)
    ui_color = "#dcd3f5"

    def __init__(self, *, window: Any, conn_id: str = settings.WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.conn_id = conn_id

    def execute(self, context: Context) -> str | None:
        from salesforce_elt.engine import state, targeted, warehouse

        if not isinstance(self.window, dict):
            raise TypeError(
                f"{self.task_id}: expected the discover task's window dict, got {self.window!r:.200}"
            )
        if not self.window.get("advances_high_water_mark", True):
            self.log.info("targeted contacts: window %s is ahead of the mark; the mark stays", self.window)
            return None
        end = datetime.fromisoformat(self.window["end"])
        with warehouse.connect(self.conn_id) as conn, conn.transaction():
            stored = state.set_high_water_mark(conn, targeted.MARK_NAME, end, context["run_id"])
        self.log.info("targeted contacts: high-water mark now %s", stored.isoformat())
        return stored.isoformat()
