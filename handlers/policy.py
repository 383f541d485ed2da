"""Access policies declared on every route method: the routes are closed unless a method says otherwise.

Each HTTP method of every handler carries exactly one declaration: `@public` (alias
`@allow_unauthenticated`) for open endpoints, or `@authorized(permission)` (handlers/access.py) and the
other authenticating decorators, which both enforce and declare. `BaseHandler.prepare` refuses, at run
time, a request for a method that declares nothing (403), and `tests/test_routes.py` walks the app's
routes so a new unmarked method fails before it ships. A declaration is kept on the function as
`__eddy_auth__` (how the caller proves who it is) and `__eddy_permission__` (what it must hold).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tornado.web import RequestHandler

F = TypeVar("F", bound=Callable[..., Any])
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def declare(policy: str, permission: str | None = None) -> Callable[[F], F]:
    """Mark a method with a policy name, and the permission it checks if any (used by the decorators)."""

    def mark(method: F) -> F:
        method.__eddy_auth__ = policy  # type: ignore[attr-defined]
        method.__eddy_permission__ = permission  # type: ignore[attr-defined]
        return method

    return mark


def public(method: F) -> F:
    """No authentication: the route is open to anyone (health checks, ingestion with its own key check)."""
    return declare("public")(method)


allow_unauthenticated = public  # the name jupyter_server gives the same mark


def policy_of(method: Callable[..., Any]) -> str | None:
    """The declared policy of a method, or None."""
    return getattr(method, "__eddy_auth__", None)


def permission_of(method: Callable[..., Any]) -> str | None:
    """The declared permission of a method (`site:admin`, `account`...), or None."""
    return getattr(method, "__eddy_permission__", None)


def defined_methods(handler: type[RequestHandler]) -> list[str]:
    """The HTTP methods `handler` serves itself; Tornado's defaults (405) are not among them."""
    return [name for name in HTTP_METHODS if getattr(handler, name) is not getattr(RequestHandler, name)]


def undeclared(handler: type[RequestHandler], method: str) -> bool:
    """Whether `handler` serves HTTP `method` (lower case) without declaring an access policy."""
    func = getattr(handler, method, None)
    if func is None or func is getattr(RequestHandler, method, None):
        return False  # not served here: Tornado answers 405
    return policy_of(func) is None
