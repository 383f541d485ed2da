"""Per-site Prometheus metric declarations: {id, site_id, name, type, help, labels, buckets, created_at,
updated_at}.

Names and label names follow Prometheus' rules (`[a-zA-Z_:][a-zA-Z0-9_:]*` and `[a-zA-Z_][a-zA-Z0-9_]*`;
`__` prefixes are reserved). Label names the exposition adds itself (`le`, `quantile`, `site`) are refused,
and so are buckets on anything but a histogram. Names are unique per site (409).

Every change is announced on the bus channel `CHANGED_CHANNEL`, so each process's exporter
(domain/user_metrics) reloads at once instead of at its next poll.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.site_docs import StoredSite
from domain.accounts.tokens import new_id
from domain.errors import Conflict, Invalid
from domain.site_items import given_changes, site_item
from storage.errors import DuplicateKeyError
from storage.ports import Bus, DocumentStore

log = logging.getLogger("eddy.accounts")

MAX_LABELS = 10
MAX_BUCKETS = 30
MAX_CONFIGS_PER_SITE = 200
RESERVED_LABELS = frozenset({"le", "quantile", "site"})
CHANGED_CHANNEL = "metric_configs:changed"
MetricName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^(?!__)[a-zA-Z_:][a-zA-Z0-9_:]*$(?!\n)")
]
LabelName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$(?!\n)")
]
Labels = Annotated[list[LabelName], msgspec.Meta(max_length=MAX_LABELS)]
Buckets = Annotated[list[float], msgspec.Meta(min_length=1, max_length=MAX_BUCKETS)]
Help = Annotated[str, msgspec.Meta(max_length=300)]
MetricType = Literal["counter", "gauge", "histogram", "summary"]


class MetricCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new metric declaration."""

    name: MetricName
    type: MetricType
    help: Help = ""
    labels: Labels = []
    buckets: Buckets | None = None


class MetricUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a declaration (the type cannot change: series of another type would clash)."""

    name: MetricName | msgspec.UnsetType = msgspec.UNSET
    help: Help | msgspec.UnsetType = msgspec.UNSET
    labels: Labels | msgspec.UnsetType = msgspec.UNSET
    buckets: Buckets | msgspec.UnsetType | None = msgspec.UNSET


class MetricOut(msgspec.Struct):
    """A metric declaration as the API shows it."""

    id: str
    site_id: str
    name: str
    type: str
    help: str
    labels: list[str]
    buckets: list[float] | None
    created_at: float
    updated_at: float


class MetricAnswer(msgspec.Struct):
    """`{metric}`."""

    metric: MetricOut


class MetricList(msgspec.Struct):
    """`{metrics}`."""

    metrics: list[MetricOut]


def metric_out(doc: dict[str, Any]) -> MetricOut:
    """The public view of a metric config document."""
    return msgspec.convert(doc, MetricOut)


def check_shape(kind: str, labels: list[str], buckets: list[float] | None) -> None:
    """Rules a schema cannot say: unique, non-reserved labels; buckets only for histograms, increasing."""
    if len(set(labels)) != len(labels):
        raise Invalid("label names repeat", fields={"labels": "duplicate label name"})
    reserved = RESERVED_LABELS.intersection(labels)
    if reserved:
        raise Invalid("reserved label name", fields={"labels": f"reserved: {', '.join(sorted(reserved))}"})
    if buckets is None:
        return
    if kind != "histogram":
        raise Invalid("only histograms have buckets", fields={"buckets": "only for type histogram"})
    if not all(math.isfinite(b) for b in buckets) or any(a >= b for a, b in itertools.pairwise(buckets)):
        raise Invalid("buckets must be finite and increasing", fields={"buckets": "finite, increasing"})


class MetricConfigService:
    """Metric declarations of sites."""

    def __init__(self, docs: DocumentStore, bus: Bus) -> None:
        self._docs = docs
        self._bus = bus

    async def announce_change(self, site_id: str) -> None:
        """Tell every process that this site's declarations changed (best effort: exporters also poll)."""
        try:
            await self._bus.publish(CHANGED_CHANNEL, site_id.encode())
        except Exception:  # a bus outage must not fail the API call; exporters poll anyway
            log.warning("could not announce a metric config change for site %s", site_id, exc_info=True)

    async def create(self, site: StoredSite, body: MetricCreate) -> MetricOut:
        """Declare a metric; 409 if the name is taken on this site."""
        check_shape(body.type, body.labels, body.buckets)
        if await self._docs.count("metric_configs", {"site_id": site.id}) >= MAX_CONFIGS_PER_SITE:
            raise Conflict(f"a site has at most {MAX_CONFIGS_PER_SITE} metrics", code="too_many_metrics")
        now = time.time()
        doc = {
            "id": new_id(),
            "site_id": site.id,
            "name": body.name,
            "type": body.type,
            "help": body.help,
            "labels": body.labels,
            "buckets": body.buckets,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._docs.insert("metric_configs", doc)
        except DuplicateKeyError:
            raise Conflict("a metric with this name exists", code="name_taken") from None
        await self.announce_change(site.id)
        return metric_out(doc)

    async def list(self, site: StoredSite) -> list[MetricOut]:
        """The site's metric declarations, by name."""
        rows = await self._docs.find("metric_configs", {"site_id": site.id}, sort="name")
        return [metric_out(row) for row in rows]

    async def get(self, site: StoredSite, metric_id: str) -> dict[str, Any]:
        """A declaration of this site; 404 otherwise."""
        return await site_item(self._docs, "metric_configs", site.id, metric_id, "no such metric")

    async def update(self, site: StoredSite, metric_id: str, body: MetricUpdate) -> MetricOut:
        """Apply changes; 409 on a name clash."""
        doc = await self.get(site, metric_id)
        changes = given_changes(body)
        merged = {**doc, **changes}
        check_shape(merged["type"], merged["labels"], merged["buckets"])
        changes["updated_at"] = time.time()
        try:
            await self._docs.update("metric_configs", {"id": doc["id"]}, changes)
        except DuplicateKeyError:
            raise Conflict("a metric with this name exists", code="name_taken") from None
        await self.announce_change(site.id)
        return metric_out({**merged, **changes})

    async def delete(self, site: StoredSite, metric_id: str) -> None:
        """Remove a declaration."""
        doc = await self.get(site, metric_id)
        await self._docs.delete("metric_configs", {"id": doc["id"]})
        await self.announce_change(site.id)
