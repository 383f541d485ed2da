"""Bus conformance: delivery between two clients, per-channel isolation, unsubscribe, batch publish."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.buses import make_bus
from tests.support.redis_server import RedisServer
from tests.support.until import until


async def until_subscribed(publisher: Any, subscriber: Any) -> None:
    """Wait until the subscriber's subscriptions so far are in effect: with Redis, SUBSCRIBE is answered
    asynchronously, so a probe channel subscribed after them is published to until a probe arrives
    (one connection carries them all, and Redis runs its commands in order)."""
    probes: list[bytes] = []
    probe = await subscriber.subscribe("probe", lambda _channel, data: probes.append(data))

    async def delivered() -> bool:
        await publisher.publish("probe", b"?")
        return bool(probes)

    await until(delivered, timeout=5, interval=0.02, message="the subscriptions never took effect")
    await probe.unsubscribe()


async def test_publish_reaches_subscribers_of_the_channel_only(
    bus_kind: str, request: pytest.FixtureRequest, unique_prefix: str
) -> None:
    publisher = make_bus(bus_kind, request, unique_prefix)
    # with Redis, the subscriber is a second client (as another process would be)
    subscriber = publisher if bus_kind == "memory" else make_bus(bus_kind, request, unique_prefix)
    await publisher.open()
    if subscriber is not publisher:
        await subscriber.open()
    try:
        got: list[tuple[str, bytes]] = []
        other: list[bytes] = []
        sub = await subscriber.subscribe("site:1", lambda ch, data: got.append((ch, data)))
        await subscriber.subscribe("site:2", lambda ch, data: other.append(data))
        await until_subscribed(publisher, subscriber)
        await publisher.publish("site:1", b"hello")
        await publisher.publish_many([("site:1", b"a"), ("site:1", b"b"), ("site:3", b"nobody")])
        await until(lambda: len(got) == 3, timeout=3)
        assert got == [("site:1", b"hello"), ("site:1", b"a"), ("site:1", b"b")]
        assert other == []
        await sub.unsubscribe()  # at once: a message still on its way finds no callback
        await publisher.publish("site:1", b"after")
        await publisher.publish("site:2", b"still")
        await until(lambda: other == [b"still"], timeout=3)
        assert len(got) == 3
        assert subscriber.healthy
    finally:
        await publisher.close()
        if subscriber is not publisher:
            await subscriber.close()


@pytest.mark.expect_errors("eddy.bus")
async def test_async_subscribers_and_a_failing_one(
    bus_kind: str, request: pytest.FixtureRequest, unique_prefix: str
) -> None:
    bus = make_bus(bus_kind, request, unique_prefix)
    await bus.open()
    try:
        got: list[bytes] = []

        def broken(channel: str, data: bytes) -> None:
            raise RuntimeError("subscriber bug")

        async def slow(channel: str, data: bytes) -> None:
            await asyncio.sleep(0)
            got.append(data)

        await bus.subscribe("c", broken)
        await bus.subscribe("c", slow)
        await until_subscribed(bus, bus)
        await bus.publish("c", b"x")
        await until(lambda: got == [b"x"], timeout=3)
        await bus.ping()
    finally:
        await bus.close()


async def test_redis_bus_recovers_after_a_restart(
    request: pytest.FixtureRequest, unique_prefix: str, redis_back_up: RedisServer
) -> None:
    server = redis_back_up
    bus = make_bus("redis", request, unique_prefix)
    await bus.open()
    try:
        got: list[bytes] = []
        await bus.subscribe("c", lambda ch, data: got.append(data))
        await until_subscribed(bus, bus)
        server.stop()
        await until(lambda: not bus.healthy, timeout=5)
        server.start()
        await until(lambda: bus.healthy, timeout=10)
        await until_subscribed(bus, bus)  # resubscribed on the new connection
        await bus.publish("c", b"back")
        await until(lambda: got == [b"back"], timeout=3)
        assert bus.reconnects >= 1
    finally:
        await bus.close()
