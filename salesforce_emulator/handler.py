"""The emulator's request handler: routing, login, sessions, API usage, REST query paging,
describe, feeds, limits, Bulk 2.0 jobs and results, the admin endpoint (paths: see server.py)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import ssl
import time
import zlib
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from salesforce_emulator.auth import AuthError
from salesforce_emulator.errors import SalesforceError
from salesforce_emulator.faults import error_body, fault_response
from salesforce_emulator.http_base import ConnectionCut, ResponseWriter
from salesforce_emulator.rest_query import parse_batch_size

if TYPE_CHECKING:
    from salesforce_emulator.server import EmulatorServer

log = logging.getLogger("salesforce_emulator.server")

_DATA_PATH = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")
_SOAP_PATH = re.compile(r"^/services/Soap/u/(\d+\.\d)(?:/.*)?$")
_CHUNK = 256 * 1024
# URI plus headers Salesforce accepts per request, in bytes (see _refuse_oversized_request).
REQUEST_HEAD_LIMIT = 16_384
KNOWN_VERSIONS = [f"{v}.0" for v in range(31, 63)]
ADMIN_PREFIX = "/__emulator__/"


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _parse_feed_time(params: dict, name: str) -> dt.datetime:
    values = params.get(name)
    if not values:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"{name} not specified")
    try:
        value = dt.datetime.fromisoformat(values[0].replace("Z", "+00:00"))
    except ValueError as exc:
        raise SalesforceError(400, "INVALID_FIELD", f"{name}: invalid date/time format: {values[0]}") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Handler(ResponseWriter):
    """One connection's requests, answered from the ``EmulatorServer`` that accepted it."""

    @property
    def emu(self) -> EmulatorServer:
        return self.server.emulator  # type: ignore[attr-defined]

    def _limit_info(self) -> str | None:
        return self.emu.api_counter.header() if self._counted else None

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._status = 0
        self._counted = False
        self._kind = "public"
        self._job_id: str | None = None
        self._rate, self._paced_bytes, self._paced_from = 0.0, 0, None
        self.emu.audit_log.begin()
        arrived = time.time()
        started = time.monotonic()
        try:
            self._body = self._read_body()
            if self._refuse_oversized_request():
                return
            self._route()
        except SalesforceError as exc:
            if self._status:
                self.close_connection = True  # a response is already under way
            else:
                self._send_json(exc.status, exc.body())
        except ConnectionCut:
            pass
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            log.exception("unhandled error for %s %s", self.command, self.path)
            if self._status:
                self.close_connection = True  # headers went out: the body cannot be repaired
            else:
                self._send_json(500, error_body(500))
        finally:
            self.emu.audit_log.record(
                method=self.command,
                raw_path=self.path,
                status=self._status,
                kind=self._kind,
                api_usage=self.emu.api_counter.used if self._counted else None,
                job_id=self._job_id,
                started=arrived,
            )
            log.debug("%s %s -> %s in %.3fs", self.command, self.path, self._status, time.monotonic() - started)

    def _refuse_oversized_request(self) -> bool:
        """Salesforce's edge takes at most 16,384 bytes of URI plus headers per request (Help article
        "Maximum number of rows returned by SOQL queries over the REST API"). Past it, a request whose URI alone is too long gets 414, else
        431 (as measured on real orgs: salesforce.stackexchange.com question 195449), as the edge's
        HTML page, not a JSON error (Stitch's docs quote "Bad Message 431 reason: Request Header
        Fields Too Large"). The page's exact markup is unverified."""
        head = len(self.requestline) + 2 + sum(len(k) + len(v) + 4 for k, v in self.headers.items()) + 2
        if head <= REQUEST_HEAD_LIMIT:
            return False
        status, reason = (414, "URI Too Long") if len(self.path) > REQUEST_HEAD_LIMIT else (
            431, "Request Header Fields Too Large")
        page = f"<h1>Bad Message {status}</h1><pre>reason: {reason}</pre>".encode()
        self.close_connection = True
        self._send_bytes(status, page, "text/html;charset=iso-8859-1", {"Connection": "close"})
        return True

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if len(path) > 1:
            path = path.rstrip("/")
        params = parse_qs(parts.query, keep_blank_values=True)
        if path.startswith(ADMIN_PREFIX.rstrip("/")):
            self._kind = "admin"
            return self._admin(path[len(ADMIN_PREFIX):], params)
        if path == "/services/oauth2/token":
            self._kind = "oauth"
            return self._oauth()
        soap = _SOAP_PATH.match(path)
        if soap:
            self._kind = "soap"
            return self._soap(soap.group(1))
        if path == "/services/data":
            # The versions list needs no session on Salesforce either.
            return self._send_json(200, self._versions())
        data = _DATA_PATH.match(path)
        if data:
            self._kind = "api"
            return self._api(data.group(1), data.group(2) or "", params)
        raise not_found()

    # -- login -------------------------------------------------------------------------
    def _login_fault(self) -> bool:
        """Apply faults to a login request when configured to; True when one answered it."""
        if not self.emu.faults.applies_to_login():
            return False
        time.sleep(self.emu.faults.latency_seconds())
        status = self.emu.faults.take_error()
        if status:
            self._send_bytes(status, *fault_response(status))
        return bool(status)

    def _oauth(self) -> None:
        if self.command != "POST":
            raise SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{self.command}' not allowed. Allowed are POST")
        if self._login_fault():
            return
        try:
            body = self.emu.authenticator.token(self._body, self.headers.get("Authorization"), self.emu.base_url)
        except AuthError as exc:
            return self._send_json(400, exc.body())
        self._send_json(200, body)

    def _soap(self, version: str) -> None:
        if self._login_fault():
            return
        status, xml = self.emu.authenticator.soap_login(self._body, self.emu.base_url, version)
        self._send_bytes(status, xml.encode(), "text/xml;charset=UTF-8")

    def _versions(self) -> list[dict]:
        return [{"label": f"API {v}", "url": f"/services/data/v{v}", "version": v} for v in KNOWN_VERSIONS]

    # -- authenticated API -------------------------------------------------------------
    def _authenticate(self) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            # Salesforce's answer to a missing/odd header is unverified; INVALID_AUTH_HEADER
            # with a 401 keeps clients on their re-authentication path.
            raise SalesforceError(401, "INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE")
        if self.emu.faults.take_session_expiry(self.path):
            self.emu.sessions.invalidate_all()
        if not self.emu.sessions.check(token.strip()):
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _api(self, version: str, resource: str, params: dict) -> None:
        time.sleep(self.emu.faults.latency_seconds())
        self._rate = self.emu.faults.bandwidth_bytes_per_second()
        self._authenticate()
        if self.emu.faults.limit_exceeded() or not self.emu.api_counter.try_count():
            self._counted = True  # the header still reports usage, as on Salesforce
            raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self._counted = True
        # Injected 5xx/429 answers come after counting: the org did receive the request.
        fault_status = self.emu.faults.take_error(bulk=resource.startswith("jobs"))
        if fault_status:
            return self._send_bytes(fault_status, *fault_response(fault_status))
        segments = resource.split("/") if resource else []
        head = segments[0] if segments else ""
        if not segments:
            return self._get_only(lambda: self._send_json(200, self._resources(version)))
        if head in ("query", "queryAll"):
            return self._get_only(lambda: self._query(version, head == "queryAll", segments, params))
        if head == "sobjects":
            return self._get_only(lambda: self._sobjects(segments[1:], params))
        if head == "limits":
            return self._get_only(lambda: self._limits(segments[1:], params))
        if head == "jobs" and len(segments) >= 2 and segments[1] == "query":
            return self._jobs(version, segments[2:], params)
        raise not_found()

    def _get_only(self, action) -> None:
        if self.command != "GET":
            raise SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{self.command}' not allowed. Allowed are GET,HEAD")
        action()

    def _resources(self, version: str) -> dict:
        base = f"/services/data/v{version}"
        return {name: f"{base}/{name}" for name in ("sobjects", "query", "queryAll", "limits", "jobs")}

    def _query(self, version: str, include_deleted: bool, segments: list[str], params: dict) -> None:
        if len(segments) == 2:
            body = self.emu.locators.page(segments[1], version)
        elif len(segments) == 1:
            soql = (params.get("q") or [""])[0]
            if not soql.strip():
                raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
            cursor = self.emu.org.query(soql, include_deleted=include_deleted, api="rest")
            limit, status = self.emu.faults.query_timeout()
            if limit is not None and cursor.total_size > limit:
                # The status of QUERY_TIMEOUT is unverified: the fault's (500 unless set).
                raise SalesforceError(status, "QUERY_TIMEOUT", "Your query request was running for too long.")
            batch = parse_batch_size(self.headers.get("Sforce-Query-Options"))
            body = self.emu.locators.first_page(cursor, batch, version)
        else:
            raise not_found()
        if self.emu.faults.take_rest_page_reset():
            self._start(200, "application/json;charset=UTF-8", len(body))
            self.wfile.write(body[: len(body) // 2])
            self._cut_connection()
        self._send_bytes(200, body, "application/json;charset=UTF-8")

    def _sobjects(self, segments: list[str], params: dict) -> None:
        org = self.emu.org
        if not segments:
            return self._send_json(200, org.describe_global())
        name = segments[0]
        if len(segments) == 1:
            describe = org.describe(name)
            keep = {k: v for k, v in describe.items() if k not in ("fields", "childRelationships", "recordTypeInfos")}
            return self._send_json(200, {"objectDescribe": keep, "recentItems": []})
        if len(segments) == 2 and segments[1] == "describe":
            return self._send_json(200, org.describe(name))
        if len(segments) == 2 and segments[1] in ("updated", "deleted"):
            start, end = _parse_feed_time(params, "start"), _parse_feed_time(params, "end")
            feed = org.updated if segments[1] == "updated" else org.deleted
            return self._send_json(200, feed(name, start, end, lag=self.emu.feed_lag()))
        raise not_found()

    def _limits(self, segments: list[str], params: dict) -> None:
        if segments == ["recordCount"]:
            raw = (params.get("sObjects") or [""])[0]
            names = [n.strip() for n in raw.split(",") if n.strip()]
            if not names:
                names = [o["name"] for o in self.emu.org.describe_global()["sobjects"] if o.get("queryable")]
            return self._send_json(200, {"sObjects": self.emu.org.record_counts(names)})
        if segments:
            raise not_found()
        self._send_json(200, self.emu.limits())

    # -- Bulk 2.0 ----------------------------------------------------------------------
    def _jobs(self, version: str, segments: list[str], params: dict) -> None:
        jobs = self.emu.bulk
        method = self.command
        if not segments:
            if method == "POST":
                job = jobs.create(self._json_body(), version)
                self._job_id = job.id
                return self._send_json(200, job.info(full=False))
            if method == "GET":
                records = [j.info(full=False) for j in jobs.list()]
                return self._send_json(200, {"done": True, "records": records, "nextRecordsUrl": None})
            raise SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST")
        self._job_id = segments[0]
        if len(segments) == 1:
            if method == "GET":
                return self._send_json(200, jobs.get(segments[0]).info(full=True))
            if method == "PATCH":
                return self._send_json(200, jobs.abort(segments[0], self._json_body()).info(full=False))
            if method == "DELETE":
                jobs.delete(segments[0])
                return self._send_empty(204)
            raise SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE")
        if len(segments) == 2 and segments[1] == "results":
            return self._get_only(lambda: self._results(segments[0], params, version))
        if len(segments) == 2 and segments[1] == "resultPages":
            locator = (params.get("locator") or [None])[0]
            return self._get_only(lambda: self._send_json(200, jobs.result_pages(segments[0], version, locator=locator)))
        raise not_found()

    def _results(self, job_id: str, params: dict, version: str) -> None:
        page = self.emu.bulk.page(
            job_id,
            max_records=(params.get("maxRecords") or [None])[0],
            locator=(params.get("locator") or [None])[0],
            version=version,
        )
        headers = {"Sforce-NumberOfRecords": str(page.records), "Sforce-Locator": page.next_locator}
        gzip_ok = "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
        cut_after = page.length // 2 if self.emu.faults.take_bulk_page_reset() else None
        if gzip_ok:
            headers.update({"Content-Encoding": "gzip", "Transfer-Encoding": "chunked", "Vary": "Accept-Encoding"})
            self._start(200, "text/csv", None, headers)
            compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
            for chunk in self._page_chunks(page, cut_after):
                self._write_chunk(compressor.compress(chunk))
            if cut_after is not None:
                self._write_chunk(compressor.flush(zlib.Z_SYNC_FLUSH))
                self._cut_connection()
            self._write_chunk(compressor.flush())
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._start(200, "text/csv", page.length, headers)
            for chunk in self._page_chunks(page, cut_after):
                self._write(chunk)
            if cut_after is not None:
                self._cut_connection()
    @staticmethod
    def _page_chunks(page, limit: int | None):
        """The page's bytes from disk: the header row, then the rows' byte range."""
        remaining = page.length if limit is None else limit
        with page.csv_path.open("rb") as f:
            for start, end in ((0, page.header_end), (page.start, page.end)):
                f.seek(start)
                left = min(end - start, remaining)
                while left > 0:
                    data = f.read(min(_CHUNK, left))
                    if not data:
                        break
                    left -= len(data)
                    remaining -= len(data)
                    yield data

    # -- admin -------------------------------------------------------------------------
    def _admin(self, action: str, params: dict) -> None:
        emu, method = self.emu, self.command
        try:
            if action == "mutate" and method == "POST":
                body = self._json_body()
                return self._send_json(200, emu.mutate(body))
            if action == "faults":
                if method == "POST":
                    emu.faults.set(**self._json_body())
                elif method == "DELETE":
                    emu.faults.clear()
                return self._send_json(200, emu.faults.snapshot())
            if action == "audit":
                if method == "DELETE":
                    emu.reset_audit(own_requests=1)  # not waiting for itself
                    return self._send_json(200, [])
                return self._send_json(200, emu.audit_log.entries(own_requests=1))  # not waiting for itself
            if action == "sessions" and method == "DELETE":
                emu.sessions.invalidate_all()
                return self._send_json(200, {"invalidated": True})
            if action == "schema/add-field" and method == "POST":
                body = self._json_body()
                emu.org.add_field(body["object"], body["field"], body.get("type", "string"), **body.get("attributes", {}))
                return self._send_json(200, {"added": body["field"]})
            if action == "purge-delete-log" and method == "POST":
                body = self._json_body()
                before = dt.datetime.fromisoformat(body["before"].replace("Z", "+00:00")) if body.get("before") else None
                return self._send_json(200, emu.org.purge_delete_log(body.get("object"), before))
            if action == "schema/remove-field" and method == "POST":
                body = self._json_body()
                emu.org.remove_field(body["object"], body["field"])
                return self._send_json(200, {"removed": body["field"]})
        except (KeyError, TypeError, ValueError) as exc:
            return self._send_json(400, {"error": f"bad request for {action}: {exc!r}"})
        raise not_found()
