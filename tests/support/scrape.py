"""Reading a Prometheus text exposition in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, frozenset of label pairs): value} for every sample of a scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample, or None when the scrape does not have it."""
    return samples(text).get((name, frozenset(labels.items())))


def family_names(text: str) -> set[str]:
    """Every family name in a scrape."""
    return {family.name for family in text_string_to_metric_families(text)}
