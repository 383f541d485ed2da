"""Every Prometheus metric Eddy exports, in one place.

Naming: `eddy_<subsystem>_<what>_<unit>`, counters end in `_total`, durations are in seconds, sizes in
bytes. Labels carry only bounded values: handler class names, status classes (`2xx`...), the enums declared
here (one per label whose values are known up front: callers pass members, so a misspelt value is an
AttributeError, or a ValueError where a string is converted, never a new series), and site ids (bounded by
the number of sites). Never raw paths, IPs or user ids. Every enum member's series is created at start, so
it exists (at zero) before the first event.
The `eddy_user_` prefix belongs to the families sites declare themselves (domain/user_metrics): no
metric of Eddy's own may start with it.

Each Metrics object owns its own CollectorRegistry (not the global one), so tests and several apps in
one process never collide.

Several processes (`--processes N`): prometheus-client's multiprocess mode. The supervisor
(`server/runner.py`) empties a `PROMETHEUS_MULTIPROC_DIR` at start and switches the value class before it
forks; each worker's counters, histograms and gauges then live in memory-mapped files there, and whichever
worker answers `/metrics` merges every worker's files (`exposition()`), so a scrape sees one coherent view.
Chosen over aggregating through the bus or the key-value store because it needs no extra round trips on
the hot path, works on the embedded default without Redis, and keeps a dead worker's counter totals (the
supervisor drops only its live gauges). Gauges declare how they merge (`multiprocess_mode`). Collectors run
at scrape time in the answering worker only (`add_shared_collector`): build info, and the presenter of the
user-declared families (their values are in the files too; it keeps only live configs' series and drops
the internal generation label). In one process nothing of this applies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from runtime.loop_lag import LAG_BUCKETS

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class DropReason(StrEnum):
    """Why ingestion refused or dropped events (`reason` of eddy_ingest_events_dropped_total)."""

    BOT = "bot"
    SPAM_REFERRER = "spam_referrer"
    BAD_ORIGIN = "bad_origin"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNKNOWN_SITE = "unknown_site"  # compatibility endpoints: no site takes the sender's domain or id


class SocketKind(StrEnum):
    """Which websocket (`kind` of eddy_websocket_connections)."""

    COLLECT = "collect"
    LIVE = "live"


class StorePart(StrEnum):
    """Which store failed (`store` of eddy_store_errors_total)."""

    DOCUMENTS = "documents"
    EVENTS = "events"
    KV = "kv"
    BUS = "bus"


class MailState(StrEnum):
    """A message's state in the outbox (`state` of eddy_mail_outbox_messages)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MailOutcome(StrEnum):
    """How a send attempt ended (`outcome` of eddy_mail_attempts_total)."""

    SENT = "sent"
    RETRIED = "retried"
    FAILED = "failed"


class StatsKind(StrEnum):
    """Which stats question (`kind` of eddy_stats_question_duration_seconds)."""

    SUMMARY = "summary"
    TIMESERIES = "timeseries"
    BREAKDOWN = "breakdown"
    FUNNEL = "funnel"
    RETENTION = "retention"
    ACTIVE = "active"


class StatsAnswered(StrEnum):
    """Where a stats answer came from (`answered` of eddy_stats_question_duration_seconds): the stats
    cache, the event store, or nowhere because it ran past the question's time budget."""

    CACHE = "cache"
    STORE = "store"
    TOO_SLOW = "too_slow"


class SiteEvent(Protocol):
    """What the site series read of a stored event (storage.records.Event has it)."""

    site_id: str
    name: str


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Stats questions run up to their time budget (tens of seconds), so the buckets go further.
QUESTION_BUCKETS = (*LATENCY_BUCKETS, 10.0, 30.0, 60.0)


def status_class(status: int) -> str:
    """`404` -> `4xx`."""
    return f"{max(1, min(5, status // 100))}xx"


def multiprocess_dir() -> Path | None:
    """The multiprocess directory when this process runs in multiprocess mode, else None."""
    path = os.environ.get(MULTIPROC_ENV)
    return Path(path) if path else None


def enable_multiprocess(path: Path) -> None:
    """Remove the metric files in `path` and switch prometheus-client to multiprocess values (the supervisor
    calls this once, before forking, so every worker inherits it; stale files from an earlier run would add
    old counts). Only `*.db` files are removed: the directory may be one an operator named."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    # prometheus-client picks its value class at import time; re-pick it now that the variable is set.
    values.ValueClass = values.get_value_class()


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters keep counting in the merged view)."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(pid, str(path))


_Labelled = TypeVar("_Labelled", Counter, Gauge)


def _seeded(metric: _Labelled, seed: type[StrEnum] | None) -> _Labelled:
    """Create the series of every member of `seed`, so each exists (at zero) before the first event."""
    for member in seed or ():
        metric.labels(member)
    return metric


class _Families(Collector):
    """Families already collected (the merged files, less those a shared collector presents)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class Metrics:
    """The registry and the server-health metrics. Domain modules add theirs through `registry`."""

    def __init__(self, version: str = "dev") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir()
        # Collectors run at scrape time in the answering worker (not merged from files), and the metric
        # name prefixes they present themselves (their raw per-worker files are left out of the merge).
        self._shared = CollectorRegistry(auto_describe=True)
        self._shared_prefixes: list[str] = []
        self._scrape = threading.local()  # the merged files of the scrape running on this thread
        self.build_info = Info("eddy_build", "Eddy build information", registry=None)
        self.build_info.info({"version": version})
        self.add_shared_collector(self.build_info)
        self.request_duration = self._histogram(
            "eddy_http_request_duration_seconds",
            "HTTP request latency by handler class and status class",
            ["handler", "status"],
            buckets=LATENCY_BUCKETS,
        )
        self.websocket_connections = self._gauge(
            "eddy_websocket_connections",
            "Open websocket connections by kind",
            "livesum",
            ["kind"],
            seed=SocketKind,
        )
        self.store_errors = self._counter(
            "eddy_store_errors_total", "Storage operations that failed, by store", ["store"], seed=StorePart
        )
        # Ingestion: events accepted (durable and acknowledged), dropped by reason, and the group-commit
        # writer's batch size, commit latency and queue depth.
        self.ingest_accepted = self._counter(
            "eddy_ingest_events_accepted_total", "Events acknowledged to senders after a durable commit"
        )
        self.ingest_dropped = self._counter(
            "eddy_ingest_events_dropped_total",
            "Events refused or dropped, by reason",
            ["reason"],
            seed=DropReason,
        )
        self.ingest_batch_events = self._histogram(
            "eddy_ingest_batch_events",
            "Events per group-commit batch",
            buckets=(1, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
        )
        self.ingest_commit_seconds = self._histogram(
            "eddy_ingest_commit_duration_seconds", "Time to append one batch durably", buckets=LATENCY_BUCKETS
        )
        self.ingest_queue_depth = self._gauge(
            "eddy_ingest_queue_events", "Events waiting for a group commit", "livesum"
        )
        self.ingest_rate_limit_skipped = self._counter(
            "eddy_ingest_rate_limit_skipped_total",
            "Ingest requests let through unchecked because the key-value store was down (fail open)",
        )
        # Site analytics: bounded by the number of sites; fed by `on_events` (an event listener).
        self.site_pageviews = self._counter(
            "eddy_site_pageviews_total", "Pageviews stored, by site", ["site"]
        )
        self.site_events = self._counter(
            "eddy_site_events_total", "Events stored (pageviews included), by site", ["site"]
        )
        self.site_visitors_now = self._gauge(
            "eddy_site_visitors_now",
            "Distinct visitors of the site in the live window (domain/visitors_now.py)",
            "livemax",
            ["site"],
        )
        self.user_label_overflow = self._counter(
            "eddy_declared_metric_label_overflow_total",
            "User metric samples whose label value was past the per-label cap (recorded as `other`)",
            ["site"],
        )
        self.live_dropped = self._counter(
            "eddy_live_dashboards_dropped_total",
            "Live dashboards closed because they could not keep up (close code 4408)",
        )
        # Fed by runtime/loop_lag.py: how late the IOLoop runs a callback (a stall delays every request).
        self.stats_questions = self._histogram(
            "eddy_stats_question_duration_seconds",
            "Time to answer a stats question, by kind and where the answer came from",
            ["kind", "answered"],
            buckets=QUESTION_BUCKETS,
        )
        self.ioloop_lag = self._histogram(
            "eddy_ioloop_lag_seconds",
            "How much later than scheduled the IOLoop ran a periodic callback",
            buckets=LAG_BUCKETS,
        )
        # Mail (domain/mail/outbox.py): messages in the outbox by state (read from the shared store, so
        # every worker reports the same figure), and send attempts by outcome.
        self.mail_outbox = self._gauge(
            "eddy_mail_outbox_messages",
            "Messages in the mail outbox, by state (pending, sending, sent, failed)",
            "livemax",
            ["state"],
            seed=MailState,
        )
        self.mail_attempts = self._counter(
            "eddy_mail_attempts_total",
            "Mail send attempts by outcome (sent, retried, failed)",
            ["outcome"],
            seed=MailOutcome,
        )

    # Declaring a metric in this registry. `seed`: the enum of a metric's one label; every member's series
    # then exists from the start.
    def _counter(
        self, name: str, documentation: str, labels: Sequence[str] = (), *, seed: type[StrEnum] | None = None
    ) -> Counter:
        return _seeded(Counter(name, documentation, labels, registry=self.registry), seed)

    def _gauge(
        self,
        name: str,
        documentation: str,
        merge: str,
        labels: Sequence[str] = (),
        *,
        seed: type[StrEnum] | None = None,
    ) -> Gauge:
        """`merge`: how the workers' values combine in multiprocess mode (`livesum`, `livemax`, ...)."""
        gauge = Gauge(name, documentation, labels, registry=self.registry, multiprocess_mode=merge)
        return _seeded(gauge, seed)

    def _histogram(
        self, name: str, documentation: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def on_mail_counts(self, counts: Mapping[str, int]) -> None:
        """Set the outbox gauges from the store's counts (ValueError for a state not in MailState)."""
        for state, count in counts.items():
            self.mail_outbox.labels(MailState(state)).set(count)

    def on_mail_outcome(self, outcome: str) -> None:
        """Count a send attempt (ValueError for an outcome not in MailOutcome)."""
        self.mail_attempts.labels(MailOutcome(outcome)).inc()

    def on_stats_question(self, kind: str, answered: str, seconds: float) -> None:
        """Time one stats question (ValueError for a kind not in StatsKind or a source not in
        StatsAnswered)."""
        self.stats_questions.labels(StatsKind(kind), StatsAnswered(answered)).observe(seconds)

    def on_store_error(self, part: str) -> None:
        """Count a failed storage operation (ValueError for a part not in StorePart)."""
        self.store_errors.labels(StorePart(part)).inc()

    def on_events(self, events: Sequence[SiteEvent]) -> None:
        """Count a durable batch into the site analytics series (an `AppContext.event_listeners` entry)."""
        views: dict[str, int] = {}
        counts: dict[str, int] = {}
        for event in events:
            counts[event.site_id] = counts.get(event.site_id, 0) + 1
            if event.name == "pageview":
                views[event.site_id] = views.get(event.site_id, 0) + 1
        for site, n in counts.items():
            self.site_events.labels(site).inc(n)
        for site, n in views.items():
            self.site_pageviews.labels(site).inc(n)

    def add_shared_collector(self, collector: Collector, presents_prefix: str | None = None) -> None:
        """Add a collector that reads shared state at scrape time. `presents_prefix`: it presents the
        families whose names start with this itself, so the raw merged files of those are left out."""
        self._shared.register(collector)
        if self.multiprocess_dir is None:
            self.registry.register(collector)
        if presents_prefix:
            self._shared_prefixes.append(presents_prefix)

    def exposition(self) -> bytes:
        """The Prometheus text exposition: this process's registry, or in multiprocess mode every
        worker's merged values plus the shared collectors."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        # The files are read once per scrape: shared collectors get their part through merged_families().
        merged = list(MultiProcessCollector(None, str(self.multiprocess_dir)).collect())
        self._scrape.merged = merged
        try:
            excluded = tuple(self._shared_prefixes)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Families([f for f in merged if not f.name.startswith(excluded)]))
            return generate_latest(registry) + generate_latest(self._shared)
        finally:
            self._scrape.merged = None

    def merged_families(self, prefix: str) -> list[Metric]:
        """Multiprocess mode: every worker's merged families whose name starts with `prefix` (those of the
        scrape in progress on this thread, else read now)."""
        merged = getattr(self._scrape, "merged", None)
        if merged is None and self.multiprocess_dir is not None:
            merged = list(MultiProcessCollector(None, str(self.multiprocess_dir)).collect())
        return [family for family in merged or () if family.name.startswith(prefix)]
