"""Ingestion on Redis (rate limits and sessions shared across processes), and what happens when Redis
goes down: events keep being accepted; rate limits fail open and count it; sessions fall back to
hourly ones; everything recovers when Redis returns, without a restart."""

from __future__ import annotations

import pytest

from domain.ingest.pipeline import IngestLimits
from handlers.context import AppContext
from tests.ingest.helpers import stored, stored_count
from tests.support.api import Api
from tests.support.ingest_sites import BROWSER_UA, ORIGIN, make_site_key
from tests.support.modes import redis_mode as app_config  # noqa: F401
from tests.support.redis_server import RedisServer

PATH = "/api/v1/collect"
HEADERS = {"Origin": ORIGIN, "User-Agent": BROWSER_UA}


@pytest.mark.reliability
async def test_rate_limits_and_sessions_live_in_redis(api: Api, ctx: AppContext) -> None:
    assert ctx.stores.kinds["kv"] == "redis"
    key = await make_site_key(ctx)
    ctx.ingest.limits = IngestLimits(per_key=3, per_site=100)
    answers = [await api.post(PATH, json={"name": "pageview"}, headers={**HEADERS, "X-Api-Key": key.value})]
    answers += [await api.post(PATH, json={"name": "click"}, headers={**HEADERS, "X-Api-Key": key.value})]
    rows = await stored(ctx, key.site_id)
    assert len({row.session_id for row in rows}) == 1  # one visitor, one session, kept in Redis
    answers += [
        await api.post(PATH, json={"name": "x"}, headers={**HEADERS, "X-Api-Key": key.value})
        for _ in range(4)
    ]
    assert 429 in [answer.status for answer in answers]


@pytest.mark.reliability
async def test_redis_down_fails_open_and_recovers(
    api: Api, ctx: AppContext, redis_back_up: RedisServer
) -> None:
    key = await make_site_key(ctx)
    headers = {**HEADERS, "X-Api-Key": key.value}
    assert (await api.post(PATH, json={"name": "before"}, headers=headers)).status == 202
    redis_back_up.stop()
    skipped_before = ctx.metrics.ingest_rate_limit_skipped._value.get()
    answer = await api.post(PATH, json={"events": [{"name": "during"}] * 3}, headers=headers)
    assert answer.status == 202 and answer.json == {"accepted": 3}
    assert ctx.metrics.ingest_rate_limit_skipped._value.get() == skipped_before + 1
    assert ctx.ingest.enricher.session_fallbacks >= 1
    during = [row for row in await stored(ctx, key.site_id) if row.name == "during"]
    assert len(during) == 3 and during[0].session_id  # an hourly session instead of none
    redis_back_up.start()
    answer = await api.post(PATH, json={"name": "after"}, headers=headers)
    assert answer.status == 202
    # the client reconnects by itself: rate limits are checked again
    skipped = ctx.metrics.ingest_rate_limit_skipped._value.get()
    assert (await api.post(PATH, json={"name": "after"}, headers=headers)).status == 202
    assert ctx.metrics.ingest_rate_limit_skipped._value.get() == skipped
    assert await stored_count(ctx, key.site_id) == 6
