"""IOLoop lag: how late a callback scheduled on the loop actually runs (a context component).

Every `interval` seconds it asks the loop to wake it after `interval` and observes how much later than that
the wake-up came. Anything that blocks the loop (a synchronous query, hashing, a large JSON encode) shows
up as lag for every request served by that process, so this is the figure the soak and benchmarks report
as "loop lag p99" (`histogram_quantile(0.99, rate(eddy_ioloop_lag_seconds_bucket[5m]))`).
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

from runtime.tasks import cancel_and_wait

# Lag below a millisecond is scheduling noise; a quarter second or more is a stall users notice.
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LoopLagMonitor:
    """Samples the lag of the running loop into a histogram until stopped."""

    def __init__(self, histogram: Histogram, interval: float = 0.1) -> None:
        self._histogram = histogram
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start sampling on the running loop."""
        self._task = asyncio.create_task(self._run(), name="eddy-loop-lag")

    async def stop(self) -> None:
        """Stop sampling."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            planned = time.monotonic() + self._interval
            await asyncio.sleep(self._interval)
            self._histogram.observe(max(0.0, time.monotonic() - planned))
