"""Ids for events sent without one: 16 hex digits each, never repeated across pool refills."""

from __future__ import annotations

import re

from domain.ingest.enrich import RandomIds


def test_ids_are_hex_and_distinct_across_refills() -> None:
    ids = RandomIds(chunk=64)  # 8 ids per pool read, so this crosses many refills and a partial one
    taken = [ids.take(count) for count in (1, 3, 8, 5, 20, 1, 7) * 20]
    singles = [chunk[i : i + 16] for chunk in taken for i in range(0, len(chunk), 16)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in singles)
    assert len(singles) == sum((1, 3, 8, 5, 20, 1, 7)) * 20
    assert len(set(singles)) == len(singles)


def test_a_request_larger_than_the_pool_gets_all_its_ids() -> None:
    ids = RandomIds(chunk=16)
    many = ids.take(500)
    assert len(many) == 500 * 16
    assert len({many[i : i + 16] for i in range(0, len(many), 16)}) == 500
