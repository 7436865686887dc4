"""`make bench`: full and incremental sync throughput against COPY, a hand-written sync and dlt.

    .venv/bin/python bench/run.py [--sizes 100000,1000000] [--quick] [--skip-dlt] [--skip-e2e]
                                  [--skip-handwritten] [--profile]
    .venv/bin/python bench/run.py --network [--sizes 100000] [--bandwidth-kbps 8000] [--latency-ms 80]
                                  [--streams 4] [--page-records 10000] [--skip-dlt] [--skip-handwritten]

For each size, one emulated org (generated once, cached under .local/bench/orgs, copied fresh
for every run so Scenario B's changes never accumulate) and one embedded Postgres:
- Scenario A, full sync: the engine's extract (Bulk 2.0 job + streamed download), transform and
  load, each in its own child process (time of the work, peak RSS of the process); then the
  baselines on the same data: COPY of the raw Bulk CSV into an unlogged table without indexes
  and into a target-shaped table with the target's key and indexes, COPY of the typed CSV into
  a copy of the target table, the hand-written simple-salesforce + pandas + SQLAlchemy sync, and
  dlt (merge on Id, its own venv); finally the whole DAG once through `airflow dags test`.
- Scenario B, incremental: 10,000 changes in the org (updates, creates, soft and hard deletes),
  then one window [high-water mark - lookback, now) through the engine's phases.
Prints a Markdown table per size and the performance targets; writes bench/results/<date>.json.
With --network only the real-network scenario runs (bench/network.py): the same org behind a
bandwidth- and latency-limited emulator; writes bench/results/network-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# The engine and the emulator the run measures: a snapshot taken when the run starts (see
# snapshot_engine), so edits in the checkout during an hour-long run cannot mix two versions.
ENGINE = Path(os.environ.get("BENCH_ENGINE_SNAPSHOT") or ROOT)
sys.path[:0] = [str(ENGINE), str(ENGINE / "plugins"), str(BENCH)]

import network  # noqa: E402
from report import evaluate_targets, markdown  # noqa: E402

LOCAL = ROOT / ".local" / "bench"
BENCH_VENV = ROOT / ".local" / "bench-venv"
RESULTS = BENCH / "results"
PYTHON = sys.executable
SEED = 42
OBJECT = "Contact"
DAG_ID = "salesforce_sync_contacts"
# Scenario B: 10,000 changes in one window.
CHANGES = {"update": 7000, "create": 2000, "delete": 800, "hard_delete": 200}


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


# ---- child processes ------------------------------------------------------------------------------
def vm_hwm_mb(pid: int) -> float | None:
    """The peak resident set of a running process since its exec (VmHWM), in MB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class PeakRss(threading.Thread):
    """Samples a child's VmHWM until it exits (the last sample is its peak up to then).

    Not ru_maxrss: that one keeps the high-water mark of the forked parent's address space
    across exec, so every child would show this process's size (the emulator lives here).
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            value = vm_hwm_mb(self.pid)
            if value is not None:
                self.peak = max(self.peak, value)


def run_child(argv: list[str], env: dict[str, str], log_name: str) -> dict[str, Any]:
    """Run one measured child; returns its BENCH_RESULT plus wall seconds and peak RSS (MB)."""
    log_file = LOCAL / "logs" / f"{log_name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_file.open("wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ENGINE)
        sampler = PeakRss(proc.pid)
        sampler.start()
        out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
    wall = time.perf_counter() - started
    with log_file.open("a", encoding="utf-8") as fh:
        fh.write("\n--- stdout ---\n" + out)
    if proc.returncode != 0:
        raise BenchError(f"{log_name} failed (exit {proc.returncode}); see {log_file}")
    result: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line.removeprefix("BENCH_RESULT "))
    result["wall_seconds"] = wall
    # CPU of the child itself (not of Postgres): barely moved by other jobs on a shared machine.
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    # The child's own VmHWM read at its end when it reports one (exact), else the sampled peak.
    result["peak_rss_mb"] = max(result.pop("vm_hwm_mb", 0.0) or 0.0, sampler.peak)
    return result


def phase(name: str, args: dict[str, Any], env: dict[str, str], label: str, key: str | None = None) -> dict[str, Any]:
    key = key or name
    log(f"{label}: {key} ...")
    result = run_child([PYTHON, str(BENCH / "phases.py"), name, json.dumps({**args, "label": f"{label}-{key}"})],
                       env, f"{label}-{key}")
    log(f"{label}: {key} {result.get('rows')} rows in {result['seconds']:.2f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB")
    return result


# ---- the stack: org, Postgres, environment ------------------------------------------------------
def prepared_org(contacts: int) -> Path:
    """A fresh copy of the cached org of this size (generated on first use)."""
    from salesforce_emulator.store import Org

    cache = LOCAL / "orgs" / f"contacts-{contacts}"
    started = time.monotonic()
    org = Org.open(cache, contacts=contacts, seed=SEED)
    org.close()
    with sqlite3.connect(cache / "org.sqlite") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    run_dir = LOCAL / "run" / f"contacts-{contacts}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    shutil.copyfile(cache / "org.sqlite", run_dir / "org.sqlite")
    log(f"org of {contacts} contacts ready in {time.monotonic() - started:.0f} s ({run_dir})")
    return run_dir


def child_env(info: dict[str, Any], url: str) -> dict[str, str]:
    from embedded_stack.connections import postgres_connection, salesforce_connection
    from embedded_stack.stack import airflow_environment

    home = LOCAL / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_environment(home)}
    env.update(
        AIRFLOW_CONN_SALESFORCE_DEFAULT=salesforce_connection(info),
        AIRFLOW_CONN_SALESFORCE_WAREHOUSE=postgres_connection(url),
        SALESFORCE_ELT_WAREHOUSE_URL=url,
        SALESFORCE_ELT_STAGING_URL=f"file://{LOCAL / 'staging'}",
        PYTHONPATH=os.pathsep.join([str(ENGINE), str(ENGINE / "plugins")]),
        # A deployed venv has bytecode; without it every child would compile Airflow again.
        PYTHONPYCACHEPREFIX=str(LOCAL / "pycache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(env: dict[str, str]) -> None:
    """Import what the phases and `airflow dags test` import once, so the bytecode cache is filled."""
    started = time.monotonic()
    code = ("import airflow.sdk, pandas, sqlalchemy, simple_salesforce, psycopg; "
            "import salesforce_elt.engine.transform, salesforce_elt.engine.load, salesforce_elt.airflow.hooks.bulk2, "
            "salesforce_elt.airflow.dag_factory, airflow.cli.cli_parser")
    subprocess.run([PYTHON, "-c", code], env=env, cwd=ENGINE, check=True, capture_output=True)
    log(f"imports warmed up in {time.monotonic() - started:.0f} s")


def migrate_warehouse(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "-m", "alembic", "upgrade", "head"], env=env, cwd=ENGINE, check=True,
                   capture_output=True)


def reset_engine_table(url: str) -> None:
    """An empty target and no high-water mark: the next sync is a first, full load."""
    import psycopg
    from psycopg import sql

    from salesforce_elt.engine.load import qualified
    from salesforce_elt.engine.registry import get_object

    table = qualified(get_object(OBJECT).table)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(table))
        conn.execute(sql.SQL("DELETE FROM {} WHERE object_name = %s").format(qualified("sync_state")), (OBJECT,))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        conn.execute("CHECKPOINT")


def checkpoint(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def high_water_mark(url: str) -> dt.datetime:
    import psycopg

    from salesforce_elt.engine.state import get_high_water_mark

    with psycopg.connect(url) as conn:
        row = get_high_water_mark(OBJECT, conn=conn)
    if row is None:
        raise BenchError("no high-water mark after the full sync")
    return row


# ---- the bench venv (dlt) -------------------------------------------------------------------------
def bench_python() -> str:
    """.local/bench-venv with requirements-bench.txt, (re)built when the lock changes."""
    lock = ROOT / "requirements-bench.txt"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    stamp = BENCH_VENV / f".installed-{digest}"
    python = BENCH_VENV / "bin" / "python"
    if stamp.exists() and python.exists():
        return str(python)
    log(f"creating {BENCH_VENV} from {lock.name} ...")
    base = shutil.which("python3.11") or sys.executable
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    uv = ROOT / ".venv" / "bin" / "uv"
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "-r", str(lock)], check=True)
    for old in BENCH_VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return str(python)


# ---- scenarios ------------------------------------------------------------------------------------
def scenario_a(contacts: int, env: dict[str, str], url: str, info: dict[str, Any], args) -> dict[str, Any]:
    label = f"{contacts}"
    work = LOCAL / "work" / label
    shutil.rmtree(work, ignore_errors=True)
    raw, typed = work / "raw", work / "typed"
    typed.mkdir(parents=True)
    out: dict[str, Any] = {}
    reset_engine_table(url)
    started_at = dt.datetime.now(dt.UTC)
    out["extract"] = phase("extract", {"object": OBJECT, "raw_dir": str(raw)}, env, label)
    files = out["extract"]["files"]
    copy = {"object": OBJECT, "url": url, "raw_dir": str(raw), "files": files}
    # The machine is shared: the database-bound phases and their COPY yardsticks run in
    # interleaved rounds and the fastest of each counts (all times are kept in the JSON).
    rounds: dict[str, list[dict[str, Any]]] = {}
    for n in range(args.repeat):
        tag = f"{label}-r{n}" if args.repeat > 1 else label
        t = phase("transform", {"object": OBJECT, "raw_dir": str(raw), "files": files, "typed_dir": str(typed)},
                  env, tag)
        reset_engine_table(url)
        load = phase("load", {"object": OBJECT, "typed_dir": str(typed), "files": t["files"],
                              "columns": t["columns"], "expected_rows": t["rows"],
                              "run_id": f"bench-full-{contacts}-{started_at:%Y%m%dT%H%M%S}-{n}",
                              "window_end": started_at.isoformat()}, env, tag)
        checkpoint(url)
        unlogged = phase("copy_raw", {**copy, "table": "public.bench_copy_unlogged", "unlogged": True,
                                      "indexes": False}, env, tag, "copy_unlogged")
        target = phase("copy_raw", {**copy, "table": "public.bench_copy_target", "unlogged": False,
                                    "indexes": True}, env, tag, "copy_target")
        typed_copy = phase("copy_typed", {"object": OBJECT, "url": url, "typed_dir": str(typed),
                                          "files": t["files"], "columns": t["columns"],
                                          "table": "public.bench_copy_typed"}, env, tag)
        for key, result in (("transform", t), ("load", load), ("copy_unlogged", unlogged),
                            ("copy_target", target), ("copy_typed", typed_copy)):
            rounds.setdefault(key, []).append(result)
    for key, results in rounds.items():
        out[key] = {**min(results, key=lambda r: r["seconds"]), "rounds_seconds": [r["seconds"] for r in results]}
    if not args.skip_handwritten:
        checkpoint(url)
        log(f"{label}: hand-written (simple-salesforce + pandas + SQLAlchemy) ...")
        hw_args = {"object": OBJECT, "url": url, "schema": "bench_handwritten", "connection_info": info,
                   "work_dir": str(work)}
        out["handwritten"] = run_child([PYTHON, str(BENCH / "handwritten.py"), json.dumps(hw_args)], env,
                                       f"{label}-handwritten")
        log(f"{label}: hand-written {out['handwritten']['rows']} rows in {out['handwritten']['seconds']:.1f} s")
    if not args.skip_dlt:
        out["dlt"] = run_dlt(contacts, env, url, info, work)
    if not args.skip_e2e:
        out["e2e"] = run_e2e(contacts, env, url)
    return out


def run_dlt(contacts: int, env: dict[str, str], url: str, info: dict[str, Any], work: Path) -> dict[str, Any]:
    import psycopg
    from tables import raw_columns

    from salesforce_elt.engine.registry import get_object
    from salesforce_elt.engine.soql import build_spec_select

    python = bench_python()
    spec = get_object(OBJECT)
    dataset = "bench_dlt"
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in (dataset, f"{dataset}_staging"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute("CHECKPOINT")
    pipelines = work / "dlt-pipelines"
    shutil.rmtree(pipelines, ignore_errors=True)
    # dlt requires a password in its Postgres credentials; the embedded server trusts local users.
    dlt_url = url if "@" not in url or ":" in url.split("://", 1)[1].split("@")[0] else url.replace("@", ":bench@", 1)
    dlt_args = {
        "object": OBJECT, "soql": build_spec_select(spec), "url": dlt_url, "dataset": dataset,
        "connection_info": info, "pipelines_dir": str(pipelines),
        "kinds": {c.sf_name: c.kind for c in raw_columns(spec)},
    }
    log(f"{contacts}: dlt (merge on Id) ...")
    result = run_child([python, str(BENCH / "dlt_baseline.py"), json.dumps(dlt_args)],
                       {**env, "RUNTIME__DLTHUB_TELEMETRY": "false"}, f"{contacts}-dlt")
    log(f"{contacts}: dlt {result['rows']} rows in {result['seconds']:.1f} s")
    return result


def run_e2e(contacts: int, env: dict[str, str], url: str) -> dict[str, Any]:
    """The DAG once through `airflow dags test` on an empty table: wall time and per-task times."""
    home = Path(env["AIRFLOW_HOME"])
    log("airflow db migrate ...")
    subprocess.run([PYTHON, "-m", "airflow", "db", "migrate"], env=env, cwd=ENGINE, check=True, capture_output=True)
    reset_engine_table(url)
    log(f"{contacts}: airflow dags test {DAG_ID} ...")
    result = run_child([PYTHON, "-m", "airflow", "dags", "test", DAG_ID], env, f"{contacts}-e2e")
    result["seconds"] = result["wall_seconds"]
    result["tasks"] = _task_times(home / "airflow.db")
    result.update(_last_sync_run(url))
    log(f"{contacts}: airflow dags test in {result['seconds']:.1f} s; tasks {result['tasks']}")
    return result


def _task_times(db: Path) -> dict[str, float | None]:
    with sqlite3.connect(db) as conn:
        run_id = conn.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                              (DAG_ID,)).fetchone()
        if not run_id:
            return {}
        rows = conn.execute("SELECT task_id, state, duration FROM task_instance WHERE dag_id = ? AND run_id = ?",
                            (DAG_ID, run_id[0])).fetchall()
    return {task: (round(duration, 3) if duration is not None else None) for task, _state, duration in rows}


def _last_sync_run(url: str) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    from salesforce_elt.engine.load import qualified

    query = sql.SQL(
        "SELECT status, rows_extracted, new_records, updated_records, deleted_records, seconds_extract, "
        "seconds_transform, seconds_load FROM {} WHERE dag_id = %s ORDER BY id DESC LIMIT 1"
    ).format(qualified("sync_runs"))
    with psycopg.connect(url) as conn:
        row = conn.execute(query, (DAG_ID,)).fetchone()
    if not row:
        return {"sync_run": None}
    keys = ("status", "rows_extracted", "new", "updated", "deleted", "seconds_extract", "seconds_transform",
            "seconds_load")
    sync_run = dict(zip(keys, row, strict=True))
    return {"sync_run": sync_run, "rows": sync_run["rows_extracted"]}


def scenario_b(contacts: int, env: dict[str, str], url: str, server) -> dict[str, Any]:
    from salesforce_elt.engine.registry import get_object

    spec = get_object(OBJECT)
    label = f"{contacts}-incr"
    work = LOCAL / "work" / label
    shutil.rmtree(work, ignore_errors=True)
    raw, typed = work / "raw", work / "typed"
    typed.mkdir(parents=True)
    started = time.monotonic()
    changed = server.org.mutate(OBJECT, **CHANGES)
    log(f"{label}: mutated the org in {time.monotonic() - started:.1f} s: "
        + ", ".join(f"{k} {len(v)}" for k, v in changed.items()))
    # The /deleted feed covers whole minutes only (as Salesforce's): let the minute of the
    # changes close, so the window sees the hard deletes too. Not counted in the task time.
    time.sleep(61 - dt.datetime.now(dt.UTC).second)
    start = high_water_mark(url) - spec.lookback
    end = dt.datetime.now(dt.UTC)
    out: dict[str, Any] = {"changes": {k: len(v) for k, v in changed.items()}}
    deleted_file = work / "deleted.csv"
    out["extract"] = phase("extract", {"object": OBJECT, "raw_dir": str(raw), "start": start.isoformat(),
                                       "end": end.isoformat(), "deleted_file": str(deleted_file)}, env, label)
    files = out["extract"]["files"]
    out["transform"] = phase("transform", {"object": OBJECT, "raw_dir": str(raw), "files": files,
                                           "typed_dir": str(typed)}, env, label)
    t = out["transform"]
    out["load"] = phase("load", {"object": OBJECT, "typed_dir": str(typed), "files": t["files"],
                                 "columns": t["columns"], "expected_rows": t["rows"],
                                 "run_id": f"bench-incr-{contacts}-{end:%Y%m%dT%H%M%S}",
                                 "window_end": end.isoformat(), "deleted_file": str(deleted_file)}, env, label)
    out["task_seconds"] = sum(out[p]["seconds"] for p in ("extract", "transform", "load"))
    log(f"{label}: incremental window task time {out['task_seconds']:.2f} s")
    return out


def bench_size(contacts: int, args) -> dict[str, Any]:
    from embedded_stack.postgres import EmbeddedPostgres
    from salesforce_emulator.server import EmulatorServer

    if args.incremental_only:  # the org and the table a previous full run left behind
        org_dir = LOCAL / "run" / f"contacts-{contacts}"
        if not (org_dir / "org.sqlite").exists():
            raise BenchError(f"--incremental-only: no org at {org_dir}; run a full benchmark of {contacts} first")
    else:
        org_dir = prepared_org(contacts)
    postgres = EmbeddedPostgres(LOCAL / "pgdata").start()
    try:
        # bulk_delay 0: Salesforce's own job processing time is not what this measures.
        with EmulatorServer(org_dir, contacts=contacts, seed=SEED, bulk_delay=0.0,
                            daily_api_limit=1_000_000) as server:
            info = server.connection_info
            env = child_env(info, postgres.url)
            warm_up(env)
            migrate_warehouse(env)
            result: dict[str, Any] = {"contacts": contacts}
            if args.network:
                result["network"] = network.scenario(sys.modules[__name__], contacts, env, postgres.url, info,
                                                     server, args)
                return result
            result["full"] = {} if args.incremental_only else scenario_a(contacts, env, postgres.url, info, args)
            if not args.skip_incremental:
                result["incremental"] = scenario_b(contacts, env, postgres.url, server)
            return result
    finally:
        postgres.stop()


SNAPSHOT_PARTS = ("plugins", "sql", "dags", "migrations", "embedded_stack", "salesforce_emulator", "alembic.ini")


def snapshot_engine() -> Path:
    """Copy the engine, its SQL, DAGs, migrations and the emulator to .local/bench/engine."""
    target = LOCAL / "engine"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in SNAPSHOT_PARTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def main() -> int:
    if "BENCH_ENGINE_SNAPSHOT" not in os.environ and "--report" not in sys.argv:
        # Run again on a snapshot of the engine: every phase then imports the same code.
        snapshot = snapshot_engine()
        env = {**os.environ, "BENCH_ENGINE_SNAPSHOT": str(snapshot),
               "PYTHONPATH": os.pathsep.join([str(snapshot), str(snapshot / "plugins")])}
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated contact counts")
    ap.add_argument("--quick", action="store_true", help="a 20,000-contact smoke run")
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true", help="skip `airflow dags test`")
    ap.add_argument("--skip-handwritten", action="store_true")
    ap.add_argument("--skip-incremental", action="store_true")
    ap.add_argument("--incremental-only", action="store_true",
                    help="only Scenario B, on the org and table the last full run of that size left")
    ap.add_argument("--repeat", type=int, default=2,
                    help="rounds of transform, load and the COPY baselines; the fastest counts (default 2)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile every phase (slower); top 30 in .local/bench/profiles/")
    ap.add_argument("--output", help="JSON result file (default bench/results/<date>.json)")
    ap.add_argument("--report", metavar="JSON", help="only print the Markdown of an earlier result file")
    network.add_arguments(ap)
    args = ap.parse_args()
    if args.report:
        document = json.loads(Path(args.report).read_text(encoding="utf-8"))
        if document.get("options", {}).get("network"):
            print(network.markdown(document))
            return 0
        document["targets"] = evaluate_targets(document["sizes"])
        print(markdown(document))
        return 0
    sizes = [20_000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes:
        ap.error("--sizes needs at least one size")
    if args.profile:
        profiles = LOCAL / "profiles"
        profiles.mkdir(parents=True, exist_ok=True)
        os.environ["BENCH_PROFILE_DIR"] = str(profiles)
    LOCAL.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    results: list[dict[str, Any]] = []
    prefix = "network-" if args.network else ""
    output = Path(args.output) if args.output else RESULTS / f"{prefix}{started.date().isoformat()}.json"
    load_before = os.getloadavg()
    for contacts in sizes:
        log(f"=== {contacts:,} contacts (load average {os.getloadavg()[0]:.1f}) ===")
        results.append(bench_size(contacts, args))
        document = write_document(output, started, args, results, load_before)
    print()
    print(network.markdown(document) if args.network else markdown(document))
    log(f"results written to {output}")
    return 0


def write_document(
    output: Path, started: dt.datetime, args, results: list[dict[str, Any]], load_before: tuple[float, ...]
) -> dict[str, Any]:
    """The result file, rewritten after every size so an interrupted run keeps what it measured."""
    document = {
        "date": started.date().isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            # The machine is shared: its load average says how noisy the numbers are.
            "load_average_start": [round(x, 2) for x in load_before],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
        "options": {k: v for k, v in vars(args).items() if k != "output"},
        "sizes": results,
    }
    if args.network:
        network.write(output, document)
        return document
    document["targets"] = evaluate_targets(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
    return document


if __name__ == "__main__":
    sys.exit(main())
