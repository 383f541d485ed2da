"""Every Prometheus metric Eddy exports, in one place.

Naming: `eddy_<subsystem>_<what>_<unit>`, counters end in `_total`, durations are in seconds, sizes in
bytes. Labels carry only bounded values: handler class names, status classes (`2xx`...), outcome and reason
enums declared here, and site ids (bounded by the number of sites). Never raw paths, IPs or user ids.
Label values known up front are created at start so series exist (at zero) before the first event.

Each Metrics object owns its own CollectorRegistry (not the global one), so tests and several apps in
one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def status_class(status: int) -> str:
    """`404` -> `4xx`."""
    return f"{max(1, min(5, status // 100))}xx"


class Metrics:
    """The registry and the server-health metrics. Domain modules add theirs through `registry`."""

    def __init__(self, version: str = "dev") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.build_info = Info("eddy_build", "Eddy build information", registry=self.registry)
        self.build_info.info({"version": version})
        self.request_duration = Histogram(
            "eddy_http_request_duration_seconds",
            "HTTP request latency by handler class and status class",
            ["handler", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.websocket_connections = Gauge(
            "eddy_websocket_connections",
            "Open websocket connections by kind",
            ["kind"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "eddy_store_errors_total",
            "Storage operations that failed, by store",
            ["store"],
            registry=self.registry,
        )
        for kind in ("collect", "live"):
            self.websocket_connections.labels(kind)
        for store in ("documents", "events", "kv", "bus"):
            self.store_errors.labels(store)
