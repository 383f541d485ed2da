"""Build the application context for a configuration: stores, metrics and the domain services."""

from __future__ import annotations

from server.config import Config
from server.context import AppContext
from server.metrics import Metrics
from server.secrets import Secrets
from storage.factory import build_stores
from storage.ports import Stores


def build_context(config: Config, secrets: Secrets, stores: Stores | None = None) -> AppContext:
    """An unstarted context; `await ctx.start()` inside the running loop opens and starts everything."""
    ctx = AppContext(
        config=config,
        secrets=secrets,
        stores=stores if stores is not None else build_stores(config),
        metrics=Metrics(),
    )
    return ctx
