"""`GET /metrics`: the Prometheus text exposition of this process's registry, optionally behind a bearer
token (EDDY_METRICS_TOKEN)."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handlers.base import ApiHandler
from handlers.errors import ApiError
from handlers.policy import declare


class MetricsHandler(ApiHandler):
    """Prometheus scrape endpoint."""

    @declare("metrics_token")
    def get(self) -> None:
        token = self.ctx.config.metrics_token
        if token:
            supplied = self.request.headers.get("Authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
                self.set_header("WWW-Authenticate", 'Bearer realm="metrics"')
                raise ApiError(401, "unauthorized", "a valid metrics token is required")
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.finish(generate_latest(self.ctx.metrics.registry))


default_handlers = [(r"/metrics", MetricsHandler)]
