"""Every method of every route declares an auth policy (no route is open by accident)."""

from __future__ import annotations

from handlers import all_routes
from handlers.policy import HTTP_METHODS, policy_of


def test_every_route_method_declares_a_policy() -> None:
    missing = []
    checked = 0
    for route in all_routes():
        handler = route[1]
        for method in HTTP_METHODS:
            func = getattr(handler, method, None)
            if func is None or getattr(func, "__qualname__", "").startswith("RequestHandler."):
                continue  # Tornado's default (405) or not defined
            if func.__qualname__.startswith("WebSocketHandler."):
                continue  # Tornado's websocket upgrade; the handler's open() declares the policy
            checked += 1
            if policy_of(func) is None:
                missing.append(f"{handler.__name__}.{method}")
    assert checked > 0
    assert not missing, f"methods without an auth policy: {missing}"
