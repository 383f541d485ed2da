"""The stats cache's version bumps: coalesced to at most one per site per period, never lost."""

from __future__ import annotations

from domain.stats.cache import StatsCache, VersionBumper
from storage.embedded.memory_kv import MemoryKeyValue
from storage.records import Event
from tests.support.until import until


class CountingCache(StatsCache):
    def __init__(self) -> None:
        super().__init__(MemoryKeyValue())
        self.bumps: list[str] = []

    async def bump(self, site_id: str) -> None:
        self.bumps.append(site_id)
        await super().bump(site_id)


def batch(*sites: str) -> list[Event]:
    return [Event(id=f"{s}{i}", site_id=s, ts=0, name="pageview") for i, s in enumerate(sites)]


async def test_bumps_are_coalesced_per_site_and_the_last_one_is_kept() -> None:
    cache = CountingCache()
    bumper = VersionBumper(cache, coalesce_s=0.2)
    before = await cache.version("a")
    for _ in range(50):
        bumper(batch("a", "a", "b"))
    await until(lambda: len(cache.bumps) == 2)
    assert sorted(cache.bumps) == ["a", "b"]  # the first batch of each site bumps at once
    assert await cache.version("a") != before
    await until(lambda: len(cache.bumps) == 4)  # at the end of the 0.2 s quiet period
    assert sorted(cache.bumps) == ["a", "a", "b", "b"]  # one deferred bump covers the other 49 batches
    bumper(batch("c"))
    bumper(batch("c"))
    await bumper.stop()  # a pending bump runs at stop
    assert cache.bumps.count("c") == 2


async def test_cache_entries_are_keyed_by_version() -> None:
    cache = StatsCache(MemoryKeyValue())
    key = cache.entry_key("s", await cache.version("s"), "q")
    await cache.put(key, {"x": 1})
    assert await cache.get(key, dict[str, int]) == {"x": 1}
    assert await cache.get(key, list[int]) is None  # an entry of another shape counts as absent
    await cache.bump("s")
    assert cache.entry_key("s", await cache.version("s"), "q") != key
