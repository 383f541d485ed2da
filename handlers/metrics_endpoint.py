"""`GET /metrics`: the Prometheus text exposition (this process's registry, or every worker's merged values
in multiprocess mode; see server/metrics.py), optionally behind a bearer token (EDDY_METRICS_TOKEN)."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from tornado.ioloop import IOLoop

from handlers.base import ApiHandler
from handlers.errors import ApiError
from handlers.policy import declare


class MetricsHandler(ApiHandler):
    """Prometheus scrape endpoint."""

    @declare("metrics_token")
    async def get(self) -> None:
        token = self.ctx.config.metrics_token
        if token:
            supplied = self.request.headers.get("Authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
                self.set_header("WWW-Authenticate", 'Bearer realm="metrics"')
                raise ApiError(401, "unauthorized", "a valid metrics token is required")
        # Every name Eddy exports is a classic one, so the 0.0.4 text format every Prometheus reads fits.
        self.set_header("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)
        self.set_header("Cache-Control", "no-store")
        # Off the IOLoop: with many sites and declared metrics a scrape takes hundreds of milliseconds
        # (BENCHMARKS.md), and in multiprocess mode it also reads every worker's files.
        self.finish(await IOLoop.current().run_in_executor(None, self.ctx.metrics.exposition))


default_handlers = [(r"/metrics", MetricsHandler)]
