"""Without --trust-proxy, X-Forwarded-For on `POST /api/event` is not believed: the connection's address
names the visitor, as on Eddy's own collect."""

from __future__ import annotations

from typing import Any

from tests.compat.helpers import DESKTOP_UA, compat_site
from tests.ingest.helpers import stored


async def test_forwarded_for_is_ignored_without_trust_proxy(api: Any, ctx: Any) -> None:
    _, site = await compat_site(api, plausible=True)
    for address in ("8.8.8.8", "81.2.69.142"):
        answer = await api.post(
            "/api/event",
            json={"name": "pageview", "url": "http://dummy.site/", "domain": "dummy.site"},
            headers={"User-Agent": DESKTOP_UA, "X-Forwarded-For": address},
            expect_json=False,
        )
        assert answer.status == 202
    events = await stored(ctx, site["id"])
    assert len(events) == 2 and {e.country for e in events} == {""}  # 127.0.0.1: no country
    assert events[0].visitor_id == events[1].visitor_id
