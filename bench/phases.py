"""One benchmark phase per child process: ``python bench/phases.py NAME JSON_ARGS``.

Each phase calls the sync engine's own functions (the ones the operators wrap) or a COPY
baseline, times only the work (imports and interpreter start-up excluded) and prints one line
``BENCH_RESULT {json}``. The parent measures the child's wall time and peak RSS (``wait4``),
so every phase's memory is its own.

Phases: extract (Bulk 2.0 job + streamed download, plus the /deleted feed for a window),
transform (raw -> typed CSV), load (COPY + one upsert, one transaction), copy_raw (COPY of the
raw Bulk CSV into a target-shaped table, or an unlogged one without indexes), copy_typed (COPY
of the typed CSV into a copy of the target table with its indexes).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The engine snapshot bench/run.py measures (the checkout when run by hand).
ROOT = Path(os.environ.get("BENCH_ENGINE_SNAPSHOT") or Path(__file__).resolve().parents[1])
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(Path(__file__).resolve().parent)]

COPY_CHUNK = 1024 * 1024
POLL_SECONDS = 0.5  # job status polling; the DAG's trigger polls every 10 s


def _storage(path: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(f"file://{path}")


def extract(args: dict[str, Any]) -> dict[str, Any]:
    from salesforce_elt import settings
    from salesforce_elt.airflow.hooks.bulk2 import TERMINAL_STATES, SalesforceBulk2Hook
    from salesforce_elt.engine.registry import get_object
    from salesforce_elt.engine.soql import build_spec_select

    spec = get_object(args["object"])
    start = datetime.fromisoformat(args["start"]) if args.get("start") else None
    end = datetime.fromisoformat(args["end"]) if args.get("end") else None
    soql = build_spec_select(spec, start=start, end=end)
    raw_dir = _storage(args["raw_dir"])
    deleted_file = _storage(args["deleted_file"]) if args.get("deleted_file") else None
    started = time.perf_counter()
    # result_streams: the engine's default (None) or a given number of concurrent results streams.
    hook = SalesforceBulk2Hook(settings.SALESFORCE_CONN_ID, result_streams=args.get("result_streams"))
    job_id = hook.create_query_job(soql, "queryAll" if spec.query_all else "query")["id"]
    while (job := hook.get_job(job_id))["state"] not in TERMINAL_STATES:
        time.sleep(POLL_SECONDS)
    if job["state"] != "JobComplete":
        raise RuntimeError(f"Bulk job {job_id} ended {job['state']}: {job.get('errorMessage')}")
    job_done = time.perf_counter()
    # typed_dir: convert each page as it lands, as the extract task does (transform_while_downloading).
    converting = None
    if args.get("typed_dir"):
        from salesforce_elt.engine.transform_stream import TransformWhileDownloading

        converting = TransformWhileDownloading(spec, spec.soql_fields, raw_dir, _storage(args["typed_dir"]))
    files, records = hook.download_results(job_id, raw_dir, args.get("max_records", 50_000), header=spec.soql_fields,
                                           on_part=converting.part_ready if converting else None)
    downloaded = time.perf_counter()
    typed = None
    if converting is not None:
        from salesforce_elt.engine.transform import check_rejects

        result = converting.finish()
        check_rejects(spec, result, 0.01)
        typed = {"rows": result.rows, "rejects": result.rejects, "files": result.typed_files,
                 "columns": result.columns, "seconds_busy": converting.busy_seconds,
                 "seconds_after_download": time.perf_counter() - downloaded}
    deleted_rows = None
    if deleted_file is not None and start is not None and end is not None:
        deleted_rows, _ = hook.deleted(spec.name, start, end, deleted_file)
    hook.delete_job(job_id)
    return {
        "seconds": time.perf_counter() - started,
        "seconds_job": job_done - started,
        "seconds_download": downloaded - job_done,
        "rows": records,
        "files": files,
        "deleted_rows": deleted_rows,
        "api_calls": hook.api_calls,
        "soql_chars": len(soql),
        "typed": typed,
    }


def transform(args: dict[str, Any]) -> dict[str, Any]:
    from salesforce_elt.engine.registry import get_object
    from salesforce_elt.engine.transform import transform_files

    spec = get_object(args["object"])
    raw_dir, typed_dir = _storage(args["raw_dir"]), _storage(args["typed_dir"])
    started = time.perf_counter()
    result = transform_files(spec, spec.soql_fields, raw_dir, args["files"], typed_dir, reject_threshold=0.01)
    return {
        "seconds": time.perf_counter() - started,
        "rows": result.rows,
        "rejects": result.rejects,
        "files": result.typed_files,
        "columns": result.columns,
    }


def load(args: dict[str, Any]) -> dict[str, Any]:
    from salesforce_elt.engine import load as engine_load
    from salesforce_elt.engine import warehouse
    from salesforce_elt.engine.registry import get_object

    spec = get_object(args["object"])
    request = engine_load.LoadRequest(
        spec=spec,
        typed_dir=_storage(args["typed_dir"]),
        typed_files=args["files"],
        columns=args["columns"],
        expected_rows=args["expected_rows"],
        sync_run_id=args["run_id"],
        window_end=datetime.fromisoformat(args["window_end"]) if args.get("window_end") else None,
        deleted_file=_storage(args["deleted_file"]) if args.get("deleted_file") else None,
        run={"dag_id": "bench", "api": "bulk", "started_at": datetime.now(UTC)},
    )
    started = time.perf_counter()
    with warehouse.connect() as conn:
        stats = engine_load.load(conn, request)
    return {
        "seconds": time.perf_counter() - started,
        "rows": stats.copied_rows,
        "new": stats.new_records,
        "updated": stats.updated_records,
        "deleted": stats.deleted_records,
    }


def _copy_files(cur: Any, statement: str, directory: Path, files: list[str]) -> int:
    rows = 0
    for name in files:
        with (directory / name).open("rb") as source, cur.copy(statement) as copy:
            while chunk := source.read(COPY_CHUNK):
                copy.write(chunk)
        rows += cur.rowcount
    return rows


def copy_raw(args: dict[str, Any]) -> dict[str, Any]:
    """COPY the raw Bulk CSV as it is into a table of the target's types (with or without indexes)."""
    import psycopg
    from tables import create_table_sql, raw_columns

    from salesforce_elt.engine.registry import get_object

    spec = get_object(args["object"])
    table = args["table"]
    columns = ", ".join(f'"{c.name}"' for c in raw_columns(spec))
    with psycopg.connect(args["url"], autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in create_table_sql(spec, table, unlogged=args["unlogged"], indexes=args["indexes"]):
            conn.execute(statement)
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            rows = _copy_files(
                cur, f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, HEADER true)", Path(args["raw_dir"]),
                args["files"],
            )
        seconds = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
    return {"seconds": seconds, "rows": rows}


def copy_typed(args: dict[str, Any]) -> dict[str, Any]:
    """COPY the engine's typed CSV into a copy of the target table (its types, key and indexes)."""
    import psycopg

    from salesforce_elt.engine.load import qualified
    from salesforce_elt.engine.registry import get_object

    spec = get_object(args["object"])
    table = args["table"]
    columns = ", ".join(f'"{c}"' for c in args["columns"])
    with psycopg.connect(args["url"], autocommit=True) as conn:
        target = qualified(spec.table).as_string(conn)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE {target} INCLUDING ALL)")
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            rows = _copy_files(
                cur, f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, HEADER true)", Path(args["typed_dir"]),
                args["files"],
            )
        seconds = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
    return {"seconds": seconds, "rows": rows}


PHASES = {"extract": extract, "transform": transform, "load": load, "copy_raw": copy_raw, "copy_typed": copy_typed}


def vm_hwm_mb() -> float:
    """This process's peak resident set since exec (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    profile_to = os.environ.get("BENCH_PROFILE_DIR")
    if not profile_to:
        result = PHASES[name](args)
    else:  # where the time goes: cumulative top 30 beside the raw profile
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(PHASES[name], args)
        out = Path(profile_to) / args.get("label", name)
        profiler.dump_stats(f"{out}.prof")
        with open(f"{out}.txt", "w", encoding="utf-8") as fh:
            pstats.Stats(profiler, stream=fh).sort_stats("cumulative").print_stats(30)
    print("BENCH_RESULT " + json.dumps({**result, "vm_hwm_mb": vm_hwm_mb()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
