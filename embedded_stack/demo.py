"""`make demo`: every sync DAG once through `airflow dags test`, then a per-object summary.

The first run loads everything. Later runs first simulate changes in the emulator (updates,
creates, soft and hard deletes) and then sync only those: the DAGs' manual-run rule reads each
object's high-water mark from the warehouse.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

from embedded_stack.stack import Stack, StackError

# What the second and later demo runs change in the emulated org before syncing.
DEMO_CHANGES: dict[str, dict[str, int]] = {
    "Contact": {"update": 300, "create": 100, "delete": 20, "hard_delete": 5},
    "User": {"update": 5, "create": 2},
    "Task": {"update": 100, "create": 50, "delete": 10, "hard_delete": 2},
    "Event": {"update": 50, "create": 20, "delete": 5},
    # Contacts added to and taken off shared activities (the relation DAGs read the removals from
    # TaskRelation's and EventRelation's /deleted feeds; the activities themselves are not bumped).
    "TaskWhoRelation": {"create": 30, "delete": 10},
    "EventWhoRelation": {"create": 10, "delete": 5},
}

# Fixed order: parents before the rows that reference them reads best in the summary.
DAG_ORDER = ("users", "sync_contacts", "activities", "task_who_relations", "event_who_relations", "targeted")


def dag_ids() -> list[str]:
    from airflow.dag_processing.dagbag import DagBag

    from embedded_stack.stack import REPO

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        first = next(iter(bag.import_errors.items()))
        raise StackError(f"a DAG file does not import: {first[0]}: {first[1].splitlines()[-1]}")

    def order(dag_id: str) -> tuple[int, str]:
        ranks = [i for i, key in enumerate(DAG_ORDER) if key in dag_id]
        return (ranks[0] if ranks else len(DAG_ORDER), dag_id)

    return sorted((d for d in bag.dag_ids if "audit" not in d), key=order)


def summary_rows(since: datetime) -> list[tuple]:
    import psycopg

    from salesforce_elt.engine.registry import warehouse_schema
    from salesforce_elt.settings import WAREHOUSE_CONN_ID

    url = _warehouse_url(WAREHOUSE_CONN_ID)
    schema = warehouse_schema()
    query = f"""
        SELECT dag_id, object_name, api, rows_extracted, new_records, updated_records, deleted_records,
               round((coalesce(seconds_extract, 0) + coalesce(seconds_transform, 0) + coalesce(seconds_load, 0))::numeric, 1),
               status
        FROM "{schema}".sync_runs WHERE started_at >= %s ORDER BY started_at, object_name
    """  # noqa: S608 - the schema name comes from settings, not from input
    with psycopg.connect(url) as conn:
        return conn.execute(query, (since,)).fetchall()


def _warehouse_url(conn_id: str) -> str:
    import os

    from embedded_stack.connections import postgres_url_from_connection

    return os.environ.get("SALESFORCE_ELT_WAREHOUSE_URL") or postgres_url_from_connection(
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"]
    )


def print_table(rows: list[tuple]) -> None:
    header = ("DAG", "object", "API", "extracted", "inserted", "updated", "deleted", "seconds", "status")
    cells = [header, *[tuple("" if v is None else str(v) for v in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))


def run_demo() -> int:
    started = datetime.now(UTC)
    with Stack() as stack:
        stack.migrate_airflow()
        stack.migrate_warehouse()
        marker = stack.local / "demo-history.json"
        history = json.loads(marker.read_text()) if marker.exists() else []
        if history and stack.emulator_info:
            for object_name, counts in DEMO_CHANGES.items():
                stack.mutate_emulator(object_name, **counts)
            print("salesforce: simulated changes " + json.dumps(DEMO_CHANGES))
        failures = []
        for dag_id in dag_ids():
            t0 = time.monotonic()
            log = stack.local / "logs" / f"{dag_id}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            result = stack.run([sys.executable, "-m", "airflow", "dags", "test", dag_id], check=False, quiet=True)
            log.write_text(result.stdout or "")
            state = "ok" if result.returncode == 0 else f"FAILED (log: {log})"
            print(f"airflow dags test {dag_id}: {state} in {time.monotonic() - t0:.0f}s")
            if result.returncode != 0:
                failures.append(dag_id)
        print()
        print_table(summary_rows(started))
        history.append({"started": started.isoformat(), "failed": failures})
        marker.write_text(json.dumps(history, indent=1))
    if failures:
        print(f"\n{len(failures)} DAG(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
