"""The API's error type: raised anywhere in a handler, rendered by ApiHandler.write_error as
`{"error": {"code", "message", "fields"}}` with the given status and extra headers (e.g. Retry-After)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tornado.web import HTTPError

from domain.errors import DomainError

# Default error codes for bare HTTP statuses (Tornado's own HTTPErrors, e.g. 405 from a missing method).
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPError):
    """An error answer with a stable snake_case `code`, a human message and optional per-field reasons."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, reason=None)
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message or self.code.replace("_", " ")
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    @classmethod
    def from_domain(cls, error: DomainError) -> ApiError:
        """The answer for a domain error: its status, code, message, fields and headers."""
        return cls(error.status, error.code, error.message, fields=error.fields, headers=error.headers)

    def document(self) -> dict[str, Any]:
        """The JSON error body `{"error": {code, message, fields?}}`."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"
