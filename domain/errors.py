"""Domain errors: raised by domain code, rendered by ApiHandler as JSON errors with these statuses.

Each kind of error is declared by its HTTP status and error code in the class line
(`class NotFound(DomainError, status=404, code="not_found")`); the rendering never looks further.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base class: `status` and `code` become the HTTP status and the error code."""

    status = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).code.replace("_", " ")
        if code is not None:
            self.code = code
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)


class Invalid(DomainError, status=422, code="validation_failed"):
    """The input is well-formed JSON but breaks a rule (422)."""


class BadRequest(DomainError, status=400, code="bad_request"):
    """The input cannot be understood (400)."""


class Unauthorized(DomainError, status=401, code="unauthorized"):
    """No valid credentials (401)."""


class Forbidden(DomainError, status=403, code="forbidden"):
    """Valid credentials that may not do this (403)."""


class NotFound(DomainError, status=404, code="not_found"):
    """No such resource, or not visible to this caller (404)."""


class Conflict(DomainError, status=409, code="conflict"):
    """Clashes with existing state, e.g. a duplicate name (409)."""


class TooLarge(DomainError, status=413, code="payload_too_large"):
    """Over a size limit (413)."""


class _RetryLater(DomainError):
    """An error that tells the client when to try again: Retry-After, in whole seconds (at least 1)."""

    default_message = "try again later"

    def __init__(
        self, retry_after: float = 1.0, message: str | None = None, *, code: str | None = None
    ) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message or self.default_message, code=code, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class RateLimited(_RetryLater, status=429, code="rate_limited"):
    """Too many requests (429); carries Retry-After."""

    default_message = "too many requests"


class Unavailable(_RetryLater, status=503, code="unavailable"):
    """A dependency is down; retry later (503 with Retry-After)."""

    default_message = "temporarily unavailable"
