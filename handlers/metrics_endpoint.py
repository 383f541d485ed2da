"""`GET /metrics`: the Prometheus text exposition (this process's registry, or every worker's merged values
in multiprocess mode; see runtime/metrics.py). It lists every site's id and counts, so it is never open
to the world by default:
- with EDDY_METRICS_TOKEN set, every scrape needs `Authorization: Bearer <token>` (401 otherwise);
- without one, it answers scrapes from loopback and from the networks in EDDY_METRICS_ALLOW only (403
  otherwise). The address is the connection's peer, or with `--trust-proxy` the client the proxy names;
  without `--trust-proxy`, a request carrying forwarding headers came through a proxy Eddy does not
  trust (one on the same host would make every client look local) and is refused.
"""

from __future__ import annotations

import hmac
import ipaddress

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
        elif not self._trusted_scraper():
            raise ApiError(
                403,
                "forbidden",
                "metrics are served to this host and EDDY_METRICS_ALLOW only; set EDDY_METRICS_TOKEN "
                "to scrape from elsewhere",
            )
        # Every name Eddy exports is a classic one, so the 0.0.4 text format every Prometheus reads fits.
        self.set_header("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)
        self.set_header("Cache-Control", "no-store")
        # Off the IOLoop: with many sites and declared metrics a scrape takes hundreds of milliseconds
        # (BENCHMARKS.md), and in multiprocess mode it also reads every worker's files.
        self.finish(await IOLoop.current().run_in_executor(None, self.ctx.metrics.exposition))

    def _trusted_scraper(self) -> bool:
        config = self.ctx.config
        headers = self.request.headers
        if not config.trust_proxy and any(h in headers for h in _FORWARDING_HEADERS):
            return False
        try:
            address = ipaddress.ip_address((self.request.remote_ip or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback or any(
            address in network for network in config.metrics_allow if network.version == address.version
        )


_FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")

default_handlers = [(r"/metrics", MetricsHandler)]
