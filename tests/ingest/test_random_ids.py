"""Ids for events sent without one: time-ordered, unguessable, never repeated across pool refills."""

from __future__ import annotations

import re

from domain.ingest.enrich import RandomIds

NOW_MS = 1_780_000_000_123


def test_ids_are_time_prefixed_hex_and_distinct_across_refills() -> None:
    ids = RandomIds(chunk=64)  # 9 ids per pool read, so this crosses many refills and partial ones
    counts = (1, 3, 8, 5, 20, 1, 7) * 20
    taken = [value for count in counts for value in ids.take(count, NOW_MS)]
    assert len(taken) == sum(counts)
    assert all(re.fullmatch(f"{NOW_MS:011x}[0-9a-f]{{14}}", value) for value in taken)
    assert len(set(taken)) == len(taken)


def test_later_requests_sort_after_earlier_ones() -> None:
    ids = RandomIds()
    earlier, later = ids.take(50, NOW_MS), ids.take(50, NOW_MS + 1)
    assert max(earlier) < min(later)  # the dedupe index takes new ids at its end


def test_a_request_larger_than_the_pool_gets_all_its_ids() -> None:
    ids = RandomIds(chunk=16)
    many = ids.take(500, NOW_MS)
    assert len(set(many)) == 500
