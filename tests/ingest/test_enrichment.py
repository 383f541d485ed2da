"""Enrichment parts on real data: user agents, countries, sources, salts shared through the document
store, sessions by inactivity in the key-value store."""

from __future__ import annotations

import asyncio
import time

import pytest

from domain.ingest.clients import ClientClassifier
from domain.ingest.enrich import country_of
from domain.ingest.sources import is_spam, parse_page_url, source_name
from domain.ingest.visitor import SESSION_TIMEOUT_S, SaltBook, Sessions, utc_day, visitor_hash
from handlers.context import AppContext
from storage.embedded.memory_kv import MemoryKeyValue
from tests.support.clock import FakeClock


@pytest.mark.parametrize(
    ("ua", "browser", "os", "device", "bot"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "iOS",
            "mobile",
            False,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/16.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "iOS",
            "tablet",
            False,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Safari/605.1.15",
            "Safari",
            "Mac OS X",
            "desktop",
            False,
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "bingbot",
            "",
            "bot",
            True,
        ),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot", "", "bot", True),
    ],
)
def test_user_agents(ua: str, browser: str, os: str, device: str, bot: bool) -> None:
    info = ClientClassifier().classify(ua)
    assert (info.browser, info.os, info.device, info.bot) == (browser, os, device, bot)


def test_countries_from_the_bundled_database() -> None:
    assert country_of("8.8.8.8") == "US"
    assert country_of("81.2.69.142") == "GB"
    assert country_of("127.0.0.1") == ""
    assert country_of("not an ip") == ""


def test_sources_and_campaigns() -> None:
    assert source_name("google.co.uk") == "Google"
    assert source_name("t.co") == "Twitter"
    assert source_name("blog.example.org") == "blog.example.org"
    assert is_spam("semalt.com") and is_spam("www.semalt.com") and not is_spam("example.com")
    page = parse_page_url("https://www.Shop.example/a/b?utm_source=news&utm_campaign=x&fbclid=123")
    assert (page.hostname, page.path, page.utm[0], page.utm[2], page.click_source) == (
        "shop.example",
        "/a/b",
        "news",
        "x",
        "Facebook",
    )


async def test_salts_are_shared_and_rotate_daily(ctx: AppContext) -> None:
    now = time.time()
    first, second = SaltBook(ctx.stores.docs), SaltBook(ctx.stores.docs)
    (a, _), (b, _) = await asyncio.gather(first.salts(now), second.salts(now))
    assert a == b and len(a) == 32
    stored = await ctx.stores.docs.get("salts", utc_day(now))
    assert stored is not None and bytes.fromhex(stored["salt"]) == a
    tomorrow = now + 86400
    new, yesterday = await SaltBook(ctx.stores.docs).salts(tomorrow)
    assert new != a and yesterday == a
    # two days on, the oldest salt is destroyed
    await SaltBook(ctx.stores.docs).salts(now + 2 * 86400)
    assert await ctx.stores.docs.get("salts", utc_day(now)) is None
    assert visitor_hash(a, "s", "1.2.3.4", "ua") != visitor_hash(new, "s", "1.2.3.4", "ua")
    assert visitor_hash(a, "s", "1.2.3.4", "ua") != visitor_hash(a, "other", "1.2.3.4", "ua")


async def test_sessions_end_after_inactivity() -> None:
    clock = FakeClock()
    sessions = Sessions(MemoryKeyValue(clock=clock))
    first, visitor = await sessions.session_for("s", "v1")
    again, _ = await sessions.session_for("s", "v1")
    other, _ = await sessions.session_for("s", "v2")
    assert first == again and other != first and visitor == "v1"
    # (the requests above came within a minute of the first, so none renewed the session's expiry)
    clock.advance(SESSION_TIMEOUT_S - 1)
    assert (await sessions.session_for("s", "v1"))[0] == first  # still the same visit
    clock.advance(1)  # 30 minutes since the session was written
    later, _ = await sessions.session_for("s", "v1")
    assert later != first


async def test_sessions_carry_over_midnight(ctx: AppContext) -> None:
    sessions = Sessions(ctx.stores.kv)
    before, _ = await sessions.session_for("s", "yesterday-id")
    after, visitor = await sessions.session_for("s", "today-id", previous_visitor="yesterday-id")
    assert after == before and visitor == "yesterday-id"
