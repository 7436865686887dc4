"""The hand-written sync the project replaces: simple-salesforce Bulk 2.0 download, pandas, SQLAlchemy upserts.

    python bench/handwritten.py JSON_ARGS      (run by bench/run.py in a child process)

What a typical in-house service does: ``sf.bulk2.Contact.download(...)`` writes one CSV per
results page, each file is read with ``pandas.read_csv``, values are converted per column
(booleans, dates, timestamps), NaN becomes None and the rows are upserted with SQLAlchemy's
``insert(...).on_conflict_do_update(...)`` executed with executemany in batches of 1,000 rows
(SQLAlchemy 2 sends those as multi-row INSERTs). The table has the target's types, key and
indexes (bench/tables.py). One file at a time: memory stays bounded, as a careful service's would.
Prints ``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The engine snapshot bench/run.py measures (the checkout when run by hand).
ROOT = Path(os.environ.get("BENCH_ENGINE_SNAPSHOT") or Path(__file__).resolve().parents[1])
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(Path(__file__).resolve().parent)]

BATCH = 1000


def _client(info: dict[str, Any]):
    from salesforce_emulator.client import simple_salesforce_client

    return simple_salesforce_client(info)


def _table(spec, schema: str):
    import sqlalchemy as sa
    from tables import raw_columns

    kinds = {"boolean": sa.Boolean(), "date": sa.Date(), "datetime": sa.DateTime(timezone=True)}
    metadata = sa.MetaData(schema=schema)
    columns = [
        sa.Column(c.name, kinds.get(c.kind, sa.Text()), primary_key=c.sf_name == spec.primary_key)
        for c in raw_columns(spec)
    ]
    return sa.Table("contact", metadata, *columns)


def _frame_rows(path: str, renames: dict[str, str], kinds: dict[str, str]) -> list[dict[str, Any]]:
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    df = df.rename(columns=renames)
    for column, kind in kinds.items():
        if kind == "boolean":
            df[column] = df[column].map({"true": True, "false": False})
        elif kind == "datetime":
            df[column] = pd.to_datetime(df[column], utc=True)
        elif kind == "date":
            df[column] = pd.to_datetime(df[column]).dt.date
    df = df.astype(object).where(df.notna(), None)
    return df.to_dict("records")


def run(args: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd  # noqa: F401 - imported before the clock starts, like a running service
    import simple_salesforce  # noqa: F401
    import sqlalchemy as sa
    from simple_salesforce.bulk2 import ColumnDelimiter, LineEnding, Operation
    from sqlalchemy.dialects.postgresql import insert
    from tables import index_columns, raw_columns

    from salesforce_elt.engine.registry import get_object
    from salesforce_elt.engine.soql import build_spec_select

    spec = get_object(args["object"])
    schema = args["schema"]
    url = args["url"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    table = _table(spec, schema)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        table.metadata.create_all(conn)
        for name in index_columns(spec):
            sa.Index(f"ix_contact_{name}", table.c[name]).create(conn)
    cols = raw_columns(spec)
    renames = {c.sf_name: c.name for c in cols}
    kinds = {c.name: c.kind for c in cols if c.kind in ("boolean", "date", "datetime")}
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[spec.key_column],
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != spec.key_column},
    )
    started = time.perf_counter()
    sf = _client(args["connection_info"])
    with tempfile.TemporaryDirectory(dir=args["work_dir"]) as tmp:
        # The calls of ``sf.bulk2.Contact.download(...)``, one by one, so that the wait for
        # Salesforce's job processing (which every approach shares) is timed on its own.
        client = getattr(sf.bulk2, spec.name)._client
        job_id = client.create_job(Operation.query, build_spec_select(spec), ColumnDelimiter.COMMA, LineEnding.LF)["id"]
        client.wait_for_job(job_id, True, 0.5)
        job_done = time.perf_counter()
        results, locator = [], ""
        while True:
            result = client.download_job_data(tmp, job_id, locator, args.get("max_records", 50_000))
            results.append(result)
            if not (locator := result["locator"]):
                break
        downloaded = time.perf_counter()
        rows = 0
        for result in results:
            records = _frame_rows(result["file"], renames, kinds)
            with engine.begin() as conn:
                for i in range(0, len(records), BATCH):
                    conn.execute(stmt, records[i : i + BATCH])
            rows += len(records)
    finished = time.perf_counter()
    engine.dispose()
    return {
        "seconds": finished - started,
        "seconds_job": job_done - started,
        "seconds_download": downloaded - started,
        "seconds_pandas_upsert": finished - downloaded,
        "rows": rows,
    }


def vm_hwm_mb() -> float:
    """This process's peak resident set since exec (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    result = run(json.loads(sys.argv[1]))
    print("BENCH_RESULT " + json.dumps({**result, "vm_hwm_mb": vm_hwm_mb()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
