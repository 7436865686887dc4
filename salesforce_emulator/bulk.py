"""Bulk API 2.0 query jobs: lifecycle, CSV materialization on disk, result pages by locator.

A job's result is written once, at completion, by the data layer's `QueryCursor.write_csv`
straight to DIR/bulk/<job>.csv (never through Python lists). A row index DIR/bulk/<job>.idx
(little-endian uint64 byte offsets: start of each data row, then end of file) lets any page
be served from disk: header bytes + one byte range. Locators encode a row number, so they
stay valid and a page can be fetched again while the job exists.

Parallel results (GET .../resultPages, API 58.0+, "Get Parallel Results for a Query Job"): the
server, not the client, splits the result into pages of `parallel_page_records` rows; each
resultUrl's locator encodes its page's first and end rows. Up to five resultUrls per answer,
`nextRecordsUrl` for the rest.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from salesforce_emulator.errors import SalesforceError
from salesforce_emulator.wire import WireFormat

log = logging.getLogger(__name__)

_ALNUM = string.ascii_letters + string.digits
TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")
DAILY_JOB_MAX = 10_000
DAILY_STORAGE_MB_MAX = 1_048_576  # 1 TB of results per rolling 24 h
# Salesforce picks a page size itself when maxRecords is absent; the emulator serves the
# whole result up to this cap, which keeps clients that ignore Sforce-Locator honest for
# small results and still pages the largest ones.
DEFAULT_MAX_RECORDS = 1_000_000
# Rows per resultUrl of the parallel results resource (the server's choice there; settable on
# BulkJobs.parallel_page_records, fixed per job when it completes).
PARALLEL_PAGE_RECORDS = 50_000
RESULT_PAGES_PER_ANSWER = 5  # "Returns up to five URIs in one response"
RESULT_PAGES_MIN_VERSION = 58.0
_CHUNK = 1 << 20


def sf_datetime(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}+0000"


def api_error(status: int, code: str, message: str) -> SalesforceError:
    return SalesforceError(status, code, message)


@dataclass
class Job:
    id: str
    operation: str
    query: str
    object_name: str
    api_version: str
    created_at: float
    created_by: str
    state: str = "UploadComplete"
    modified_at: float = 0.0
    error_message: str | None = None
    records: int = 0
    processing_ms: int = 0
    csv_path: Path | None = None
    idx_path: Path | None = None
    result_bytes: int = 0
    deleted: bool = False
    page_records: int = PARALLEL_PAGE_RECORDS

    def info(self, *, full: bool) -> dict:
        body = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object_name,
            "createdById": self.created_by,
            "createdDate": sf_datetime(self.created_at),
            "systemModstamp": sf_datetime(self.modified_at or self.created_at),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if full:
            body["jobType"] = "V2Query"
            body["numberRecordsProcessed"] = self.records
            body["retries"] = 0
            body["totalProcessingTime"] = self.processing_ms
            if self.error_message:
                body["errorMessage"] = self.error_message
        return body


@dataclass(frozen=True)
class ResultPage:
    csv_path: Path
    header_end: int
    start: int
    end: int
    records: int
    next_locator: str  # "null" on the last page

    @property
    def length(self) -> int:
        return self.header_end + (self.end - self.start)


def build_row_index(csv_path: Path, idx_path: Path) -> tuple[int, int]:
    """Write the byte offset where each CSV row ends (quote-aware); return (data rows, size).

    The first offset is the end of the header row, i.e. the start of data row 0.
    """
    in_quotes = False
    pos = 0
    with csv_path.open("rb") as src, idx_path.open("wb") as out:
        while chunk := src.read(_CHUNK):
            arr = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(arr == 34)
            newlines = np.flatnonzero(arr == 10)
            # Parity of quotes before each newline (plus the state carried in) says whether
            # the newline is inside a quoted field; doubled quotes cancel out.
            before = np.searchsorted(quotes, newlines)
            outside = ((before + int(in_quotes)) % 2) == 0
            (newlines[outside] + 1 + pos).astype("<u8").tofile(out)
            in_quotes = (len(quotes) + int(in_quotes)) % 2 == 1
            pos += len(chunk)
        size = pos
    offsets = idx_path.stat().st_size // 8
    if size and (offsets == 0 or _offset(idx_path, offsets - 1) != size):
        # No trailing newline: the last row ends at end of file.
        with idx_path.open("ab") as out:
            np.array([size], dtype="<u8").tofile(out)
        offsets += 1
    return max(offsets - 1, 0), size


def _offset(idx_path: Path, i: int) -> int:
    with idx_path.open("rb") as f:
        f.seek(i * 8)
        return int.from_bytes(f.read(8), "little")


def encode_locator(row: int, end: int | None = None) -> str:
    """A row number; a parallel page's locator also carries the row its page ends before."""
    raw = f"r{row}" if end is None else f"r{row}-{end}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_locator(locator: str) -> tuple[int, int | None]:
    try:
        raw = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode()
        if not raw.startswith("r"):
            raise ValueError(raw)
        row, _, end = raw[1:].partition("-")
        return int(row), (int(end) if end else None)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        # Salesforce's exact code for a bad locator is unverified; API_ERROR is its generic 400.
        raise api_error(400, "API_ERROR", f"Invalid locator: {locator}") from exc


class BulkJobs:
    def __init__(self, org, data_dir: Path, *, delay: float, faults, user_id: str,
                 wire: WireFormat | None = None) -> None:
        self._org = org
        self._wire = wire or WireFormat()
        self.dir = data_dir / "bulk"
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.iterdir():
            # Jobs live in memory; results of a previous run can never be fetched again.
            stale.unlink()
        self._delay = delay
        self._faults = faults
        self._user_id = user_id
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._created: deque[Job] = deque()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.parallel_page_records = PARALLEL_PAGE_RECORDS

    def close(self) -> None:
        """Stop job threads and remove every result file (jobs do not outlive the server)."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=5)
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            self._remove_files(job)

    # -- daily limits ------------------------------------------------------------------
    def _recent(self) -> list[Job]:
        cutoff = time.time() - 86_400
        with self._lock:
            while self._created and self._created[0].created_at < cutoff:
                self._created.popleft()
            return list(self._created)

    def jobs_remaining(self) -> int:
        return max(DAILY_JOB_MAX - len(self._recent()), 0)

    def storage_mb_remaining(self) -> int:
        used = sum(j.result_bytes for j in self._recent())
        return max(DAILY_STORAGE_MB_MAX - used // (1024 * 1024), 0)

    # -- lifecycle ---------------------------------------------------------------------
    def create(self, body: dict, api_version: str) -> Job:
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise api_error(400, "API_ERROR", f"Invalid operation: {operation!r}; expected query or queryAll")
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise api_error(400, "API_ERROR", "The query field is required")
        for key, allowed in (("contentType", "CSV"), ("columnDelimiter", "COMMA"), ("lineEnding", "LF")):
            value = body.get(key, allowed)
            if value != allowed:
                # The emulator writes only Salesforce's default CSV dialect.
                raise api_error(400, "API_ERROR", f"Unsupported {key} {value!r}: the emulator supports {allowed}")
        if self.jobs_remaining() <= 0:
            raise api_error(400, "LIMIT_EXCEEDED", "Max bulk v2 query jobs per 24 hrs exceeded")
        # Validated now, in the request, so a bad query fails the POST as in Salesforce. The
        # cursor holds its read snapshot, so the result is the org as of job creation.
        cursor = self._org.query(query, include_deleted=operation == "queryAll", api="bulk")
        now = time.time()
        job = Job(
            id="750" + "".join(secrets.choice(_ALNUM) for _ in range(15)),
            operation=operation,
            query=query,
            object_name=cursor.object_name,
            api_version=api_version,
            created_at=now,
            modified_at=now,
            created_by=self._user_id,
        )
        thread = threading.Thread(target=self._run, args=(job, cursor), name=f"bulk-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            self._created.append(job)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def _set_state(self, job: Job, state: str, *, only_from: tuple[str, ...]) -> bool:
        with self._lock:
            if job.state not in only_from or job.deleted:
                return False
            job.state = state
            job.modified_at = time.time()
            return True

    def _run(self, job: Job, cursor) -> None:
        started = time.monotonic()
        if self._stop.wait(self._delay / 2) or not self._set_state(job, "InProgress", only_from=("UploadComplete",)):
            cursor.close()
            return
        error = None
        if self._faults.take_bulk_failure():
            cursor.close()
            error = "InternalServerError: Retried more than 15 times"
        else:
            try:
                self._materialize(job, cursor)
            except SalesforceError as exc:
                error = exc.message
            except Exception:  # the job must end Failed, not hang InProgress
                log.exception("bulk job %s failed", job.id)
                error = "InternalServerError"
        remaining = self._delay - (time.monotonic() - started)
        if remaining > 0 and self._stop.wait(remaining):
            return
        job.processing_ms = int((time.monotonic() - started) * 1000)
        with self._lock:
            if job.state != "InProgress" or job.deleted:
                self._remove_files(job)
                return
            job.state = "Failed" if error else "JobComplete"
            job.error_message = error
            job.modified_at = time.time()

    def _materialize(self, job: Job, cursor) -> None:
        csv_path = self.dir / f"{job.id}.csv"
        idx_path = self.dir / f"{job.id}.idx"
        job.csv_path, job.idx_path = csv_path, idx_path
        with csv_path.open("wb") as out:
            cursor.write_csv(out, quote_all=self._wire.quote_all, java_doubles=self._wire.java_doubles)
        job.records, job.result_bytes = build_row_index(csv_path, idx_path)
        job.page_records = max(int(self.parallel_page_records), 1)

    @staticmethod
    def _remove_files(job: Job) -> None:
        for path in (job.csv_path, job.idx_path):
            if path is not None:
                path.unlink(missing_ok=True)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at)

    def abort(self, job_id: str, body: dict) -> Job:
        job = self.get(job_id)
        if body.get("state") != "Aborted":
            raise api_error(400, "API_ERROR", f"Invalid state for a query job: {body.get('state')!r}; only Aborted")
        if not self._set_state(job, "Aborted", only_from=("UploadComplete", "InProgress")):
            # Salesforce's code for aborting a finished job is unverified; API_ERROR is its generic 400.
            raise api_error(400, "API_ERROR", f"Job {job_id} is in state {job.state} and cannot be aborted")
        return job

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with self._lock:
            if job.state not in TERMINAL_STATES:
                raise api_error(400, "API_ERROR", f"Job {job_id} is in state {job.state}; only finished jobs can be deleted")
            job.deleted = True
            del self._jobs[job_id]
        self._remove_files(job)

    def _complete(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state != "JobComplete":
            # 412 for every unfinished state (Aborted/Failed jobs never get results either).
            raise api_error(412, "JOB_NOT_COMPLETE", f"Job {job_id} is in state {job.state}; results are not available")
        return job

    def result_pages(self, job_id: str, version: str, *, locator: str | None) -> dict:
        """One answer of GET .../resultPages: up to five resultUrls from the page at ``locator``."""
        if float(version) < RESULT_PAGES_MIN_VERSION:
            # The resource does not exist before API 58.0.
            raise api_error(404, "NOT_FOUND", "The requested resource does not exist")
        job = self._complete(job_id)
        if version != job.api_version:
            # "use the same API version that you used to create the query. Otherwise, the call
            # returns a 409 error" (error code unverified).
            raise api_error(409, "API_ERROR", f"Job {job_id} was created with API version {job.api_version}")
        size, total = job.page_records, job.records
        first = decode_locator(locator)[0] if locator not in (None, "", "null") else 0
        if first < 0 or first % size or (total and first >= total) or (not total and first):
            raise api_error(400, "API_ERROR", f"Invalid locator: {locator}")
        base = f"/services/data/v{version}/jobs/query/{job_id}"
        # An empty result has no pages: the harder case for a client (nothing to fetch in parallel).
        starts = list(range(first, total, size))[:RESULT_PAGES_PER_ANSWER]
        urls = [{"resultUrl": f"{base}/results?locator={encode_locator(s, min(s + size, total))}"} for s in starts]
        after = starts[-1] + size if starts else total
        done = after >= total
        return {
            "resultPages": urls,
            "nextRecordsUrl": None if done else f"{base}/resultPages?locator={encode_locator(after)}",
            "done": done,
        }

    def page(self, job_id: str, *, max_records: str | None, locator: str | None,
             version: str | None = None) -> ResultPage:
        job = self._complete(job_id)
        if version is not None and version != job.api_version:
            # Get Results for a Query Job: "Use the same API version to get query results that you
            # used to create the query. Otherwise, the call returns a 409 error" (code unverified).
            raise api_error(409, "API_ERROR", f"Job {job_id} was created with API version {job.api_version}")
        if max_records in (None, ""):
            page_size = DEFAULT_MAX_RECORDS
        else:
            try:
                page_size = int(max_records)
            except ValueError:
                page_size = 0
            if page_size <= 0:
                raise api_error(400, "API_ERROR", f"maxRecords must be a positive integer, got {max_records!r}")
        row, page_end = decode_locator(locator) if locator not in (None, "", "null") else (0, None)
        total = job.records
        if not 0 <= row <= total or (row == total and total > 0):
            raise api_error(400, "API_ERROR", f"Invalid locator: {locator}")
        if page_end is not None and not row < page_end <= total:
            raise api_error(400, "API_ERROR", f"Invalid locator: {locator}")
        # A parallel page (resultUrl) ends where its locator says; its Sforce-Locator still points
        # at the rest of the result, so a client that follows it would fetch rows twice.
        if max_records not in (None, ""):  # maxRecords is a ceiling: short_bulk_pages stays under it at times
            page_size = self._wire.bulk_page_size(page_size, row)
        end_row = min(row + page_size, total if page_end is None else page_end)
        assert job.idx_path is not None and job.csv_path is not None
        if total == 0:
            # Only a header row (or nothing): the whole file is the page; with empty_bulk_body, an
            # empty body (whether Salesforce sends the header for no rows is unverified).
            header_end = start = end = 0 if self._wire.empty_bulk_body else job.result_bytes
        else:
            header_end = _offset(job.idx_path, 0)
            start = _offset(job.idx_path, row)
            end = _offset(job.idx_path, end_row)
        return ResultPage(
            csv_path=job.csv_path,
            header_end=header_end,
            start=start,
            end=end,
            records=end_row - row,
            next_locator=encode_locator(end_row) if end_row < total else "null",
        )
