"""runtime/periodic.py: rounds repeat, a failing round is logged and reported and the next one runs, the
interval is re-read each round, and stop() ends the loop for good."""

from __future__ import annotations

import asyncio
import logging

import pytest

from runtime.periodic import Periodic
from tests.support.until import until

log = logging.getLogger("tests.periodic")


async def test_rounds_repeat_until_stopped() -> None:
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds))

    periodic = Periodic("counting", work, lambda: 0.01, log)
    periodic.start()
    periodic.start()  # a second start does not add a second loop
    await until(lambda: len(rounds) >= 3)
    assert periodic.running
    await periodic.stop()
    assert not periodic.running
    # stop() waited for the loop's task to end, so no round can follow
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "eddy-counting"]
    assert rounds == list(range(len(rounds)))
    await periodic.stop()  # stopping twice is harmless


@pytest.mark.expect_errors("tests.periodic")
async def test_a_failing_round_is_reported_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:  # plain functions work too
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store down")

    periodic = Periodic("flaky", work, lambda: 0.01, log, on_error=errors.append)
    with caplog.at_level(logging.ERROR, logger="tests.periodic"):
        periodic.start()
        await until(lambda: len(calls) >= 3)
        await periodic.stop()
    assert [str(error) for error in errors] == ["store down"]
    assert any("flaky failed" in record.getMessage() for record in caplog.records)


async def test_the_interval_is_read_before_every_sleep() -> None:
    settings = {"interval": 0.01}
    reads: list[float] = []
    calls: list[int] = []

    def interval() -> float:
        reads.append(settings["interval"])
        return settings["interval"]

    def work() -> None:
        calls.append(1)
        settings["interval"] = 3600  # from now on, no more rounds

    periodic = Periodic("slowing", work, interval, log)
    periodic.start()
    await until(lambda: len(reads) == 2)  # the loop has begun its second sleep
    assert reads == [0.01, 3600] and len(calls) == 1
    await periodic.stop()
