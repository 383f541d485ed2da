"""Tornado handlers, thin: each module ends with its `default_handlers` route list, joined here.

The OpenAPI document at /api/openapi.json describes the `@documented` methods of the routes of the modules
listed in `api_modules()` (see handlers/operations.py)."""

from __future__ import annotations

from typing import Any

from handlers import (
    account,
    admin,
    alerts,
    auth,
    collect,
    compat_plausible,
    compat_umami,
    export,
    goals,
    google_auth,
    health,
    imports,
    installation,
    invitations,
    keys,
    live,
    metric_configs,
    metric_samples,
    metrics_endpoint,
    openapi,
    reports,
    share,
    sites,
    snippet,
    stats,
    tracker,
    two_factor,
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
        compat_plausible,
        compat_umami,
        ws_collect,
        live,
        openapi,
        auth,
        account,
        two_factor,
        admin,
        sites,
        invitations,
        reports,
        keys,
        metric_configs,
        snippet,
        installation,
        tracker,
        stats,
        goals,
        imports,
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
    of the Application by handlers/lean_http.py)."""
    routes: dict[tuple[str, str], Any] = {}
    for module in api_modules():
        routes.update(getattr(module, "lean_routes", {}))
    return routes
