"""Mixed traffic for scrape tests: every kind of request and metric Eddy has, some failing on purpose.
Events go through the real collect endpoint."""

from __future__ import annotations

from typing import Any

from handlers.context import AppContext
from tests.support.api import Api
from tests.support.sites import add_metric_config, make_key, make_site


async def mixed_traffic(ctx: AppContext, api: Api) -> dict[str, Any]:
    """Every kind of request and metric Eddy has, some failing on purpose."""
    site = await make_site(ctx)
    key = await make_key(ctx, site["id"])
    await add_metric_config(ctx, site["id"], "signups", "counter", ["plan"], help_text='Sign-ups "quoted"\nx')
    await add_metric_config(ctx, site["id"], "cart_value", "gauge")
    await add_metric_config(ctx, site["id"], "load_seconds", "histogram", ["page"], buckets=[0.5, 1, 2])
    await add_metric_config(ctx, site["id"], "upload_bytes", "summary")
    samples = [
        {"name": "signups", "value": 3, "labels": {"plan": 'p"r\\o\n'}},
        {"name": "signups", "value": 2, "labels": {"plan": "free"}},
        {"name": "cart_value", "value": -12.5},
        {"name": "load_seconds", "value": 0.7, "labels": {"page": "/"}},
        {"name": "upload_bytes", "value": 2048},
    ]
    headers = {"X-Api-Key": key}
    assert (await api.post("/api/v1/metrics", json={"metrics": samples}, headers=headers)).status == 202
    assert (
        await api.post("/api/v1/metrics", json={"metrics": [{"name": "x", "value": 1}]}, headers=headers)
    ).status == 422
    assert (await api.post("/api/v1/metrics", json={"metrics": samples})).status == 401
    assert (await api.get("/healthz")).status == 200
    assert (await api.get("/readyz")).status == 200
    assert (await api.get("/api/v1/no-such-thing")).status == 404
    # events through the real collect endpoint: 4 pageviews and 3 custom events accepted, some refused
    events = [{"name": "pageview", "url": f"https://shop.example/p{i}"} for i in range(4)]
    events += [{"name": "signup", "url": "https://shop.example/join"} for _ in range(3)]
    collected = await api.post("/api/v1/collect", json={"events": events}, headers=headers)
    assert collected.status == 202 and collected.json == {"accepted": 7}, collected.json
    public = await make_key(ctx, site["id"], "public")
    refused = await api.post(
        "/api/v1/collect",
        json={"name": "pageview", "url": "https://evil.example/"},
        headers={"X-Api-Key": public, "Origin": "https://evil.example"},
    )
    assert refused.status == 403
    broken = await api.post(
        "/api/v1/collect", body=b"{oops", headers={**headers, "Content-Type": "text/plain"}
    )
    assert broken.status == 400
    # a stats question, asked with the secret key (timed by kind and source)
    summary = await api.get(f"/api/v1/sites/{site['id']}/stats/summary", headers=headers)
    assert summary.status == 200 and summary.json["results"]["pageviews"]["value"] == 4, summary.json
    return site
