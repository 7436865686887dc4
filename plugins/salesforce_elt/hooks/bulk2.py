"""Bulk API 2.0 query jobs through the project's retrying request layer.

Not simple-salesforce's bulk2 client: it never refreshes an expired session and buffers result
pages in memory. Here each results page streams straight into its own part file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from salesforce_elt.hooks.errors import SalesforceApiError
from salesforce_elt.hooks.salesforce import TRANSIENT_EXCEPTIONS, SalesforceApiHook
from salesforce_elt.staging import CsvRecordCounter, part_name

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

QueryOperation = Literal["query", "queryAll"]
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_CHUNK = 1 << 20


class SalesforceBulk2Hook(SalesforceApiHook):
    """Create, watch, download and clean up Bulk API 2.0 query jobs."""

    hook_name = "Salesforce Bulk API 2.0 (ELT)"

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
        job = self.request("POST", "jobs/query", json=body).json()
        self.log.info("Created Bulk 2.0 %s job %s on %s", operation, job.get("id"), job.get("object"))
        return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.get_json(f"jobs/query/{job_id}")

    def abort_job(self, job_id: str) -> dict[str, Any]:
        """Abort a job that is still queued or running (Salesforce refuses for finished jobs)."""
        return self.request("PATCH", f"jobs/query/{job_id}", json={"state": "Aborted"}).json()

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
    ) -> tuple[list[str], int]:
        """Stream every results page into ``dest_dir/part-NNNNN.csv``; returns (file names, records).

        Each page is checked against ``Sforce-NumberOfRecords``; a page whose connection breaks or
        whose count is short is fetched again from the same locator (locators stay valid while
        the job exists). ``header`` is written when Salesforce sends an empty body for no rows,
        so every part file starts with a header row.
        """
        dest_dir.mkdir(parents=True, exist_ok=True)
        files: list[str] = []
        records = 0
        locator: str | None = None
        part = start_part
        while True:
            name = part_name(part)
            rows, locator = self._download_page(job_id, dest_dir / name, max_records, locator, header)
            files.append(name)
            records += rows
            part += 1
            if not locator or locator == "null":
                break
        self.log.info("Bulk 2.0 job %s: %d records in %d file(s)", job_id, records, len(files))
        return files, records

    def _download_page(
        self,
        job_id: str,
        dest: ObjectStoragePath,
        max_records: int,
        locator: str | None,
        header: Sequence[str] | None,
    ) -> tuple[int, str | None]:
        path = f"jobs/query/{job_id}/results"
        params: dict[str, Any] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        headers = {"Accept": "text/csv", "Accept-Encoding": "gzip"}
        attempt = 0
        while True:
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
                self._pause_or_raise(
                    attempt, "GET", f"{self.data_path}/{path}", f"broken results page: {type(exc).__name__}"
                )
                attempt += 1
                continue
            finally:
                response.close()
            expected_header = response.headers.get("Sforce-NumberOfRecords")
            if expected_header is None:
                raise SalesforceApiError(
                    "MISSING_HEADER",
                    "results page without Sforce-NumberOfRecords",
                    200,
                    f"{self.data_path}/{path}",
                )
            expected = int(expected_header)
            if counter.records != expected:
                # A page cut short without a transport error (proxy, truncated gzip): fetch it again.
                self._pause_or_raise(
                    attempt,
                    "GET",
                    f"{self.data_path}/{path}",
                    f"results page had {counter.records} rows, Sforce-NumberOfRecords says {expected}",
                )
                attempt += 1
                continue
            return counter.records, response.headers.get("Sforce-Locator")
