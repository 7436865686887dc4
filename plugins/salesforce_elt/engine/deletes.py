"""How deletions in Salesforce reach the warehouse: one strategy per registry ``delete_handling``.

Each strategy owns the extract's extra step (what it reads besides the window's rows), the scope
it hands the load and the SQL templates the load applies for it:

- ``soft_and_hard``: IsDeleted through queryAll, plus the window's /deleted feed for hard
  deletes. When the feed cannot list every deletion of the window (Salesforce purges its delete
  log early once it grows large and keeps 15 days at most; its advice for the
  INVALID_REPLICATION_DATE that follows is a full pull, SOAP getDeleted()), every current Id is
  read instead (queryAll: the recycle bin's too), the cheap half of that pull: the load flags the
  stored rows missing from it, and the run goes on (the high-water mark moves).
- ``soft``: IsDeleted through queryAll only; ``none``: the object is never deleted (User).
- ``relations``: a who relation view (TaskWhoRelation, EventWhoRelation): relation_deletes.py.

A new kind of object is one registry entry plus, when its deletions work differently, one
strategy registered in ``STRATEGIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from salesforce_elt.engine.contract import ExtractResult, IdReconcile
from salesforce_elt.engine.extract_plan import ID_FIELDS, ExtractPlan, id_soql

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
    from salesforce_elt.engine import load
    from salesforce_elt.engine.contract import TransformResult
    from salesforce_elt.engine.registry import SObjectSpec
    from salesforce_elt.engine.windows import SyncWindow


class TaskLog(Protocol):
    """The operator's logger (Airflow's task logger or a logging.Logger)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...


# The DML templates (sql/) of the deletions, named once: the strategies list theirs, load_deletes.py runs them.
MARK_DELETED = "mark_deleted.sql"  # the /deleted feed's rows
MARK_MISSING_DELETED = "mark_missing_deleted.sql"  # stored rows missing from a complete read
DATE_SOFT_DELETES = "date_soft_deletes.sql"  # soft deletes found in an Id list, dated
MARK_REMOVED_RELATIONS = "mark_removed_relations.sql"  # relations of re-read parents the re-read lacks


@dataclass(frozen=True)
class FeedOutcome:
    """The extra step's deletions: a staged ``deleted.csv`` (Id,deletedDate), or why Ids are compared.

    ``window``: the run's window, with ``deletes_covered_to`` when the feed stops before its end.
    ``id_reconcile``: set when the feed could not be used; its Id list is still to be read.
    """

    window: SyncWindow
    deleted_uri: str | None = None
    deleted_records: int = 0
    id_reconcile: IdReconcile | None = None


@dataclass(frozen=True)
class LoadScope:
    """What the load compares the table with besides the batch (load.LoadRequest's fields)."""

    relation_scope: load.RelationScope | None = None
    id_reconcile: load.IdReconcile | None = None


class DeleteStrategy:
    """No deletions beyond what the rows say (IsDeleted through queryAll, if the object has it)."""

    handling: ClassVar[str] = "none"
    # The DML templates (sql/) the load applies for this strategy, besides the upsert.
    templates: ClassVar[tuple[str, ...]] = ()

    def reads_feed(self, plan: ExtractPlan) -> bool:
        """Whether this run takes the extra step after the window's rows (``read_feed``)."""
        return False

    def read_feed(
        self, hook: SalesforceApiHook, spec: SObjectSpec, window: SyncWindow, attempt: ObjectStoragePath,
        log: TaskLog,
    ) -> FeedOutcome:  # fmt: skip
        return FeedOutcome(window)

    def read_rest(
        self, hook: SalesforceApiHook, plan: ExtractPlan, attempt: ObjectStoragePath, log: TaskLog
    ) -> ExtractResult | None:
        """The whole REST read when the strategy reads differently from a plain query; None: the plain one."""
        return None

    def load_scope(self, spec: SObjectSpec, result: TransformResult) -> LoadScope:
        return LoadScope()


class NoDeletes(DeleteStrategy):
    handling = "none"


class SoftDeletes(DeleteStrategy):
    handling = "soft"
    templates = (MARK_MISSING_DELETED,)  # after a complete full refresh


class SoftAndHardDeletes(DeleteStrategy):
    """IsDeleted plus the /deleted feed; every current Id when the feed cannot cover the window."""

    handling = "soft_and_hard"
    templates = (MARK_DELETED, MARK_MISSING_DELETED, DATE_SOFT_DELETES)

    def reads_feed(self, plan: ExtractPlan) -> bool:
        return plan.window.incremental and not plan.targeted

    def read_feed(
        self, hook: SalesforceApiHook, spec: SObjectSpec, window: SyncWindow, attempt: ObjectStoragePath,
        log: TaskLog,
    ) -> FeedOutcome:  # fmt: skip
        """The window's /deleted feed, or (when it cannot list every deletion) why the Ids are compared."""
        from salesforce_elt.airflow.hooks.deleted_feed import DeletedFeedUnavailable

        if window.start is None:
            raise ValueError(f"{spec.name}: the /deleted feed is read for incremental windows only")
        dest = attempt / "deleted.csv"
        try:
            rows, _start = hook.deleted(spec.name, window.start, window.end, dest)
        except DeletedFeedUnavailable as exc:
            log.warning(
                "%s: %s; reading every %s Id instead: stored rows missing from it are flagged deleted",
                spec.name, exc.reason, spec.name,
            )  # fmt: skip
            earliest = exc.earliest_available.isoformat() if exc.earliest_available else None
            return FeedOutcome(window, id_reconcile=IdReconcile(exc.reason, earliest))
        log.info("%s: %d hard-deleted record(s) in the window", spec.name, rows)
        covered = hook.deleted_covered_to
        if covered is not None and covered < window.end:
            # Deletions after latestDateCovered are not listed yet: the load keeps the high-water
            # mark there, so the next window's feed reads them.
            window = replace(window, deletes_covered_to=covered)
            log.info("%s: the /deleted feed covers the window up to %s only", spec.name, covered.isoformat())
        return FeedOutcome(window, str(dest), rows)

    def load_scope(self, spec: SObjectSpec, result: TransformResult) -> LoadScope:
        from airflow.sdk import ObjectStoragePath

        from salesforce_elt.engine import load

        reconcile = result.extract.id_reconcile
        if reconcile is None:
            return LoadScope()
        if reconcile.uri is None:
            # Without the Id list the deletions of the window cannot be known: loading anyway would
            # move the high-water mark past them for good.
            raise ValueError(f"{spec.name}: the extract planned an Id comparison ({reconcile.reason}) "
                             "but handed no Id list; refusing to load without it")
        return LoadScope(
            id_reconcile=load.IdReconcile(
                ids_dir=ObjectStoragePath(reconcile.uri),
                files=list(reconcile.files or ()),
                reason=reconcile.reason,
                earliest_available=reconcile.earliest_available,
            )
        )


def read_id_list_rest(
    hook: SalesforceApiHook, spec: SObjectSpec, attempt: ObjectStoragePath, reconcile: IdReconcile
) -> IdReconcile:
    """Every current Id through REST queryAll (the recycle bin's too), staged as Id,IsDeleted parts."""
    ids = attempt / "ids"
    files, records = hook.query_to_csv(id_soql(spec), ID_FIELDS, ids, include_deleted=True)
    return replace(reconcile, uri=str(ids), files=tuple(files), records=records)


def _relation_deletes() -> DeleteStrategy:
    # Imported when asked for: relation_deletes builds on the classes above.
    from salesforce_elt.engine.relation_deletes import RelationDeletes

    return RelationDeletes()


# delete_handling -> its strategy (registry.DeleteHandling lists the same names).
STRATEGIES: dict[str, Callable[[], DeleteStrategy]] = {
    "none": NoDeletes,
    "soft": SoftDeletes,
    "soft_and_hard": SoftAndHardDeletes,
    "relations": _relation_deletes,
}


def strategy_for(spec: SObjectSpec) -> DeleteStrategy:
    """The strategy of ``spec.delete_handling`` (a clear error naming the object for an unknown one)."""
    try:
        factory = STRATEGIES[spec.delete_handling]
    except KeyError:
        raise ValueError(
            f"{spec.name}: delete_handling {spec.delete_handling!r} has no strategy (known: {', '.join(STRATEGIES)})"
        ) from None
    return factory()
