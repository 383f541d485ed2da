"""The per-site ingest limit (RELIABILITY.md item 14): keys of one site share the site's budget, so a
site cannot multiply its allowance by creating keys; another site is not affected.
The per-key limit is tested in tests/ingest/test_collect_http.py::test_rate_limits_per_key."""

from __future__ import annotations

import pytest

from domain.ingest.pipeline import IngestLimits
from handlers.context import AppContext
from tests.ingest.helpers import dropped, stored_count
from tests.support.api import Api
from tests.support.clock import freeze_kv_clock
from tests.support.ingest_sites import make_key, make_site_key

pytestmark = pytest.mark.reliability

PATH = "/api/v1/collect"


def _headers(key: str) -> dict[str, str]:
    return {"X-Api-Key": key, "User-Agent": "shop-backend/1.0"}


async def test_keys_of_one_site_share_the_site_limit(
    api: Api, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await make_site_key(ctx, "secret")
    second = await make_key(ctx, first.site_id, "secret")
    third = await make_key(ctx, first.site_id, "secret")
    elsewhere = await make_site_key(ctx, "secret")
    ctx.ingest.limits = IngestLimits(per_key=100, per_site=3)
    freeze_kv_clock(ctx.stores.kv, monkeypatch)  # every request falls in one one-second window
    answers = []
    for key in (first, second, third, first, second):
        answers.append(await api.post(PATH, json={"name": "buy"}, headers=_headers(key.value)))
    other = await api.post(PATH, json={"name": "buy"}, headers=_headers(elsewhere.value))
    assert [a.status for a in answers] == [202, 202, 202, 429, 429]
    limited = answers[3]
    assert limited.error_code == "rate_limited"
    assert "site" in limited.json["error"]["message"]
    assert int(limited.headers["Retry-After"]) >= 1
    assert other.status == 202  # another site's budget is its own
    assert dropped(ctx, "rate_limited") >= 2
    assert await stored_count(ctx, elsewhere.site_id) >= 1
