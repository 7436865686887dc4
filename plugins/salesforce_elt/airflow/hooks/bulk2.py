"""Bulk API 2.0 query jobs through the project's retrying request layer.

Not simple-salesforce's bulk2 client: it never refreshes an expired session and buffers result
pages in memory. Here each results page streams straight into its own part file.

Results download in parallel where the org offers it ("Get Parallel Results for a Query Job":
GET jobs/query/{id}/resultPages, API 58.0+): a bounded number of streams (``result_streams``,
the connection extra ``bulk_result_streams``, default 4), one part file per resultUrl, named
in the order Salesforce lists them. A single stream from a distant org is bandwidth-bound; the
streams add up. Without that resource (older API versions answer 404), with one stream or when
Salesforce lists a single page, the pages are read one after another by Sforce-Locator.
"""

from __future__ import annotations

import copy
import itertools
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import requests

from salesforce_elt.airflow.hooks.errors import SalesforceApiError
from salesforce_elt.airflow.hooks.oauth import _extra
from salesforce_elt.airflow.hooks.retry import Transient
from salesforce_elt.airflow.hooks.salesforce import TRANSIENT_EXCEPTIONS, SalesforceApiHook
from salesforce_elt.engine.staging import CsvRecordCounter, part_name

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

QueryOperation = Literal["query", "queryAll"]
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_CHUNK = 1 << 20
DEFAULT_RESULT_STREAMS = 4
# requests' connection pool keeps 10 connections per host; more streams would open and drop
# connections on every page.
MAX_RESULT_STREAMS = 10
STREAMS_EXTRA = "bulk_result_streams"


def _path_of(url: str) -> str:
    """The path and query of a URI Salesforce hands out (documented as relative; a full URL works too)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class SalesforceBulk2Hook(SalesforceApiHook):
    """Create, watch, download and clean up Bulk API 2.0 query jobs."""

    hook_name = "Salesforce Bulk API 2.0 (ELT)"

    def __init__(self, *args: Any, result_streams: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._result_streams = result_streams

    @cached_property
    def result_streams(self) -> int:
        """Concurrent results streams: the constructor's value, else the connection extra, else 4."""
        value: Any = self._result_streams
        source = "result_streams"
        if value is None:
            value = _extra(self.get_connection(self.conn_id).extra_dejson or {}, STREAMS_EXTRA)
            source = f"connection {self.conn_id!r}: extra {STREAMS_EXTRA}"
        if value is None:
            return DEFAULT_RESULT_STREAMS
        try:
            streams = int(value)
        except (TypeError, ValueError):
            streams = 0
        if not 1 <= streams <= MAX_RESULT_STREAMS or str(value).strip() != str(streams):
            raise SalesforceApiError(
                "INVALID_SETTING",
                f"{source}={value!r} must be a whole number from 1 to {MAX_RESULT_STREAMS} "
                "(1: download results pages one at a time)",
            )
        return streams

    def create_query_job(self, soql: str, operation: QueryOperation = "query") -> dict[str, Any]:
        """Create a job; raises BulkQueryNotSupportedError when Bulk 2.0 refuses the object or fields."""
        if operation not in ("query", "queryAll"):
            raise ValueError(f"Bulk 2.0 operation must be 'query' or 'queryAll', not {operation!r}")
        body = {
            "operation": operation,
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        job: dict[str, Any] = self.request("POST", "jobs/query", json=body).json()
        self.log.info("Created Bulk 2.0 %s job %s on %s", operation, job.get("id"), job.get("object"))
        return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.get_json(f"jobs/query/{job_id}")
        return job

    def abort_job(self, job_id: str) -> dict[str, Any]:
        """Abort a job that is still queued or running (Salesforce refuses for finished jobs)."""
        job: dict[str, Any] = self.request("PATCH", f"jobs/query/{job_id}", json={"state": "Aborted"}).json()
        return job

    def delete_job(self, job_id: str) -> None:
        self.request("DELETE", f"jobs/query/{job_id}", ok=(204,))

    def download_results(
        self,
        job_id: str,
        dest_dir: ObjectStoragePath,
        max_records: int = 50_000,
        *,
        start_part: int = 0,
        header: Sequence[str] | None = None,
        on_part: Callable[[str], None] | None = None,
    ) -> tuple[list[str], int]:
        """Stream every results page into ``dest_dir/part-NNNNN.csv``; returns (file names, records).

        Each page is checked against ``Sforce-NumberOfRecords``; a page whose connection breaks or
        whose count is short is fetched again from the same locator (locators stay valid while
        the job exists). ``header`` is written when Salesforce sends an empty body for no rows,
        so every part file starts with a header row. With more than one stream and a job that
        the parallel results resource splits into several pages, the pages are Salesforce's
        (``max_records`` does not apply) and are fetched concurrently, part files in resultUrl
        order; a single page gains nothing from streams and is read by locator as before.
        ``on_part(name)`` is called as each part file is complete and checked (from the stream's
        own thread when pages download in parallel).
        """
        dest_dir.mkdir(parents=True, exist_ok=True)
        first: tuple[list[str], bool] | None = None
        if self.result_streams > 1:
            answers = self._result_page_answers(job_id)
            first = next(answers, None)
        if first is not None and (len(first[0]) > 1 or (first[0] and not first[1])):
            # Pages start downloading while the next answers of resultPages are still asked for.
            batches = itertools.chain([first[0]], (urls for urls, _done in answers))
            files, records = self._download_parallel(batches, dest_dir, start_part, header, on_part)
        else:
            files, records = self._download_sequential(job_id, dest_dir, max_records, start_part, header, on_part)
        self.log.info("Bulk 2.0 job %s: %d records in %d file(s)", job_id, records, len(files))
        return files, records

    def result_page_urls(self, job_id: str) -> list[str] | None:
        """Every resultUrl of the job's parallel results, in order; None where the resource is missing.

        An empty list (a job without rows lists no pages) also means: read the job sequentially.
        """
        answers = list(self._result_page_answers(job_id))
        return None if not answers else [url for urls, _done in answers for url in urls]

    def _result_page_answers(self, job_id: str) -> Iterator[tuple[list[str], bool]]:
        """The resultUrls of each resultPages answer and its ``done``; nothing where the resource is missing."""
        path: str | None = f"jobs/query/{job_id}/resultPages"
        first = True
        while path:
            try:
                answer = self.get_json(path)
            except SalesforceApiError as exc:
                if exc.status == 404 and first:
                    # Before API 58.0 the resource does not exist: the locators still work.
                    self.log.info("Bulk 2.0 job %s: no parallel results (%s); reading pages in turn", job_id, exc)
                    return
                raise
            first = False
            pages = answer.get("resultPages")
            if not isinstance(pages, list) or any(not isinstance(p, dict) or not p.get("resultUrl") for p in pages):
                raise SalesforceApiError(
                    "UNEXPECTED_RESPONSE", "resultPages answer without a list of resultUrl", 200, path
                )
            following = None if answer.get("done", True) else answer.get("nextRecordsUrl")
            yield [_path_of(p["resultUrl"]) for p in pages], following is None
            path = _path_of(following) if following else None

    def _download_sequential(
        self,
        job_id: str,
        dest_dir: ObjectStoragePath,
        max_records: int,
        start_part: int,
        header: Sequence[str] | None,
        on_part: Callable[[str], None] | None = None,
    ) -> tuple[list[str], int]:
        files: list[str] = []
        records = 0
        locator: str | None = None
        part = start_part
        path = f"jobs/query/{job_id}/results"
        while True:
            name = part_name(part)
            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            rows, locator = self._download_page(path, params, dest_dir / name, header)
            if on_part is not None:
                on_part(name)
            files.append(name)
            records += rows
            part += 1
            if not locator or locator == "null":
                break
        return files, records

    def _download_parallel(
        self,
        batches: Iterable[list[str]],
        dest_dir: ObjectStoragePath,
        start_part: int,
        header: Sequence[str] | None,
        on_part: Callable[[str], None] | None = None,
    ) -> tuple[list[str], int]:
        streams = self.result_streams
        workers = [self._stream_worker() for _ in range(streams)]
        idle: queue.SimpleQueue[SalesforceBulk2Hook] = queue.SimpleQueue()
        for worker in workers:
            idle.put(worker)

        def fetch(url: str, name: str) -> int:
            worker = idle.get()
            try:
                rows = worker._download_page(url, None, dest_dir / name, header)[0]
            finally:
                idle.put(worker)
            if on_part is not None:
                on_part(name)
            return rows

        names: list[str] = []
        futures: list[Future[int]] = []
        try:
            with ThreadPoolExecutor(max_workers=streams, thread_name_prefix="bulk-results") as pool:
                try:
                    for urls in batches:
                        for url in urls:
                            names.append(part_name(start_part + len(names)))
                            futures.append(pool.submit(fetch, url, names[-1]))
                        if any(f.done() and f.exception() is not None for f in futures):
                            break
                    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                    failed = next((f for f in futures if f in done and f.exception() is not None), None)
                    if failed is not None:
                        raise failed.exception()  # type: ignore[misc]
                except BaseException:
                    # Pages not started yet are dropped; the ones streaming finish or fail on their own.
                    for future in futures:
                        future.cancel()
                    raise
                records = sum(future.result() for future in futures)
        finally:
            self._absorb(workers)
        return names, records

    def _stream_worker(self) -> SalesforceBulk2Hook:
        """A copy of this hook for one results stream: the same login and settings, its own HTTP
        session (connection pool), counters and call log, so no state is shared between threads."""
        worker = copy.copy(self)
        worker.api_calls, worker.calls_dropped = 0, 0
        worker.call_log = deque(maxlen=self.call_log.maxlen)
        session = requests.Session()
        session.verify, session.trust_env, session.cert = self.http.verify, self.http.trust_env, self.http.cert
        session.proxies.update(self.http.proxies)
        worker.__dict__["http"] = session
        return worker

    def _absorb(self, workers: list[SalesforceBulk2Hook]) -> None:
        """Fold the streams' calls, usage and any newer login back into this hook."""
        for worker in workers:
            self.api_calls += worker.api_calls
            self.calls_dropped += worker.calls_dropped
            if worker._token is not self._token and worker._token is not None:
                self._token = worker._token  # a stream logged in again: the old session is gone
                self.__dict__.pop("conn", None)
            worker.http.close()
        # This hook asked for resultPages meanwhile: one log in time order.
        calls = sorted([*self.call_log, *(c for w in workers for c in w.call_log)], key=lambda c: c.at)
        self.call_log.clear()
        for call in calls:
            self._append_call(call)
        # The highest count any stream was told: concurrent answers are logged out of the order in
        # which Salesforce counted them, so the last one logged may carry an older figure.
        usages = [u for u in (self.api_usage, *(w.api_usage for w in workers)) if u]
        if usages:
            self.api_usage = max(usages, key=lambda usage: int(usage.split("/", 1)[0]))

    def _download_page(
        self,
        path: str,
        params: dict[str, Any] | None,
        dest: ObjectStoragePath,
        header: Sequence[str] | None,
    ) -> tuple[int, str | None]:
        headers = {"Accept": "text/csv", "Accept-Encoding": "gzip"}
        log_path = path.split("?", 1)[0] if path.startswith("/") else f"{self.data_path}/{path}"
        # Around the request's own retries: a page whose body breaks or comes short is asked again.
        for attempt in self.retry.retrying("GET", log_path, self.log):
            with attempt:
                response = self.request("GET", path, params=params, headers=headers, stream=True)
                counter = CsvRecordCounter()
                try:
                    with dest.open("wb") as fh:
                        for chunk in response.iter_content(chunk_size=_CHUNK):
                            counter.feed(chunk)
                            fh.write(chunk)
                        if counter.bytes == 0 and header:
                            fh.write((",".join(header) + "\n").encode())
                except TRANSIENT_EXCEPTIONS as exc:
                    raise Transient(f"broken results page: {type(exc).__name__}") from None
                finally:
                    response.close()
                expected_header = response.headers.get("Sforce-NumberOfRecords")
                if expected_header is None:
                    raise SalesforceApiError(
                        "MISSING_HEADER",
                        "results page without Sforce-NumberOfRecords",
                        200,
                        log_path,
                    )
                expected = int(expected_header)
                if counter.records != expected:
                    # A page cut short without a transport error (proxy, truncated gzip): fetch it again.
                    raise Transient(
                        f"results page had {counter.records} rows, Sforce-NumberOfRecords says {expected}"
                    )
                return counter.records, response.headers.get("Sforce-Locator")
        raise AssertionError("unreachable: the retry policy returns or raises")
