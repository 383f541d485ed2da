"""Routes are closed unless declared: every method of every route in the app declares an access policy
(so a new unmarked method fails here), site routes state the role they need, and a method that declares
nothing is refused at run time whatever its handler's `prepare` does."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from tornado.web import Application, RequestHandler

from handlers.access import PERMISSIONS
from handlers.base import ApiHandler, BaseHandler
from handlers.context import AppContext
from handlers.policy import defined_methods, permission_of, policy_of, public
from server.app import make_app

SITE_ROUTE = re.compile(r"^/api/v1/sites/\(")  # the site id is the first path argument


def _app_routes() -> list[tuple[str, type[RequestHandler]]]:
    """(pattern, handler) of every rule of the application, the default handler included."""
    app = make_app(cast(AppContext, object()))  # the context is only a setting: no request is served
    rules = [(rule.matcher.regex.pattern, rule.target) for rule in app.wildcard_router.rules]
    rules.append(("(default)", app.settings["default_handler_class"]))
    return rules


def test_every_route_method_declares_a_policy() -> None:
    missing, checked = [], 0
    for _, handler in _app_routes():
        assert issubclass(handler, BaseHandler), f"{handler.__name__} skips the access check"
        for method in defined_methods(handler):
            checked += 1
            if policy_of(getattr(handler, method)) is None:
                missing.append(f"{handler.__name__}.{method}")
    assert checked > 50
    assert not missing, f"methods without an access policy: {missing}"


def test_site_routes_state_the_role_they_need() -> None:
    loose, declared = [], set()
    for pattern, handler in _app_routes():
        for method in defined_methods(handler):
            func = getattr(handler, method)
            permission = permission_of(func)
            if permission is not None:
                assert permission in PERMISSIONS, f"{handler.__name__}.{method}: {permission}"
                declared.add(permission)
            site_role = permission is not None and permission.startswith("site:")
            if SITE_ROUTE.match(pattern) and policy_of(func) != "public" and not site_role:
                loose.append(f"{handler.__name__}.{method}")
    assert not loose, f"site routes that do not state a site role: {loose}"
    assert declared >= {"account", "site:view", "site:admin", "site:owner", "instance:admin"}


class Unmarked(ApiHandler):
    """A handler someone forgot to mark: `get` is not declared, `post` is."""

    def get(self) -> None:
        self.write_json({"reached": True})

    @public
    def post(self) -> None:
        self.write_json({"reached": True})


class UnmarkedWithPrepare(BaseHandler):
    """A plain handler whose own prepare answers by itself, without calling super().prepare()."""

    async def prepare(self) -> None:
        self.finish("prepare ran")

    def get(self) -> None:
        self.finish("get ran")


@pytest.fixture
def app(ctx: AppContext) -> Application:
    return Application([(r"/unmarked", Unmarked), (r"/unmarked-prepare", UnmarkedWithPrepare)], ctx=ctx)


async def test_an_unmarked_method_is_refused_at_run_time(api: Any) -> None:
    refused = await api.get("/unmarked")
    assert refused.status == 403 and refused.error_code == "forbidden"
    assert refused.json["error"]["message"].endswith(".") and "reached" not in refused.json
    served = await api.post("/unmarked", json={})
    assert served.status == 200 and served.json == {"reached": True}
    missing = await api.put("/unmarked", json={})
    assert missing.status == 405 and missing.error_code == "method_not_allowed"  # Tornado's, as before
    bypass = await api.get("/unmarked-prepare")
    assert bypass.status == 403 and bypass.error_code == "forbidden" and b"ran" not in bypass.body
