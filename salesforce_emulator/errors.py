"""Salesforce-shaped errors shared by the data layer and the HTTP layer."""

from __future__ import annotations


class SalesforceError(Exception):
    """An error Salesforce would report as ``[{"message", "errorCode", "fields"}]``.

    ``status`` is the HTTP status the REST/Bulk API answers with; ``body()`` is always a JSON
    array (simple-salesforce indexes ``[0]['errorCode']``).
    """

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = list(fields) if fields else []

    def body(self) -> list[dict]:
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SalesforceError({self.status}, {self.error_code!r}, {self.message!r})"


def malformed(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)
