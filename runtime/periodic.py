"""`Periodic`: one background task that runs a piece of work every few seconds until it is stopped.

Used by everything that sweeps, polls or refreshes on a timer (alert checks, visitors-now gauges, metric
config polls, expiry sweeps), so each of them starts, stops and survives a failing round the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from runtime.tasks import cancel_and_wait

Work = Callable[[], Awaitable[object] | object]


@dataclass(eq=False)
class Periodic:
    """Runs `work` every `interval_s()` seconds (sleep first, then work) on the running loop.

    `interval_s` is read before every sleep, so a changed setting applies from the next round. An
    exception from `work` is logged with `what` and passed to `on_error`; the next round still runs,
    because a store or network outage must never end a background loop."""

    what: str
    work: Work
    interval_s: Callable[[], float]
    log: logging.Logger
    on_error: Callable[[BaseException], None] | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        """Whether the loop is started and not stopped."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin the rounds (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"eddy-{self.what}")

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended (a round in progress is cancelled too)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s())
            try:
                result = self.work()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.log.exception("%s failed; the next round retries", self.what)
                if self.on_error is not None:
                    self.on_error(error)
