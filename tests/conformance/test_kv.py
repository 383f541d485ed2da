"""KeyValue conformance: values with expiry, set-if-absent, counters, fixed windows, scored member sets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Elapse = Callable[[float], Awaitable[None]]


async def test_set_get_delete_and_expiry(kv: Any, elapse: Elapse) -> None:
    assert await kv.get("a") is None
    await kv.set("a", b"1", ttl=0.3)
    assert await kv.get("a") == b"1"
    await kv.set("b", b"2", ttl=30)
    await kv.delete("b")
    assert await kv.get("b") is None
    await elapse(0.45)
    assert await kv.get("a") is None


async def test_set_if_absent(kv: Any, elapse: Elapse) -> None:
    assert await kv.set_if_absent("lock", b"x", ttl=0.3) is True
    assert await kv.set_if_absent("lock", b"y", ttl=0.3) is False
    assert await kv.get("lock") == b"x"
    await elapse(0.45)
    assert await kv.set_if_absent("lock", b"z", ttl=1) is True


async def test_incr_counts_and_applies_ttl_once(kv: Any, elapse: Elapse) -> None:
    assert [await kv.incr("v") for _ in range(3)] == [1, 2, 3]
    assert await kv.get("v") == b"3"  # a counter reads back as its decimal text
    assert await kv.incr("w", ttl=0.3) == 1
    await elapse(0.15)
    assert await kv.incr("w", ttl=0.3) == 2  # ttl not extended by later increments
    await elapse(0.3)
    assert await kv.incr("w", ttl=0.3) == 1


async def test_hit_counts_in_a_fixed_window(kv: Any, elapse: Elapse) -> None:
    first = await kv.hit("rl", window=0.4)
    second = await kv.hit("rl", window=0.4)
    assert first[0] == 1 and second[0] == 2
    assert 0 < second[1] <= 0.4 + 1e-6  # at most the window (a frozen clock leaves all of it, to rounding)
    await elapse(0.5)
    assert (await kv.hit("rl", window=0.4))[0] == 1


async def test_scored_members(kv: Any) -> None:
    await kv.touch_members("now", {"a": 10, "b": 20, "c": 30}, ttl=30)
    await kv.touch_members("now", {"a": 25}, ttl=30)  # later score wins
    await kv.touch_members("now", {"c": 5}, ttl=30)  # an older score never lowers it
    assert await kv.top_members("now", 0, 10) == [("c", 30.0), ("a", 25.0), ("b", 20.0)]
    assert await kv.top_members("now", 0, 1) == [("c", 30.0)]
    assert await kv.count_members("now", 21) == 2  # drops b
    assert await kv.top_members("now", 0, 10) == [("c", 30.0), ("a", 25.0)]
    assert await kv.count_members("missing", 0) == 0


async def test_member_set_expires(kv: Any, elapse: Elapse) -> None:
    await kv.touch_members("gone", {"a": 1}, ttl=0.3)
    await elapse(0.45)
    assert await kv.count_members("gone", 0) == 0


async def test_ping(kv: Any) -> None:
    await kv.ping()
