"""Domain errors: raised by domain code, rendered by ApiHandler as JSON errors with these statuses."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base class: `status` and `code` become the HTTP status and the error code."""

    status = 400
    code = "bad_request"

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


class Invalid(DomainError):
    """The input is well-formed JSON but breaks a rule (422)."""

    status = 422
    code = "validation_failed"


class BadRequest(DomainError):
    """The input cannot be understood (400)."""

    status = 400
    code = "bad_request"


class Unauthorized(DomainError):
    """No valid credentials (401)."""

    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials that may not do this (403)."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """No such resource, or not visible to this caller (404)."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """Clashes with existing state, e.g. a duplicate name (409)."""

    status = 409
    code = "conflict"


class TooLarge(DomainError):
    """Over a size limit (413)."""

    status = 413
    code = "payload_too_large"


class RateLimited(DomainError):
    """Too many requests (429); carries Retry-After."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message or "too many requests", headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class Unavailable(DomainError):
    """A dependency is down; retry later (503 with Retry-After)."""

    status = 503
    code = "unavailable"

    def __init__(
        self, retry_after: float = 1.0, message: str | None = None, *, code: str | None = None
    ) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            message or "temporarily unavailable", code=code, headers={"Retry-After": str(seconds)}
        )
        self.retry_after = seconds
