"""The MongoDB conformance legs keep their fixtures: the events collection's TTL (retention_days after each
event's ts) must not reach the oldest fixture event while the suite runs, however long after 2025 it runs."""

from __future__ import annotations

import time

import pytest

from storage.mongo.events import MAX_RETENTION_DAYS, MongoEventStore
from tests.support.event_fixtures import FIXTURE, T0
from tests.support.mongo import MONGO_RETENTION_DAYS

DAY_MS = 86_400_000


def test_the_mongo_legs_retention_covers_every_fixture_for_years() -> None:
    oldest = min(T0, *(e.ts for e in FIXTURE))
    age_days = (time.time() * 1000 - oldest) / DAY_MS
    assert MONGO_RETENTION_DAYS - age_days > 5 * 365, "fixtures would expire within five years"
    MongoEventStore("mongodb://127.0.0.1:1/", retention_days=MONGO_RETENTION_DAYS)  # accepted by the store


def test_retention_beyond_the_servers_ttl_range_is_refused() -> None:
    with pytest.raises(ValueError):
        MongoEventStore("mongodb://127.0.0.1:1/", retention_days=MAX_RETENTION_DAYS + 1)
