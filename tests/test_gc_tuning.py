"""server/gc_tuning.py: start-up objects are frozen out of the collector and the first generation waits
for more allocations; cycles made afterwards are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from server.gc_tuning import YOUNG_THRESHOLD, tune_for_serving


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freezes_start_up_objects_and_raises_the_young_threshold(restore_gc: None) -> None:
    before = gc.get_threshold()
    built_at_start_up = [object() for _ in range(10)]
    tune_for_serving()
    assert gc.get_freeze_count() > len(built_at_start_up)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])


def test_cycles_made_after_tuning_are_still_collected(restore_gc: None) -> None:
    tune_for_serving()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # a cycle: reference counting alone cannot free it
    gc.collect()
    assert gone() is None
