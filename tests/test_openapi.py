"""The OpenAPI document and the docs page: every documented operation exists as a route with the declared
auth policy, schemas resolve, and the docs page works under the CSP (no inline script)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

import handlers
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.openapi import AUTH_SCHEMES, build_spec, collect_operations
from handlers.operations import documented, module_operations
from handlers.policy import policy_of
from handlers.routes import route
from handlers.stats import KINDS

# The route decorators' policy names that each documented auth may be served by.
POLICIES_FOR_AUTH = {
    "public": {"public"},
    "bearer": {"bearer"},
    "api_key": {"public", "api_key", "public_or_secret_key", "secret_key"},
    "bearer_or_secret_key": {"bearer_or_secret_key"},
}


def _route_for(path: str) -> Any:
    concrete = re.sub(r"\{[^}]+\}", "abc123", path)
    for entry in handlers.all_routes():
        if re.fullmatch(entry[0], concrete):
            return entry[1]
    return None


def test_every_documented_operation_is_served_with_its_policy() -> None:
    operations = collect_operations(handlers.api_modules())
    assert operations
    for op in operations:
        handler = _route_for(op.path)
        assert handler is not None, f"{op.method} {op.path} matches no route"
        method = getattr(handler, op.method.lower(), None)
        assert method is not None, f"{op.method} {op.path}: the handler has no such method"
        policy = policy_of(method)
        assert policy in POLICIES_FOR_AUTH[op.auth], f"{op.method} {op.path}: {policy} vs {op.auth}"


def test_an_operation_takes_its_path_method_auth_and_denials_from_the_code() -> None:
    class Handler(ApiHandler):
        @documented(response=dict, errors=(409,))
        @authorized("site:admin")
        async def post(self, site_id: str) -> None:
            """Do it.

            At once."""

    module = SimpleNamespace(default_handlers=[route("/x/{site_id}.json", Handler)], openapi_tag="things")
    [op] = module_operations(module)
    assert (op.method, op.path, op.auth, op.tag) == ("POST", "/x/{site_id}.json", "bearer", "things")
    assert (op.summary, op.description, op.errors) == ("Do it.", "At once.", (403, 404, 409))
    assert module.default_handlers[0] == (r"/x/([A-Za-z0-9_-]{1,64})\.json", Handler)
    with pytest.raises(TypeError, match="route it with"):
        module_operations(SimpleNamespace(default_handlers=[(r"/x/(\w+)", Handler)]))


def test_spec_references_resolve() -> None:
    spec = build_spec(collect_operations(handlers.api_modules()))
    assert spec["openapi"].startswith("3.1")
    schemas = spec["components"]["schemas"]
    text = repr(spec)
    for name in re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text):
        assert name in schemas, name
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op["responses"], (path, method)
            assert op["security"] in AUTH_SCHEMES.values()
            for param in re.findall(r"\{([^}]+)\}", path):
                assert any(p["name"] == param and p["in"] == "path" for p in op["parameters"])
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "apiKey"}


def test_stats_answers_and_the_live_stream_are_described_by_their_structs() -> None:
    spec = build_spec(collect_operations(handlers.api_modules()))
    for kind, (_summary, path, answer) in KINDS.items():
        success = spec["paths"][f"/api/v1/sites/{{site_id}}/stats/{path}"]["get"]["responses"]["200"]
        schema = success["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{answer.__name__}"}, kind
        assert "cached" in spec["components"]["schemas"][answer.__name__]["required"], kind
    stream = spec["paths"]["/api/v1/sites/{site_id}/live/stream"]["get"]["responses"]["200"]["content"]
    event = stream["text/event-stream"]["schema"]["properties"]
    assert event["event"]["enum"] == ["snapshot", "tick"]
    assert event["data"]["contentMediaType"] == "application/json"
    refs = [option["$ref"] for option in event["data"]["contentSchema"]["anyOf"]]
    assert refs == ["#/components/schemas/Snapshot", "#/components/schemas/Tick"]


async def test_openapi_json_is_served(api: Any) -> None:
    answer = await api.get("/api/openapi.json")
    assert answer.status == 200
    assert answer.json["openapi"] == "3.1.0"
    assert "/api/openapi.json" in answer.json["paths"]


@pytest.mark.reliability
async def test_docs_page_has_no_inline_script_and_its_assets_load(api: Any) -> None:
    page = await api.get("/api/docs", expect_json=False)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert "style=" not in html and "<style" not in html
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    for asset, kind in (("docs.js", "javascript"), ("docs.css", "text/css")):
        answer = await api.get(f"/api/docs/assets/{asset}", expect_json=False)
        assert answer.status == 200 and kind in answer.headers["Content-Type"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "innerHTML" not in (await api.get("/api/docs/assets/docs.js", expect_json=False)).body.decode()
    missing = await api.get("/api/docs/assets/../openapi.py", expect_json=False)
    assert missing.status == 404
