"""Base handlers: `BaseHandler` (deny-by-default access, security headers, typed context) and `ApiHandler`
(JSON in and out, JSON errors, bounded bodies), plus the JSON 404 catch-all."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import orjson
from tornado import httputil
from tornado.web import HTTPError, RequestHandler, stream_request_body

from domain.accounts.principals import KeyPrincipal, Role, UserPrincipal
from domain.accounts.site_docs import StoredSite
from domain.errors import DomainError
from handlers.context import AppContext
from handlers.errors import STATUS_CODES, ApiError
from handlers.policy import undeclared

log = logging.getLogger("eddy.api")
T = TypeVar("T")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Sent on every answer (BaseHandler and the lean collect path in handlers/collect.py).
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")  # on https answers only
# Every JSON API answer.
API_HEADERS = (("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store"))


# The answer to a method that declares no access policy (handlers/policy.py).
UNDECLARED = {
    "error": {
        "code": "forbidden",
        "message": "This method is closed: its handler does not declare who may call it.",
    }
}


def _checked_first(prepare: Callable[..., Any]) -> Callable[..., Any]:
    """`prepare` behind the access check: a refused request never reaches it."""
    if inspect.iscoroutinefunction(prepare):

        @functools.wraps(prepare)
        async def checked_async(self: BaseHandler) -> Any:
            if self.refuse_undeclared():
                return None
            return await prepare(self)

        return checked_async

    @functools.wraps(prepare)
    def checked(self: BaseHandler) -> Any:
        if self.refuse_undeclared():
            return None
        return prepare(self)

    return checked


class BaseHandler(RequestHandler):
    """Every Eddy handler: deny-by-default access, the context through a typed property and security
    headers on every answer.

    A request for a method that declares no access policy is refused with 403 before anything else
    runs. The check sits in front of every `prepare` of every subclass (wrapped when the class is
    made), so an override that does its own work first, or forgets `super().prepare()`, cannot skip it.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("prepare")
        if own is not None:
            cls.prepare = _checked_first(own)  # type: ignore[method-assign]

    def prepare(self) -> Any:
        self.refuse_undeclared()
        return None

    def refuse_undeclared(self) -> bool:
        """Answer 403 (JSON) when the requested method declares no access policy; True if refused."""
        method = (self.request.method or "").lower()
        if not undeclared(type(self), method):
            return False
        log.warning(
            "refused %s %s: %s.%s declares no access policy",
            self.request.method,
            self.request.path,
            type(self).__name__,
            method,
        )
        self.set_status(403)
        for name, value in API_HEADERS:
            self.set_header(name, value)
        self.finish(orjson.dumps(UNDECLARED))
        return True

    @property
    def ctx(self) -> AppContext:
        """The process's AppContext, from the application settings."""
        return self.settings["ctx"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS:
            self.set_header(name, value)
        if self.request.protocol == "https":
            self.set_header(*HSTS)
        self.clear_header("Server")


def _reject_operator_keys(value: Any, path: str = "$") -> None:
    """`$`-prefixed and dotted keys never reach a store: reject them anywhere in a body (NoSQL injection)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$") or "." in key:
                raise ApiError(
                    400,
                    "invalid_key",
                    "keys may not start with '$' or contain '.'",
                    fields={f"{path}.{key}": "forbidden key"},
                )
            _reject_operator_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_operator_keys(item, f"{path}[{index}]")


def validation_error(error: msgspec.ValidationError) -> ApiError:
    """Turn msgspec's message (`Expected str, got int - at $.name`) into a 422 with a field map."""
    text = str(error)
    message, _, where = text.rpartition(" - at `")
    if where:
        field = where.rstrip("`").removeprefix("$.").removeprefix("$") or "$"
        return ApiError(422, "validation_failed", message, fields={field: message})
    return ApiError(422, "validation_failed", text, fields={"$": text})


@stream_request_body
class ApiHandler(BaseHandler):
    """JSON API handler. Bodies are streamed and bounded by `max_body_bytes` (413 before buffering a
    declared-too-large body); errors are always JSON in the contract's shape."""

    max_body_bytes = 64 * 1024
    # Set by the access declarations (handlers/access.py, handlers/share.py) before a method runs.
    principal: UserPrincipal | KeyPrincipal
    site: StoredSite

    def initialize(self) -> None:
        self._chunks: list[bytes] = []

    def prepare(self) -> Any:
        length = self.request.headers.get("Content-Length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise ApiError(400, "bad_request", "invalid Content-Length") from None
            if declared > self.max_body_bytes:
                raise ApiError(413, "payload_too_large", f"body over {self.max_body_bytes} bytes")
        # Chunked bodies without a length are cut off by the connection at the same limit.
        connection = self.request.connection
        if connection is not None and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(self.max_body_bytes)
        return None

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The whole (bounded) request body."""
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def set_default_headers(self) -> None:
        super().set_default_headers()
        for name, value in API_HEADERS:
            self.set_header(name, value)

    def json_body(self) -> Any:
        """The body decoded as JSON, with `$`/dotted keys rejected (400)."""
        body = self.body
        if not body:
            raise ApiError(400, "invalid_json", "a JSON body is required")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
        _reject_operator_keys(data)
        return data

    def body_as(self, schema: type[T]) -> T:
        """The body decoded and validated into `schema` (a msgspec Struct): 400 bad JSON, 422 invalid."""
        data = self.json_body()
        try:
            return msgspec.convert(data, schema, strict=True)
        except msgspec.ValidationError as error:
            raise validation_error(error) from None

    async def site_for(self, site_id: str, need: Role = "viewer") -> StoredSite:
        """The site named in the path, if the authenticated principal may act on it with role `need`
        (404 when it may not see it; secret keys act only on their own site)."""
        principal = getattr(self, "principal", None)  # none behind a share token: 404
        if isinstance(principal, UserPrincipal):
            return await self.ctx.site_access.site_for_user(principal, site_id, need)
        if isinstance(principal, KeyPrincipal) and need == "viewer":
            return await self.ctx.site_access.site_for_key(principal, site_id)
        raise ApiError(404, "not_found", "no such site")

    async def current_user(self) -> dict[str, Any]:
        """The account document of the signed-in person (for `@authenticated` methods; 404 when gone)."""
        return await self.ctx.accounts.users.get(self.principal.user_id)  # type: ignore[union-attr]

    def write_json(self, data: Any, status: int = 200) -> None:
        """Send `data` as the JSON answer with `status`."""
        self.set_status(status)
        self.finish(orjson.dumps(data, default=_default))

    def no_content(self) -> None:
        """Answer 204 with no body."""
        self.set_status(204)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, DomainError):
            # Domain errors carry their own status: Tornado sends them here as a 500, answered as theirs.
            error = ApiError.from_domain(error)
            self.set_status(error.status_code)
        if isinstance(error, ApiError):
            for name, value in error.headers.items():
                self.set_header(name, value)
            document = error.document()
        else:
            code = STATUS_CODES.get(status_code, "error")
            if isinstance(error, HTTPError):
                message = error.reason or httputil.responses.get(status_code, "Unknown")
            else:
                message = code.replace("_", " ")
            document = {"error": {"code": code, "message": message}}
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps(document))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, HTTPError | DomainError):
            return  # expected answers, already in the access log
        super().log_exception(typ, value, tb)


def _default(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class NotFoundHandler(ApiHandler):
    """JSON 404 for any path no route matches. It serves no method of its own (each one passes the
    access check to Tornado's 405), so this answers every request, open to all."""

    def prepare(self) -> None:
        raise ApiError(404, "not_found", "no such resource")
