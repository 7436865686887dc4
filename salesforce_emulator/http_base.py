"""HTTP/1.1 response plumbing of the emulator's handler: Content-Length or chunked bodies,
bandwidth pacing, connection resets on purpose, request bodies. Knows nothing of Salesforce."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler

from salesforce_emulator.errors import SalesforceError

log = logging.getLogger("salesforce_emulator.server")

_PACED_SLICE = 16 * 1024  # bytes written between pauses under a bandwidth limit


class ConnectionCut(Exception):
    """The handler reset the socket on purpose (fault injection)."""


class ResponseWriter(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SalesforceEmulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    # Per request, set by the subclass before anything is sent.
    _status: int
    _body: bytes
    _rate: float
    _paced_bytes: int
    _paced_from: float | None

    def _limit_info(self) -> str | None:
        """The Sforce-Limit-Info header of this response, if any."""
        return None

    def setup(self) -> None:
        super().setup()
        # The TLS handshake runs here, in the connection's own thread, so a slow or broken
        # client never blocks the accept loop.
        self.connection.do_handshake()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def _start(self, status: int, content_type: str | None, length: int | None, headers: dict | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        limit_info = self._limit_info()
        if limit_info is not None:
            self.send_header("Sforce-Limit-Info", limit_info)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self._start(status, content_type, len(body), headers)
        self._write(body)

    def _write(self, data: bytes) -> None:
        """Send body bytes, no faster than the bandwidth fault allows for this response."""
        if not self._rate:
            self.wfile.write(data)
            return
        if self._paced_from is None:
            self._paced_from = time.monotonic()
        for i in range(0, len(data), _PACED_SLICE):
            piece = data[i : i + _PACED_SLICE]
            # A piece leaves once the link would have carried it: the body's last byte arrives
            # no sooner than its size allows.
            self._paced_bytes += len(piece)
            ahead = self._paced_bytes / self._rate - (time.monotonic() - self._paced_from)
            if ahead > 0:
                time.sleep(ahead)
            self.wfile.write(piece)

    def _send_json(self, status: int, payload, headers: dict | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._send_bytes(status, body, "application/json;charset=UTF-8", headers)

    def _send_empty(self, status: int) -> None:
        self._start(status, None, None)

    def _cut_connection(self) -> None:
        """Reset the TCP connection abruptly (SO_LINGER 0 turns close() into an RST)."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        self.connection.close()
        raise ConnectionCut

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _json_body(self) -> dict:
        try:
            value = json.loads(self._body or b"{}")
        except json.JSONDecodeError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"Invalid JSON body: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        return value

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))
