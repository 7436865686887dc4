"""The emulator's HTTPS server: the org and its services behind TLS; each request is answered by
``handler.Handler`` (routing, sessions, API usage, Bulk results streaming) on ``http_base``'s
response plumbing.

Stdlib `ThreadingHTTPServer` + `ssl`: one thread per connection, HTTP/1.1 keep-alive, every
response with Content-Length or chunked encoding. Plain sockets make the connection-reset
faults exact (headers and part of a body, then an RST).

Salesforce paths: /services/oauth2/token, /services/Soap/u/{v}, /services/data[/v{v}/...]
(query, queryAll, sobjects, limits, jobs/query). Admin paths (no auth, never faulted, not
Salesforce): POST /__emulator__/mutate {"object", "update", "create", "delete", "hard_delete",
"late_share"}; GET|POST|DELETE /__emulator__/faults (see faults.FaultConfig); GET|DELETE
/__emulator__/audit; DELETE /__emulator__/sessions (invalidate every token); POST
/__emulator__/schema/add-field {"object", "field", "type", "attributes"}; POST
/__emulator__/schema/remove-field {"object", "field"}; POST /__emulator__/purge-delete-log
{"object" (default: every object), "before" (ISO, default: now)} -> {object: earliestDateAvailable}.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from salesforce_emulator.audit import AuditLog
from salesforce_emulator.auth import ORG_KINDS, Authenticator, Credentials, Sessions
from salesforce_emulator.bulk import DAILY_JOB_MAX, DAILY_STORAGE_MB_MAX, BulkJobs
from salesforce_emulator.faults import FaultConfig, Faults
from salesforce_emulator.handler import ADMIN_PREFIX, KNOWN_VERSIONS, REQUEST_HEAD_LIMIT, Handler, not_found
from salesforce_emulator.rest_query import QueryLocators
from salesforce_emulator.store import Org
from salesforce_emulator.tls import ensure_jwt_keypair, ensure_tls_files, load_public_key_pem, server_context
from salesforce_emulator.wire import WireFormat

# Importable from here as before the handler had a module of its own.
__all__ = ["ADMIN_PREFIX", "KNOWN_VERSIONS", "REQUEST_HEAD_LIMIT", "ApiCounter", "EmulatorServer", "not_found"]

log = logging.getLogger(__name__)


class ApiCounter:
    """DailyApiRequests: every authenticated REST/Bulk call counts one; token requests do not."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._used = 0
        self._lock = threading.Lock()

    def try_count(self) -> bool:
        with self._lock:
            if self._used >= self.maximum:
                return False
            self._used += 1
            return True

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def header(self) -> str:
        return f"api-usage={self.used}/{self.maximum}"


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        # Handshake failures and dropped connections are routine for a test server.
        log.debug("connection error from %s", client_address, exc_info=True)


class EmulatorServer:
    """An emulated org served over HTTPS; a context manager that serves from a thread."""

    def __init__(
        self,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        contacts: int = 2000,
        seed: int = 42,
        token_lifetime: float = 7200,
        daily_api_limit: int = 15000,
        bulk_delay: float = 1.0,
        faults: dict | None = None,
        jwt_cert: Path | str | None = None,
        wire: WireFormat | None = None,
        shared_activities: bool = True,
        org_kind: str = "production",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.contacts, self.seed = contacts, seed
        self.shared_activities = shared_activities
        self.faults = Faults(FaultConfig.from_mapping(faults or {}))
        self.api_counter = ApiCounter(daily_api_limit)
        self.audit_log = AuditLog(self.data_dir / "audit.jsonl")
        self._token_lifetime = token_lifetime
        self._bulk_delay = bulk_delay
        self._jwt_cert = Path(jwt_cert).resolve() if jwt_cert else None
        self.wire = wire or WireFormat()  # wire-format variations (salesforce_emulator.wire)
        if org_kind not in ORG_KINDS:
            raise ValueError(f"org_kind must be one of {sorted(ORG_KINDS)}, got {org_kind!r}")
        self.org_kind = org_kind
        self._feed_answers = itertools.count()
        self._httpd: _TlsServer | None = None
        self._thread: threading.Thread | None = None
        self.connection_info: dict = {}

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        self.org = Org.open(self.data_dir, contacts=self.contacts, seed=self.seed,
                            shared_activities=self.shared_activities)
        tls_files = ensure_tls_files(self.data_dir)
        jwt_files = ensure_jwt_keypair(self.data_dir)
        creds = Credentials.load_or_create(self.data_dir)
        self.sessions = Sessions(creds.org_id, self._token_lifetime)
        self.authenticator = Authenticator(
            creds, self.sessions, load_public_key_pem(self._jwt_cert or jwt_files.cert_file), org_kind=self.org_kind
        )
        self.locators = QueryLocators(self.data_dir, wire=self.wire)
        self.bulk = BulkJobs(self.org, self.data_dir, delay=self._bulk_delay, faults=self.faults, user_id=creds.user_id,
                              wire=self.wire)
        httpd = _TlsServer((self.host, self.port), Handler)
        httpd.socket = server_context(tls_files).wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        httpd.emulator = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        url_host = "127.0.0.1" if self.host in ("0.0.0.0", "", "127.0.0.1") else self.host
        self.base_url = f"https://{url_host}:{self.port}"
        self.connection_info = {
            "instance_url": self.base_url,
            "login_url": self.base_url,
            "ca_file": str(tls_files.ca_file),
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "username": creds.username,
            "password": creds.password,
            "security_token": creds.security_token,
            "jwt_private_key_file": str(jwt_files.private_key_file),
            "jwt_cert_file": str(self._jwt_cert or jwt_files.cert_file),
            "org_kind": self.org_kind,
            "data_dir": str(self.data_dir),
        }
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        path = self.data_dir / "connection.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.connection_info, indent=2), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
        return self

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            self.bulk.close()
            self.locators.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- introspection -----------------------------------------------------------------
    def feed_lag(self) -> dt.timedelta:
        """How far this /updated or /deleted answer's latestDateCovered stays behind its end."""
        minutes = self.faults.feed_lag_minutes()
        if not minutes and self.wire.lagging_feeds:
            n = next(self._feed_answers)  # every other answer lags, by 1 to 3 minutes
            minutes = (n % 2) * (1 + n // 2 % 3)
        return dt.timedelta(minutes=minutes)

    def audit(self) -> list[dict]:
        return self.audit_log.entries()

    def reset_audit(self, own_requests: int = 0) -> None:
        self.audit_log.reset(own_requests=own_requests)

    def issue_token(self) -> str:
        """A valid access token without an HTTP round trip (for tests of other components)."""
        return self.sessions.issue()

    def mutate(self, args: dict) -> dict:
        known = {"update", "create", "delete", "hard_delete", "late_share", "bump_parent"}
        unknown = set(args) - known - {"object"}
        if unknown:
            raise ValueError(f"unknown mutate argument(s) {sorted(unknown)}; known: object, {sorted(known)}")
        return self.org.mutate(args.get("object", "Contact"), **{k: v for k, v in args.items() if k in known})

    def limits(self) -> dict:
        used = self.api_counter.used
        db = self.data_dir / "org.sqlite"
        data_mb = db.stat().st_size // (1024 * 1024) if db.exists() else 0
        return {
            "DailyApiRequests": {"Max": self.api_counter.maximum, "Remaining": max(self.api_counter.maximum - used, 0)},
            "DailyBulkV2QueryJobs": {"Max": DAILY_JOB_MAX, "Remaining": self.bulk.jobs_remaining()},
            "DailyBulkV2QueryFileStorageMB": {"Max": DAILY_STORAGE_MB_MAX, "Remaining": self.bulk.storage_mb_remaining()},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DataStorageMB": {"Max": 5120, "Remaining": max(5120 - data_mb, 0)},
        }
