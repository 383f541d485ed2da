"""Metric configs (`metric_configs` documents) read defensively into specs.

A document: {id, site_id, name, type: counter|gauge|histogram|summary, help, labels: [names],
buckets: [floats]|null, created_at, updated_at}. A document that breaks a rule here is skipped (logged),
never exported, so a bad config cannot break the scrape for every site.

Exported family name: `eddy_user_<mark>_<name>`, `<mark>` standing for the type (`tally` counter,
`level` gauge, `dist` histogram, `quant` summary; a counter's trailing `_total` is the sample suffix),
labels: the config's labels plus `site`. The type is part of the name so that what one site declares
can never change how another site's metric is exported: two sites declaring `temperature` as a gauge
and as a histogram get `eddy_user_level_temperature` and `eddy_user_dist_temperature` (before, the
older config owned the name and the other site's samples were refused), and a family that several
sites declare shows a neutral help text instead of one site's. Marks, not the types' words or
letters: Prometheus' lint refuses type names and unit abbreviations (`h`, `s`) in metric names.
Names ending in a suffix Prometheus gives a meaning (`_count`, `_sum`, `_bucket`, `_created`, and
`_total` except on counters) are refused: they would collide with the samples of another family.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

METRIC_TYPES = ("counter", "gauge", "histogram", "summary")
TYPE_MARKS = {"counter": "tally", "gauge": "level", "histogram": "dist", "summary": "quant"}
FAMILY_PREFIX = "eddy_user_"
SITE_LABEL = "site"
# Internal label naming the config generation (id and updated_at); stripped before exposition. Values of
# an older generation (a deleted, re-created or changed config) are left out of every scrape.
GENERATION_LABEL = "eddy_config_generation"
RESERVED_LABELS = frozenset({SITE_LABEL, GENERATION_LABEL, "le", "quantile"})
# The management API accepts the same names (domain/accounts/metric_configs.py).
NAME_PATTERN = re.compile(r"^(?!__)[a-zA-Z_:][a-zA-Z0-9_:]{0,99}$")
LABEL_PATTERN = re.compile(r"^(?!__)[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
RESERVED_SUFFIXES = ("_count", "_sum", "_bucket", "_created", "_total", "_info")
MAX_LABELS = 10
MAX_BUCKETS = 30
MAX_HELP = 300
SHARED_HELP = "A metric several sites declare (each site's own help: GET /api/v1/sites/{site}/metrics)"


@dataclass(frozen=True)
class MetricSpec:
    """One site's declared metric, validated."""

    id: str
    site_id: str
    name: str
    type: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None
    created_at: float
    generation: str

    @property
    def family(self) -> str:
        """The exported family name (counters without their `_total` sample suffix)."""
        base = self.name.removesuffix("_total") if self.type == "counter" else self.name
        return f"{FAMILY_PREFIX}{TYPE_MARKS[self.type]}_{base}"


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def spec_from_doc(doc: dict[str, Any]) -> MetricSpec:
    """A validated spec from a document; raises ValueError naming the broken rule."""
    name = doc.get("name")
    kind = doc.get("type")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid metric name {name!r}")
    if kind not in METRIC_TYPES:
        raise ValueError(f"invalid metric type {kind!r}")
    stem = name.removesuffix("_total") if kind == "counter" else name
    if stem.endswith(RESERVED_SUFFIXES) or not stem:
        raise ValueError(f"metric name {name!r} ends with a reserved suffix")
    labels = doc.get("labels") or []
    if not isinstance(labels, list) or len(labels) > MAX_LABELS:
        raise ValueError("labels must be a list of at most 10 names")
    for label in labels:
        if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label) or label in RESERVED_LABELS:
            raise ValueError(f"invalid or reserved label name {label!r}")
    if len(set(labels)) != len(labels):
        raise ValueError("label names repeat")
    buckets = doc.get("buckets")
    if buckets is not None:
        if kind != "histogram" or not isinstance(buckets, list) or not 0 < len(buckets) <= MAX_BUCKETS:
            raise ValueError("buckets are 1 to 30 numbers, on histograms only")
        if not all(_finite_number(b) for b in buckets):
            raise ValueError("buckets must be finite numbers")
        if sorted(set(buckets)) != list(buckets):
            raise ValueError("buckets must be strictly increasing")
    help_text = doc.get("help") or name
    if not isinstance(help_text, str):
        raise ValueError("help must be text")
    return MetricSpec(
        id=str(doc["id"]),
        site_id=str(doc["site_id"]),
        name=name,
        type=kind,
        help=help_text[:MAX_HELP],
        labels=tuple(labels),
        buckets=tuple(float(b) for b in buckets) if buckets else None,
        created_at=float(doc.get("created_at") or 0.0),
        generation=f"{doc['id']}:{doc.get('updated_at') or doc.get('created_at') or 0}",
    )
