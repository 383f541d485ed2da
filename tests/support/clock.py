"""A clock that moves only when a test says so, for code that takes a `clock` callable (expiries, windows,
stats "now"): a TTL test advances it instead of sleeping past the TTL."""

from __future__ import annotations

from typing import Any

import pytest

from storage.embedded.memory_kv import MemoryKeyValue


class FakeClock:
    """Seconds as a float, like `time.time` or `time.monotonic`; call it to read, `advance` to move."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`."""
        self.now += seconds


def freeze_kv_clock(kv: Any, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Give a running context's in-process key-value store (`ctx.stores.kv`, a MemoryKeyValue) a fake
    clock that starts at the store's current time, for this test: rate-limit windows stay put until the
    test advances it, and expiries pass without waiting."""
    assert isinstance(kv, MemoryKeyValue), "only the in-process store takes a clock"
    clock = FakeClock(kv._clock())
    monkeypatch.setattr(kv, "_clock", clock)
    return clock
