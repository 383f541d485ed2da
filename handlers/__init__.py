"""Tornado handlers, thin: each module ends with its `default_handlers` route list, joined here.

A module listed in `api_modules()` may also export `openapi_operations` (see handlers/openapi.py): the
OpenAPI document at /api/openapi.json is built from those lists."""

from __future__ import annotations

from typing import Any

from handlers import (
    alerts,
    auth,
    collect,
    export,
    google_auth,
    health,
    installation,
    keys,
    live,
    metric_configs,
    metric_samples,
    metrics_endpoint,
    openapi,
    share,
    sites,
    snippet,
    stats,
    tracker,
    webui,
    ws_collect,
)


def api_modules() -> tuple[Any, ...]:
    """Every handler module, in route match order (add new modules here)."""
    return (
        health,
        metrics_endpoint,
        metric_samples,
        alerts,
        collect,
        ws_collect,
        live,
        openapi,
        auth,
        sites,
        keys,
        metric_configs,
        snippet,
        installation,
        tracker,
        stats,
        export,
        google_auth,
        share,
        webui,
    )


def all_routes() -> list[tuple[Any, ...]]:
    """Every route of the application, in match order (the catch-all 404 is the default handler)."""
    routes: list[tuple[Any, ...]] = []
    for module in api_modules():
        routes.extend(module.default_handlers)
    return routes


def lean_routes() -> dict[tuple[str, str], Any]:
    """(method, path) → lean message delegate, from each module's optional `lean_routes` (served ahead
    of the Application by server/lean_http.py)."""
    routes: dict[tuple[str, str], Any] = {}
    for module in api_modules():
        routes.update(getattr(module, "lean_routes", {}))
    return routes
