"""Waiting for a condition instead of sleeping a fixed time: `until` for async tests, `until_sync` for
sync ones (subprocess servers, browser tests). Both poll a predicate and return its first truthy value,
or fail the test with a message saying what never happened."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Message = str | Callable[[], str]


def _failure(message: Message, timeout: float) -> AssertionError:
    text = message() if callable(message) else message
    return AssertionError(f"{text} (waited {timeout:g} s)")


async def until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: Message = "condition not met in time",
) -> T:
    """Poll `predicate` (a plain or an async callable) every `interval` seconds until it returns something
    truthy, and return that; fail with `message` (a string, or a callable read at failure time) past
    `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise _failure(message, timeout)
        await asyncio.sleep(interval)


def until_sync(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.05,
    message: Message = "condition not met in time",
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """`until` for code without an event loop. `pause` waits between polls: a Playwright test passes the
    page's own wait so its sync API keeps dispatching events meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(message, timeout)
        pause(interval)
