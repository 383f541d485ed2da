"""Access logging with secrets scrubbed from query strings, plus the request-latency metric.

Installed as Tornado's `log_function`, so it runs once per finished request.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Protocol

from runtime.metrics import Metrics, status_class

if TYPE_CHECKING:
    from tornado.web import RequestHandler

access_log = logging.getLogger("eddy.access")


class WithMetrics(Protocol):
    """What the access log reads of the application context."""

    metrics: Metrics


# Query parameters whose values are credentials: api keys (`k`, `key`, `api_key`), tokens, passwords.
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:k|key|api_key|apikey|token|access_token|refresh_token|password|code|state|share)=)[^&#]*"
)


def scrub(uri: str) -> str:
    """The URI with every credential-bearing query value replaced by `[secret]`."""
    return _SECRET_PARAM.sub(r"\1[secret]", uri)


def log_request(handler: RequestHandler) -> None:
    """Log one finished request and record its latency by handler class and status class."""
    request = handler.request
    record_request(
        handler.settings.get("ctx"),
        type(handler).__name__,
        handler.get_status(),
        request.method or "",
        request.uri or "",
        request.remote_ip,
        request.request_time(),
    )


def record_request(
    ctx: WithMetrics | None,
    handler_name: str,
    status: int,
    method: str,
    uri: str,
    remote_ip: str | None,
    duration: float,
) -> None:
    """Record one finished request's latency (labelled by handler name and status class) and log it."""
    if ctx is not None:
        ctx.metrics.request_duration.labels(handler_name, status_class(status)).observe(duration)
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if access_log.isEnabledFor(level):
        millis = duration * 1000.0
        access_log.log(level, "%d %s %s (%s) %.2fms", status, method, scrub(uri), remote_ip, millis)
