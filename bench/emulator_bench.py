"""Benchmark the emulator's data layer: org generation and a full Bulk-CSV write of Contact.

    .venv/bin/python bench/emulator_bench.py [--contacts 1000000] [--seed 42] [--profile]

Generates the org into a temporary directory (never reusing a cached file), then streams
``SELECT <all non-compound Contact fields> FROM Contact`` through ``QueryCursor.write_csv`` into a
null sink. Prints seconds and rows/s and writes bench/results/emulator-<date>.json.
Budget: generation of 1,000,000 contacts (plus activities) under 120 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from salesforce_emulator.store import Org, generate  # noqa: E402

BUDGET_SECONDS = 120


class NullSink(io.RawIOBase):
    """A binary sink that counts bytes (a /dev/null that still measures)."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.bytes += len(b)
        return len(b)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the activity generator)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", action="store_true", help="profile generation (cProfile, top 25)")
    ap.add_argument("--keep", help="generate into this directory instead of a temp dir")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as tmp:
        data_dir = Path(args.keep or tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        db = data_dir / "org.sqlite"
        db.unlink(missing_ok=True)
        prof = cProfile.Profile() if args.profile else None
        cpu0 = _cpu()
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        counts = generate(db, args.contacts, args.seed, progress=lambda m: print("  " + m, flush=True))
        if prof:
            prof.disable()
        gen_s = time.perf_counter() - t0
        gen_cpu = _cpu() - cpu0
        size_mb = db.stat().st_size / 2**20
        total_rows = sum(counts.values())
        print(f"generation: {gen_s:.1f} s for {total_rows:,} rows ({total_rows / gen_s:,.0f} rows/s), "
              f"{size_mb:,.0f} MB; CPU {gen_cpu:.1f} s (both processes); load average before {load0:.1f}; "
              f"counts {counts}")
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)

        org = Org.open(data_dir, contacts=args.contacts, seed=args.seed)
        fields = [f.name for f in org.schema().objects["Contact"].fields if not f.is_compound]
        soql = f"SELECT {', '.join(fields)} FROM Contact"  # noqa: S608 - SOQL for the emulator, not SQL
        t1 = time.perf_counter()
        cursor = org.query(soql, include_deleted=False, api="bulk")
        sink = NullSink()
        rows = cursor.write_csv(sink)
        csv_s = time.perf_counter() - t1
        print(f"write_csv: {rows:,} rows x {len(fields)} columns in {csv_s:.1f} s "
              f"({rows / csv_s:,.0f} rows/s, {sink.bytes / 2**20 / csv_s:,.1f} MB/s)")

        t2 = time.perf_counter()
        cursor = org.query("SELECT Id, Name, Account.Name, Owner.Name FROM Contact ORDER BY Id", include_deleted=False,
                           api="rest")
        n_rest = sum(1 for _ in cursor.records())
        rest_s = time.perf_counter() - t2
        print(f"records(): {n_rest:,} REST records with 2 parent paths in {rest_s:.1f} s ({n_rest / rest_s:,.0f}/s)")
        org.close()

    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "contacts": args.contacts,
        "seed": args.seed,
        "counts": counts,
        "generation_seconds": round(gen_s, 2),
        "generation_rows_per_second": round(total_rows / gen_s),
        "generation_budget_seconds": BUDGET_SECONDS,
        "generation_cpu_seconds": round(gen_cpu, 2),
        "load_average_before": round(load0, 2),
        "db_megabytes": round(size_mb, 1),
        "write_csv_rows": rows,
        "write_csv_columns": len(fields),
        "write_csv_seconds": round(csv_s, 2),
        "write_csv_rows_per_second": round(rows / csv_s),
        "write_csv_megabytes": round(sink.bytes / 2**20, 1),
        "rest_records": n_rest,
        "rest_records_seconds": round(rest_s, 2),
    }
    out = ROOT / "bench" / "results" / f"emulator-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if gen_s < BUDGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
