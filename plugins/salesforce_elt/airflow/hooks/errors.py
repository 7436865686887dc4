"""Exceptions raised by the Salesforce hooks and the parsing of Salesforce error bodies."""

from __future__ import annotations

import json
import re

_TAGS = re.compile(r"<[^>]*>")
# Error codes / message fragments meaning "Bulk 2.0 cannot run this query; REST can".
_BULK_UNSUPPORTED_CODES = frozenset({"INVALIDENTITY", "FEATURENOTENABLED", "INVALID_TYPE_FOR_OPERATION"})
_BULK_UNSUPPORTED_FRAGMENTS = (
    "not supported by the bulk api",
    "not supported in bulk",
    "compound data not supported",
)


class SalesforceApiError(Exception):
    """A Salesforce API call failed; carries the Salesforce error code, never credentials."""

    def __init__(self, error_code: str, message: str, status: int | None = None, url_path: str | None = None):
        self.error_code = error_code
        self.message = message
        self.status = status
        self.url_path = url_path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" on {self.url_path}" if self.url_path else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"Salesforce {self.error_code}{status}{where}: {self.message}"


class SalesforceAuthError(SalesforceApiError):
    """The OAuth token request was refused or the connection lacks a required setting."""


class BulkQueryNotSupportedError(SalesforceApiError):
    """Bulk API 2.0 refused the query (object or field not supported); REST can still read it."""


def tls_error(path: str, exc: Exception) -> SalesforceApiError:
    """A certificate that did not verify. Requests counts SSLError as a ConnectionError, but retrying
    a certificate that does not verify only delays the one fix there is: fail at once."""
    return SalesforceApiError(
        "TLS_VERIFY_FAILED",
        f"TLS verification failed ({type(exc).__name__}: {exc}); trust the server's CA with the "
        "connection's ca_bundle extra",
        None,
        path,
    )


def error_from_body(status: int, body: str, url_path: str) -> SalesforceApiError:
    """Turn a Salesforce error response into an exception.

    REST/Bulk errors are a JSON array ``[{"errorCode", "message"}]``; OAuth errors are an object
    ``{"error", "error_description"}``; anything else (a proxy's HTML page) is quoted, shortened.
    """
    code, message = f"HTTP_{status}", _plain_text(body)[:500] or "(empty body)"
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        code = str(parsed[0].get("errorCode") or code)
        message = str(parsed[0].get("message") or message)
    elif isinstance(parsed, dict) and ("error" in parsed or "errorCode" in parsed):
        code = str(parsed.get("error") or parsed.get("errorCode"))
        message = str(parsed.get("error_description") or parsed.get("message") or message)
    if status == 400 and is_bulk_unsupported(code, message) and "/jobs/query" in url_path:
        return BulkQueryNotSupportedError(code, message, status, url_path)
    return SalesforceApiError(code, message, status, url_path)


def _plain_text(body: str) -> str:
    """A non-JSON body as one line of text: an edge or proxy page (Salesforce's 420 is HTML) loses its tags."""
    text = _TAGS.sub(" ", body) if body.lstrip().startswith("<") else body
    return " ".join(text.split())


def is_bulk_unsupported(error_code: str, message: str) -> bool:
    lowered = message.lower()
    return error_code.upper() in _BULK_UNSUPPORTED_CODES or any(
        f in lowered for f in _BULK_UNSUPPORTED_FRAGMENTS
    )
