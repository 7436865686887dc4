"""Where the engine's load spends its time: each statement of ``salesforce_elt.engine.load.load`` timed apart.

    .venv/bin/python bench/profile_load.py --contacts 1000000 [--explain]

Uses the typed files and the warehouse a previous ``bench/run.py`` left under .local/bench/
(starts that Postgres if it is stopped, and stops it again). Replays the staged path's steps (temp
table, COPY, the upsert statement: what every load into a table with rows runs; a first load
COPYs straight into the target instead) on the truncated target, inside one transaction that is
rolled back: the table stays as the benchmark left it. ``--explain`` adds the upsert's
EXPLAIN (ANALYZE, BUFFERS) plan; ``--work-mem`` sets work_mem for the transaction first.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

# The engine snapshot of the last bench/run.py (BENCH_ENGINE_SNAPSHOT), else the checkout.
ROOT = Path(os.environ.get("BENCH_ENGINE_SNAPSHOT") or Path(__file__).resolve().parents[1])
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

LOCAL = Path(__file__).resolve().parents[1] / ".local" / "bench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, required=True)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--work-mem", help="SET LOCAL work_mem before the upsert (e.g. 256MB): does the sort spill?")
    args = ap.parse_args()

    import psycopg
    from psycopg import sql

    from embedded_stack.postgres import EmbeddedPostgres
    from salesforce_elt.engine import load
    from salesforce_elt.engine.registry import get_object

    typed = LOCAL / "work" / str(args.contacts) / "typed"
    files = sorted(p.name for p in typed.glob("part-*.csv"))
    if not files:
        sys.exit(f"no typed files in {typed}: run bench/run.py --sizes {args.contacts} first")
    spec = get_object("Contact")
    # The typed files' own header: the transform writes its columns in its own order.
    with (typed / files[0]).open(encoding="utf-8", newline="") as f:
        columns = next(csv.reader(f))  # pyarrow quotes the header's names
    pg = EmbeddedPostgres(LOCAL / "pgdata")
    was_running = pg.is_running()
    pg.start()
    timings: list[tuple[str, float]] = []

    def timed(label: str, fn):
        started = time.perf_counter()
        result = fn()
        timings.append((label, time.perf_counter() - started))
        return result

    try:
        with psycopg.connect(pg.url) as conn, conn.cursor() as cur:
            target = load.qualified(spec.table)
            staging = "_stage_profile"
            if args.work_mem:
                cur.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(args.work_mem)))
            timed("truncate target", lambda: cur.execute(sql.SQL("TRUNCATE {}").format(target)))
            timed("create temp table", lambda: cur.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    sql.Identifier(staging), target)))
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER match)").format(
                sql.Identifier(staging), sql.SQL(", ").join(sql.Identifier(c) for c in columns))

            def copy_all() -> int:
                rows = 0
                for name in files:
                    with (typed / name).open("rb") as source, cur.copy(copy_sql) as copy:
                        while chunk := source.read(load.COPY_CHUNK):
                            copy.write(chunk)
                    rows += cur.rowcount
                return rows

            rows = timed("COPY typed files into the temp table", copy_all)
            statement = load.upsert_statement(spec, columns, staging)
            timed("DISTINCT ON over the temp table alone (sort)", lambda: cur.execute(
                sql.SQL("SELECT count(*) FROM (SELECT DISTINCT ON ({key}) * FROM {staging} "
                        "ORDER BY {key}, {cursor} DESC) d").format(
                    key=sql.Identifier(spec.key_column), staging=sql.Identifier(staging),
                    cursor=sql.Identifier(spec.cursor_column))))
            plan = None
            if args.explain:
                cur.execute("SAVEPOINT before_upsert")
                cur.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + statement, {"sync_run_id": "profile"})
                plan = "\n".join(r[0] for r in cur.fetchall())
                cur.execute("ROLLBACK TO SAVEPOINT before_upsert")
            timed("upsert statement (sql/upsert.sql)", lambda: cur.execute(statement, {"sync_run_id": "profile"}))
            conn.rollback()
    finally:
        if not was_running:
            pg.stop()
    memory = f", work_mem {args.work_mem}" if args.work_mem else ""
    print(f"load of {rows:,} typed rows ({len(files)} files), staged path into the emptied target{memory}, rolled back:")
    for label, seconds in timings:
        print(f"  {seconds:8.2f} s  {label}")
    if plan:
        print(plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
