"""The OpenAPI 3.1 document (`GET /api/openapi.json`) and its docs page (`GET /api/docs`).

How an operation gets documented (every handler module that serves `/api/...` does this): its handler
method carries `@documented(summary, ...)` (handlers/operations.py), whose path, method, auth and tag
come from the route, the method and its access declaration; the fields of an `Operation`:

- `path` is the OpenAPI template; `{name}` segments become required string path parameters and match
  the route's regex groups (the route is written as this path, see handlers/routes.py).
- `request` / `response` / `query` are msgspec types (usually Structs with `forbid_unknown_fields=True`): the
  same types the handler decodes with `body_as()` / answers with, so the spec cannot drift from the code.
  The schemas come from `msgspec.json.schema_components`, so `Meta(min_length=..., pattern=...)` constraints
  appear in the spec too. `query` must be a Struct: each field becomes a query parameter.
- `auth` is one of `AUTH_SCHEMES` (`public`, `bearer`, `api_key`, `bearer_or_secret_key`).
- `errors` lists the extra error statuses the operation can answer; 400/422 are added when there is a
  request body or query, 401 (and 429) for authenticated operations, all with the shared error shape.
- `request_media` / `response_media` change the content types (e.g. text/plain beacons, CSV exports);
  `response=None` with `status=204` documents an empty answer. For `text/event-stream`, `response`
  is the type of one event's `data` (a Struct, or a union of tagged Structs whose tags name the events),
  or `str` for undescribed events; the schema then describes one event as OpenAPI 3.2's `itemSchema`
  and schemathesis read a stream: `{event, data}`, `data` being JSON text of that type.

The spec is built from the modules listed in `handlers.api_modules()`: a module's documented routes (and
its `openapi_operations` list, if any) are picked up by adding the module there (it is where
`all_routes()` finds the routes too).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from tornado.web import StaticFileHandler

from handlers.base import ApiHandler, BaseHandler
from handlers.operations import Operation, collect_operations, documented
from handlers.policy import public
from handlers.routes import route

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{name}"
AUTH_SCHEMES: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "bearer": [{"bearerAuth": []}],
    "api_key": [{"apiKey": []}],
    "bearer_or_secret_key": [{"bearerAuth": []}, {"apiKey": []}],
}
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from /api/v1/auth/login, /register or /refresh (15 minutes).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A site API key: `eddy_pk_...` (public, ingest only) or `eddy_sk_...` (secret).",
    },
}
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    302: "Redirect",
    400: "Malformed request (bad JSON, `$` or dotted keys)",
    401: "Missing or invalid credentials",
    403: "Not allowed with this role",
    404: "No such resource, or not visible to the caller",
    409: "Conflicts with existing state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Failed validation",
    429: "Too many requests (see Retry-After)",
    503: "A dependency is down (see Retry-After)",
}
DOCS_ASSETS = Path(__file__).parent / "assets"


class ErrorDetail(msgspec.Struct):
    """What went wrong: a stable snake_case code, a message, and optional reasons per field."""

    code: str
    message: str
    fields: dict[str, str] = {}


class ErrorBody(msgspec.Struct):
    """Every error answer: `{"error": {code, message, fields?}}`."""

    error: ErrorDetail


def _json_content(schema: dict[str, Any], media: Sequence[str] | str) -> dict[str, Any]:
    medias = [media] if isinstance(media, str) else list(media)
    return {name: {"schema": schema} for name in medias}


def _query_parameters(query: Any, components: dict[str, Any]) -> list[dict[str, Any]]:
    name = query.__name__
    schema = components[name]
    required = set(schema.get("required", ()))
    return [
        {"name": field, "in": "query", "required": field in required, "schema": prop}
        for field, prop in schema.get("properties", {}).items()
    ]


def _operation_object(op: Operation, refs: dict[Any, dict[str, Any]], components: dict[str, Any]) -> dict:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in op.path_params
    ]
    if op.query is not None:
        params.extend(_query_parameters(op.query, components))
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": STATUS_TEXT.get(op.status, "OK")}
    if op.response is not None:
        media = op.response_media
        schema = refs[op.response]
        if media == "text/event-stream":
            schema = _event_schema(op.response, schema)
        success["content"] = _json_content(schema, media)
    responses[str(op.status)] = success
    for status in op.error_statuses():
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "Error"),
            "content": _json_content(refs[ErrorBody], "application/json"),
        }
    body: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.summary,
        "tags": [op.tag],
        "security": AUTH_SCHEMES[op.auth],
        "responses": responses,
    }
    if op.description:
        body["description"] = op.description
    if params:
        body["parameters"] = params
    if op.request is not None:
        body["requestBody"] = {"required": True, "content": _json_content(refs[op.request], op.request_media)}
    return body


def _event_schema(data: Any, data_schema: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event whose `data` is JSON text of the type `data` (schema `data_schema`), named
    by the tag of its Struct; any event when `data` is `str` (its text is not described)."""
    if data is str:
        return {}
    names = [kind.__struct_config__.tag for kind in typing.get_args(data) or (data,)]
    event: dict[str, Any] = {"type": "string"}
    if all(isinstance(name, str) for name in names):
        event["enum"] = names
    return {
        "type": "object",
        "properties": {
            "event": event,
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data_schema},
        },
        "required": ["data"],
    }


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", op.path.removeprefix("/api/v1").removeprefix("/api")).strip("_")
    return f"{op.method.lower()}_{words or 'root'}"


def build_spec(operations: Sequence[Operation], *, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document for these operations."""
    types: list[Any] = [ErrorBody]
    for op in operations:
        if op.auth not in AUTH_SCHEMES:
            raise ValueError(f"{op.method} {op.path}: unknown auth {op.auth!r}")
        types.extend(t for t in (op.request, op.response, op.query) if t is not None)
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(unique, ref_template=REF_TEMPLATE)
    refs = dict(zip(unique, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_object(op, refs, components)
    spec: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Eddy API",
            "version": "1",
            "description": "Real-time web analytics: accounts, sites, keys, ingestion, stats and metrics.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }
    if server_url:
        spec["servers"] = [{"url": server_url}]
    return spec


class OpenApiHandler(ApiHandler):
    """`GET /api/openapi.json`: the spec, built from every registered operation."""

    @documented(response=dict)
    @public
    def get(self) -> None:
        """This OpenAPI document"""
        import handlers  # here, not at import time: handlers/__init__ imports this module

        spec = build_spec(collect_operations(handlers.api_modules()), server_url=self.ctx.config.public_url)
        self.set_header("Cache-Control", "no-cache")
        self.write_json(spec)


DOCS_PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Eddy API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/api/docs/assets/docs.css">
<script src="/api/docs/assets/docs.js" defer></script>
</head>
<body>
<header><h1>Eddy API</h1>
<p>The OpenAPI 3.1 document: <a href="/api/openapi.json">/api/openapi.json</a></p></header>
<main id="operations" data-spec="/api/openapi.json"><p>Loading the specification...</p></main>
</body>
</html>
"""


class DocsPageHandler(BaseHandler):
    """`GET /api/docs`: a page that renders the spec with a same-origin script (no inline script, so it
    works under the CSP)."""

    @public
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(DOCS_PAGE)


class DocsAssetHandler(BaseHandler, StaticFileHandler):
    """The docs page's script and stylesheet, with the security headers."""

    @public
    async def get(self, path: str, include_body: bool = True) -> None:
        await StaticFileHandler.get(self, path, include_body)

    @public
    async def head(self, path: str) -> None:
        await StaticFileHandler.get(self, path, include_body=False)


openapi_tag = "meta"
default_handlers = [
    route("/api/openapi.json", OpenApiHandler),
    (r"/api/docs/?", DocsPageHandler),
    (r"/api/docs/assets/(docs\.(?:js|css))", DocsAssetHandler, {"path": str(DOCS_ASSETS)}),
]
