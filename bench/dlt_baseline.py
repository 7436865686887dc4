"""dlt baseline: a merge pipeline (primary_key "Id") from the emulator's Bulk 2.0 CSV into Postgres.

    .local/bench-venv/bin/python bench/dlt_baseline.py JSON_ARGS      (run by bench/run.py)

Runs in its own venv (requirements-bench.txt): dlt's pins stay out of the project's lock. The
resource reads the same Bulk 2.0 query job as the engine, through simple-salesforce's
``sf.bulk2.<Object>.query`` (one CSV page of 50,000 rows at a time), converts booleans and
numbers and leaves dates and timestamps to dlt's coercion (column hints), so dlt gets typed rows
as its verified Salesforce source would give it. dlt then normalizes and loads with its
defaults (``insert_values`` files for Postgres) into its own dataset, merge disposition.
Prints ``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# The engine snapshot bench/run.py measures (the checkout when run by hand), for the emulator's client.
ROOT = Path(os.environ.get("BENCH_ENGINE_SNAPSHOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))

HINTS = {"boolean": "bool", "date": "date", "datetime": "timestamp", "double": "double", "integer": "bigint"}


def _client(info: dict[str, Any]):
    # Only requests and simple-salesforce, both in this venv: the same client as the other readers.
    from salesforce_emulator.client import simple_salesforce_client

    return simple_salesforce_client(info)


def _converters(kinds: dict[str, str]) -> dict[str, Any]:
    booleans = {"true": True, "false": False}
    table = {"boolean": booleans.get, "double": float, "integer": int}
    return {name: table[kind] for name, kind in kinds.items() if kind in table}


def run(args: dict[str, Any]) -> dict[str, Any]:
    import dlt

    kinds: dict[str, str] = args["kinds"]  # raw column -> text | boolean | date | datetime | double
    converters = _converters(kinds)
    hints = {name: {"data_type": HINTS[kind]} for name, kind in kinds.items() if kind in HINTS}
    sf = _client(args["connection_info"])
    pages: list[int] = []

    @dlt.resource(name=args["object"].lower(), write_disposition="merge", primary_key="Id", columns=hints)
    def records():
        for page in getattr(sf.bulk2, args["object"]).query_all(
            args["soql"], max_records=args.get("max_records", 50_000), wait=0.5
        ):
            rows = []
            for row in csv.DictReader(io.StringIO(page)):
                record = {}
                for name, value in row.items():
                    if value == "":
                        continue  # null
                    convert = converters.get(name)
                    record[name] = convert(value) if convert else value
                rows.append(record)
            pages.append(len(rows))
            yield rows

    pipeline = dlt.pipeline(
        pipeline_name="bench_salesforce",
        pipelines_dir=args["pipelines_dir"],
        destination=dlt.destinations.postgres(credentials=args["url"]),
        dataset_name=args["dataset"],
    )
    started = time.perf_counter()
    pipeline.extract(records())
    extracted = time.perf_counter()
    pipeline.normalize()
    normalized = time.perf_counter()
    pipeline.load()
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "seconds_extract": extracted - started,
        "seconds_normalize": normalized - extracted,
        "seconds_load": finished - normalized,
        "rows": sum(pages),
        "dlt_version": dlt.__version__,
    }


def vm_hwm_mb() -> float:
    """This process's peak resident set since exec (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no traffic beyond 127.0.0.1
    result = run(json.loads(sys.argv[1]))
    print("BENCH_RESULT " + json.dumps({**result, "vm_hwm_mb": vm_hwm_mb()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
