"""Access logging with secrets scrubbed from query strings, plus the request-latency metric.

Installed as Tornado's `log_function`, so it runs once per finished request.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from server.metrics import status_class

if TYPE_CHECKING:
    from tornado.web import RequestHandler

access_log = logging.getLogger("eddy.access")

# Query parameters whose values are credentials: api keys (`k`, `key`, `api_key`), tokens, passwords.
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:k|key|api_key|apikey|token|access_token|refresh_token|password|code|state|share)=)[^&#]*"
)


def scrub(uri: str) -> str:
    """The URI with every credential-bearing query value replaced by `[secret]`."""
    return _SECRET_PARAM.sub(r"\1[secret]", uri)


def log_request(handler: RequestHandler) -> None:
    """Log one finished request and record its latency by handler class and status class."""
    status = handler.get_status()
    duration = handler.request.request_time()
    ctx = handler.settings.get("ctx")
    if ctx is not None:
        ctx.metrics.request_duration.labels(type(handler).__name__, status_class(status)).observe(duration)
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if access_log.isEnabledFor(level):
        request = handler.request
        access_log.log(
            level,
            "%d %s %s (%s) %.2fms",
            status,
            request.method,
            scrub(request.uri or ""),
            request.remote_ip,
            duration * 1000.0,
        )
