"""Benchmark the emulator's Bulk 2.0 path over HTTPS: job time and result download rates.

    .venv/bin/python bench/emulator_server_bench.py [--contacts 1000000] [--data-dir .local/bench-org]

The org is generated once and cached in the data dir. The server runs in its own process (as in
real use), so client and server do not share a GIL. Writes bench/results/emulator-server-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from salesforce_emulator.client import client_credentials_token  # noqa: E402

SOQL = (
    "SELECT Id, AccountId, FirstName, LastName, Email, Phone, Title, Department, Birthdate, "
    "MailingCity, MailingPostalCode, HasOptedOutOfEmail, CreatedDate, SystemModstamp FROM Contact"
)
PAGE = 50_000  # simple-salesforce's default maxRecords
REST_ROWS = 200_000


def _start_server(data_dir: Path, contacts: int) -> tuple[subprocess.Popen, dict, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "salesforce_emulator", "serve", "--data-dir", str(data_dir),
         "--contacts", str(contacts), "--bulk-delay", "0"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"emulator did not start (exit {process.wait()})")
    return process, json.loads(line), time.monotonic() - started


def _create_and_wait(session: requests.Session, jobs_url: str, headers: dict) -> tuple[str, float, int]:
    started = time.monotonic()
    job = session.post(jobs_url, json={"operation": "query", "query": SOQL}, headers=headers)
    job.raise_for_status()
    job_id = job.json()["id"]
    while True:
        info = session.get(f"{jobs_url}/{job_id}", headers=headers).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            break
        time.sleep(0.05)
    if info["state"] != "JobComplete":
        raise SystemExit(f"job ended {info}")
    return job_id, time.monotonic() - started, info["numberRecordsProcessed"]


def _raw_download(session, jobs_url, headers, job_id, encoding: str) -> dict:
    started = time.monotonic()
    total_bytes = rows = pages = 0
    locator = None
    while True:
        params = {"maxRecords": PAGE, **({"locator": locator} if locator else {})}
        with session.get(f"{jobs_url}/{job_id}/results", params=params, stream=True,
                         headers={**headers, "Accept": "text/csv", "Accept-Encoding": encoding}) as response:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=1 << 20):
                total_bytes += len(chunk)
            rows += int(response.headers["Sforce-NumberOfRecords"])
            locator = response.headers["Sforce-Locator"]
        pages += 1
        if locator == "null":
            break
    seconds = time.monotonic() - started
    return _rates(seconds, total_bytes, rows) | {"pages": pages, "accept_encoding": encoding}


def _rates(seconds: float, total_bytes: int, rows: int) -> dict:
    return {
        "seconds": round(seconds, 3),
        "rows": rows,
        "bytes": total_bytes,
        "mb_per_s": round(total_bytes / 1e6 / seconds, 2),
        "rows_per_s": round(rows / seconds),
    }


def _simple_salesforce_download(sf: Salesforce, job_id: str, out_dir: Path) -> dict:
    """simple-salesforce's own paged download of an existing job (its 1 KiB chunk size included)."""
    client = sf.bulk2.Contact._client
    started = time.monotonic()
    rows, locator, files = 0, "", []
    while True:
        result = client.download_job_data(str(out_dir), job_id, locator, PAGE)
        rows += result["number_of_records"]
        files.append(Path(result["file"]))
        locator = result["locator"]
        if not locator:
            break
    seconds = time.monotonic() - started
    return _rates(seconds, sum(f.stat().st_size for f in files), rows) | {"pages": len(files)}


def _rest_query_all_iter(sf: Salesforce) -> dict:
    """REST paging (2000-row pages) through simple-salesforce, first page latency included."""
    soql = SOQL + f" LIMIT {REST_ROWS}"
    started = time.monotonic()
    first = sf.query(soql)
    first_page = time.monotonic() - started
    rows = len(first["records"])
    result = first
    while not result["done"]:
        result = sf.query_more(result["nextRecordsUrl"], identifier_is_url=True)
        rows += len(result["records"])
    seconds = time.monotonic() - started
    return {"soql_limit": REST_ROWS, "first_page_seconds": round(first_page, 3), "seconds": round(seconds, 3),
            "rows": rows, "rows_per_s": round(rows / seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local" / "bench-org")
    args = parser.parse_args()
    data_dir = args.data_dir / f"contacts-{args.contacts}"
    process, info, startup = _start_server(data_dir, args.contacts)
    try:
        session = requests.Session()
        session.verify, session.trust_env = info["ca_file"], False
        token = client_credentials_token(info, session)
        headers = {"Authorization": f"Bearer {token}"}
        jobs_url = f"{info['instance_url']}/services/data/v59.0/jobs/query"
        sf = Salesforce(instance_url=info["instance_url"], session_id=token, session=session)

        job_id, job_seconds, records = _create_and_wait(session, jobs_url, headers)
        raw_identity = _raw_download(session, jobs_url, headers, job_id, "identity")
        raw_gzip = _raw_download(session, jobs_url, headers, job_id, "gzip")
        with tempfile.TemporaryDirectory() as tmp:
            ssf = _simple_salesforce_download(sf, job_id, Path(tmp))
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            results = sf.bulk2.Contact.download(SOQL, path=tmp, max_records=PAGE, wait=0.1)
            end_to_end = {
                "seconds": round(time.monotonic() - started, 3),
                "rows": sum(r["number_of_records"] for r in results),
            }
        rest = _rest_query_all_iter(sf)
        report = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "contacts": args.contacts,
            "soql": SOQL,
            "server_startup_seconds_incl_generation_if_uncached": round(startup, 2),
            "bulk_job_create_to_complete": {"seconds": round(job_seconds, 3), "records": records},
            "raw_requests_stream_identity": raw_identity,
            "raw_requests_stream_gzip": raw_gzip,
            "simple_salesforce_download_job_data": ssf,
            "simple_salesforce_bulk2_download_end_to_end": end_to_end,
            "page_size": PAGE,
            "rest_query_paging": rest,
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    out = ROOT / "bench" / "results" / f"emulator-server-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
