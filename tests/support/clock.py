"""A clock that moves only when a test says so, for code that takes a `clock` callable (expiries, windows,
stats "now"): a TTL test advances it instead of sleeping past the TTL."""

from __future__ import annotations


class FakeClock:
    """Seconds as a float, like `time.time` or `time.monotonic`; call it to read, `advance` to move."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`."""
        self.now += seconds
