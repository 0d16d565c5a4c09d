"""The errors the services raise: plain exceptions with a code, a message and details.

Ingest, history and background jobs know nothing of HTTP; :mod:`server.web.errors` answers
these as the JSON (or page) errors a client sees.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Something a caller asked for that cannot be done, said in the API's terms."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class NotFound(ServiceError):
    """No run, test, failure group or upload by that name."""

    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


class IngestRejected(ServiceError):
    """An upload that cannot be read or stored as sent.

    ``status`` is what a synchronous upload is answered (400 malformed, 413 too large, 422
    invalid); a queued upload's record keeps it, so both paths tell the client the same.
    """

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(code, message, details)
        self.status = status

    def record(self) -> dict[str, Any]:
        """What a failed queued upload keeps as its ``error``."""
        return {"status": self.status, "code": self.code, "message": self.message}
