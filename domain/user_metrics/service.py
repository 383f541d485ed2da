"""`UserMetrics`: the live set of user-declared metric families, their samples, and their exposition.

Run-time changes: configs are re-read from the documents store every `POLL_INTERVAL_S`, at once when a
message arrives on the bus channel `metric_configs:changed` (the management API publishes it on every
create, change and delete, and when a site goes), and when a sample names a metric this process does not
know yet (at most once a second). Unchanged configs keep their values; a changed or deleted config's
values leave the scrape at once (each config generation is a hidden label, see specs.py).

Label values are capped per metric and label (`label_value_cap`, first come first kept): a new value past
the cap is recorded as `other` and counted in `eddy_declared_metric_label_overflow_total{site}`. With several
processes each one keeps its own first-come set, so the exported values per label stay below cap x
processes.

Sites never clash: a family name carries its type (specs.py), and a family several sites declare is
presented with a neutral help text, never one site's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, Summary
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from domain.accounts.metric_configs import CHANGED_CHANNEL
from domain.errors import Invalid
from domain.user_metrics.specs import (
    FAMILY_PREFIX,
    GENERATION_LABEL,
    SHARED_HELP,
    SITE_LABEL,
    MetricSpec,
    spec_from_doc,
)
from runtime.metrics import Metrics
from runtime.periodic import Periodic
from runtime.tasks import cancel_and_wait
from storage.ports import Bus, DocumentStore

log = logging.getLogger("eddy.user_metrics")

POLL_INTERVAL_S = 5.0
MISS_RELOAD_INTERVAL_S = 1.0
LABEL_VALUE_CAP = 100
OTHER = "other"
MAX_LABEL_VALUE_LENGTH = 128


@dataclass
class _Live:
    """One config's Prometheus object and the label values it has admitted."""

    spec: MetricSpec
    metric: Any
    seen: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One metric sample as sent by a page or a server."""

    name: str
    value: float
    labels: Mapping[str, str]


def _make_metric(spec: MetricSpec) -> Any:
    labels = [*spec.labels, SITE_LABEL, GENERATION_LABEL]
    # registry=None: these are presented by UserMetricsCollector (with the generation label removed).
    if spec.type == "counter":
        return Counter(spec.family, spec.help, labels, registry=None)
    if spec.type == "gauge":
        return Gauge(spec.family, spec.help, labels, registry=None, multiprocess_mode="mostrecent")
    if spec.type == "histogram":
        if spec.buckets:
            return Histogram(spec.family, spec.help, labels, registry=None, buckets=spec.buckets)
        return Histogram(spec.family, spec.help, labels, registry=None)
    return Summary(spec.family, spec.help, labels, registry=None)


class UserMetrics:
    """The declared metrics of every site, kept in step with the `metric_configs` collection."""

    def __init__(self, docs: DocumentStore, bus: Bus, metrics: Metrics) -> None:
        self._docs = docs
        self._bus = bus
        self._metrics = metrics
        self.label_value_cap = LABEL_VALUE_CAP
        self.poll_interval_s = POLL_INTERVAL_S
        self._live: dict[str, _Live] = {}  # config id -> live family
        self._by_name: dict[tuple[str, str], _Live] = {}  # (site id, name) -> live family
        self._refused: dict[tuple[str, str], str] = {}  # (site id, name) -> why
        self._shared: frozenset[str] = frozenset()  # families declared by more than one site
        self._last_miss_reload = 0.0
        self._reloading: asyncio.Task[None] | None = None
        self._poller = Periodic("metric config poll", self.reload, lambda: self.poll_interval_s, log)
        self.overflow = metrics.user_label_overflow
        metrics.add_shared_collector(UserMetricsCollector(self), presents_prefix=FAMILY_PREFIX)

    async def start(self) -> None:
        """Load the configs, listen for change notices and poll."""
        await self.reload()
        await self._bus.subscribe(CHANGED_CHANNEL, self._on_changed)
        self._poller.start()

    async def stop(self) -> None:
        """Stop polling."""
        await self._poller.stop()
        task, self._reloading = self._reloading, None
        await cancel_and_wait(task)

    def _on_changed(self, _channel: str, _data: bytes) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception:  # the next poll retries; the current families stay as they are
            log.exception("could not reload metric configs")

    async def reload(self) -> None:
        """Re-read every config; keep unchanged families, add new ones, drop changed and deleted ones."""
        docs = await self._docs.find("metric_configs", {})
        specs: list[MetricSpec] = []
        refused: dict[tuple[str, str], str] = {}
        for doc in docs:
            try:
                specs.append(spec_from_doc(doc))
            except (ValueError, KeyError) as error:
                log.warning("skipping metric config %s: %s", doc.get("id"), error)
                refused[(str(doc.get("site_id")), str(doc.get("name")))] = (
                    f"this metric is not exported: {error}"
                )
        specs.sort(key=lambda s: (s.created_at, s.id))
        live: dict[str, _Live] = {}
        by_name: dict[tuple[str, str], _Live] = {}
        sites_of: dict[str, set[str]] = {}
        for spec in specs:
            sites_of.setdefault(spec.family, set()).add(spec.site_id)
            current = self._live.get(spec.id)
            entry = current if current and current.spec == spec else _Live(spec, _make_metric(spec))
            live[spec.id] = entry
            by_name[(spec.site_id, spec.name)] = entry
        # Swap whole dicts: the scrape (possibly on another thread) always sees one consistent set.
        self._shared = frozenset(family for family, sites in sites_of.items() if len(sites) > 1)
        self._live, self._by_name, self._refused = live, by_name, refused

    async def _find(self, site_id: str, name: str) -> _Live | None:
        entry = self._by_name.get((site_id, name))
        now = time.monotonic()
        if entry is None and now - self._last_miss_reload >= MISS_RELOAD_INTERVAL_S:
            self._last_miss_reload = now
            await self.reload()
            entry = self._by_name.get((site_id, name))
        return entry

    async def record(self, site_id: str, samples: Sequence[Sample]) -> int:
        """Check every sample against the site's configs, then apply them all (or none: raises Invalid
        with a field per broken sample). Returns how many were applied."""
        checked: list[tuple[_Live, Sample]] = []
        errors: dict[str, str] = {}
        for index, sample in enumerate(samples):
            where = f"metrics[{index}]"
            entry = await self._find(site_id, sample.name)
            if entry is None:
                why = self._refused.get((site_id, sample.name), "no metric config of this site has this name")
                errors[f"{where}.name"] = why
                continue
            problem = _check_sample(entry.spec, sample)
            if problem is not None:
                errors[f"{where}.{problem[0]}"] = problem[1]
                continue
            checked.append((entry, sample))
        if errors:
            raise Invalid("some metric samples do not match the site's metric configs", fields=errors)
        for entry, sample in checked:
            self._apply(entry, sample)
        return len(checked)

    def _apply(self, entry: _Live, sample: Sample) -> None:
        spec = entry.spec
        values = []
        for label in spec.labels:
            value = sample.labels.get(label, "")
            seen = entry.seen.setdefault(label, set())
            if value not in seen:
                if len(seen) >= self.label_value_cap:
                    self.overflow.labels(spec.site_id).inc()
                    value = OTHER
                else:
                    seen.add(value)
            values.append(value)
        child = entry.metric.labels(*values, spec.site_id, spec.generation)
        if spec.type == "counter":
            child.inc(sample.value)
        elif spec.type == "gauge":
            child.set(sample.value)
        else:
            child.observe(sample.value)

    def present(self, raw: Iterable[Metric]) -> Iterable[Metric]:
        """The raw families (one process's objects, or every worker's merged files) as exported: only
        live generations, without the generation label, one family per name."""
        by_generation = {entry.spec.generation: entry.spec for entry in self._live.values()}
        out: dict[str, Metric] = {}
        for family in raw:
            for sample in family.samples:
                spec = by_generation.get(sample.labels.get(GENERATION_LABEL, ""))
                if spec is None or spec.family != family.name:
                    continue
                target = out.get(spec.family)
                if target is None:
                    help_text = SHARED_HELP if spec.family in self._shared else spec.help
                    target = out[spec.family] = Metric(spec.family, help_text, spec.type)
                labels = {k: v for k, v in sample.labels.items() if k != GENERATION_LABEL}
                target.add_sample(sample.name, labels, sample.value, sample.timestamp)
        return out.values()

    def raw_families(self) -> Iterable[Metric]:
        """This process's live objects, or in multiprocess mode every worker's files of user families."""
        path = self._metrics.multiprocess_dir
        if path is None:
            for entry in list(self._live.values()):
                yield from entry.metric.collect()
            return
        yield from self._metrics.merged_families(FAMILY_PREFIX)


def _check_sample(spec: MetricSpec, sample: Sample) -> tuple[str, str] | None:
    """(field, why) when a sample does not fit its config."""
    if not math.isfinite(sample.value):
        return ("value", "must be a finite number")
    if spec.type == "counter" and sample.value < 0:
        return ("value", "counters only increase: the value must be 0 or more")
    for label, value in sample.labels.items():
        if label not in spec.labels:
            return (f"labels.{label}", "not a label of this metric")
        if not isinstance(value, str) or len(value) > MAX_LABEL_VALUE_LENGTH:
            return (f"labels.{label}", f"must be text of at most {MAX_LABEL_VALUE_LENGTH} characters")
    return None


class UserMetricsCollector(Collector):
    """Presents the user families at scrape time (see `UserMetrics.present`)."""

    def __init__(self, user_metrics: UserMetrics) -> None:
        self._user_metrics = user_metrics

    def collect(self) -> Iterable[Metric]:
        return self._user_metrics.present(self._user_metrics.raw_families())
