"""Tornado handlers, thin: each module ends with its `default_handlers` route list, joined here."""

from __future__ import annotations

from typing import Any

from handlers import health, metrics_endpoint


def all_routes() -> list[tuple[Any, ...]]:
    """Every route of the application, in match order (the catch-all 404 is the default handler)."""
    routes: list[tuple[Any, ...]] = []
    for module in (health, metrics_endpoint):
        routes.extend(module.default_handlers)
    return routes
