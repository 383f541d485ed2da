"""Auth policies declared on every route method.

Each HTTP method of every handler must carry exactly one policy decorator (`@public`, or one of the
authenticating decorators defined next to the account service); `tests/test_routes.py` walks the routes
and fails on any method that declares none. The policy name is kept on the function as `__eddy_auth__`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def declare(policy: str) -> Callable[[F], F]:
    """Mark a method with a policy name (used by the decorators, and by tests)."""

    def mark(method: F) -> F:
        method.__eddy_auth__ = policy  # type: ignore[attr-defined]
        return method

    return mark


def public(method: F) -> F:
    """No authentication: the route is open to anyone (health checks, ingestion with its own key check)."""
    return declare("public")(method)


def policy_of(method: Callable[..., Any]) -> str | None:
    """The declared policy of a method, or None."""
    return getattr(method, "__eddy_auth__", None)
