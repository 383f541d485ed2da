"""Ending a background task: cancel it and wait until it has really ended.

Every component that owns a loop task (the bus readers, the loop-lag sampler, the live hub's refresh, the
Mongo rollup refresher, `Periodic`) stops it the same way, so a stop never returns while the task can
still run a step, and the cancellation it caused is not mistaken for a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` (nothing when None) and wait for it to end, swallowing its CancelledError."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
