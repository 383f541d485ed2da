"""User-declared metrics: POST /api/v1/metrics against the site's metric configs, the label cap, and
configs created, changed or deleted while Eddy runs."""

from __future__ import annotations

import time

import pytest

from domain.accounts.metric_configs import CHANGED_CHANNEL
from handlers.context import AppContext
from tests.support.accounts import make_key as api_make_key
from tests.support.accounts import make_site as api_make_site
from tests.support.accounts import signup
from tests.support.api import Api
from tests.support.scrape import family_names, value
from tests.support.sites import add_metric_config, make_key, make_site
from tests.support.until import until


async def scrape(api: Api) -> str:
    answer = await api.get("/metrics", expect_json=False)
    assert answer.status == 200
    return answer.body.decode()


async def post(api: Api, key: str, metrics: object, origin: str | None = None):
    headers = {"X-Api-Key": key}
    if origin:
        headers["Origin"] = origin
    return await api.post("/api/v1/metrics", json={"metrics": metrics}, headers=headers)


async def test_each_type_is_recorded_with_the_site_label(ctx: AppContext, api: Api) -> None:
    site = await make_site(ctx)
    key = await make_key(ctx, site["id"])
    await add_metric_config(ctx, site["id"], "signups", "counter", ["plan"])
    await add_metric_config(ctx, site["id"], "cart_items", "gauge")
    await add_metric_config(ctx, site["id"], "checkout_seconds", "histogram", buckets=[1, 5, 10])
    await add_metric_config(ctx, site["id"], "payload_bytes", "summary")
    answer = await post(
        api,
        key,
        [
            {"name": "signups", "value": 2, "labels": {"plan": "pro"}},
            {"name": "signups", "value": 1, "labels": {"plan": "pro"}},
            {"name": "signups", "value": 4, "labels": {"plan": "free"}},
            {"name": "cart_items", "value": 7},
            {"name": "cart_items", "value": 3},
            {"name": "checkout_seconds", "value": 3},
            {"name": "checkout_seconds", "value": 12},
            {"name": "payload_bytes", "value": 100},
        ],
    )
    assert answer.status == 202, answer.json
    assert answer.json == {"accepted": 8}
    text = await scrape(api)
    sid = site["id"]
    assert value(text, "eddy_user_tally_signups_total", plan="pro", site=sid) == 3
    assert value(text, "eddy_user_tally_signups_total", plan="free", site=sid) == 4
    assert value(text, "eddy_user_level_cart_items", site=sid) == 3
    assert value(text, "eddy_user_dist_checkout_seconds_bucket", site=sid, le="5.0") == 1
    assert value(text, "eddy_user_dist_checkout_seconds_bucket", site=sid, le="+Inf") == 2
    assert value(text, "eddy_user_dist_checkout_seconds_sum", site=sid) == 15
    assert value(text, "eddy_user_quant_payload_bytes_count", site=sid) == 1
    assert "eddy_config_generation" not in text


async def test_bad_samples_are_refused_whole_and_nothing_is_recorded(ctx: AppContext, api: Api) -> None:
    site = await make_site(ctx)
    key = await make_key(ctx, site["id"])
    await add_metric_config(ctx, site["id"], "signups", "counter", ["plan"])
    good = {"name": "signups", "value": 1, "labels": {"plan": "pro"}}
    cases = [
        ([good, {"name": "signups", "value": -1}], "metrics[1].value"),
        ([good, {"name": "nope", "value": 1}], "metrics[1].name"),
        ([good, {"name": "signups", "value": 1, "labels": {"country": "fr"}}], "metrics[1].labels.country"),
    ]
    for metrics, field in cases:
        answer = await post(api, key, metrics)
        assert answer.status == 422, answer.json
        assert field in answer.json["error"]["fields"], answer.json
    for body in ({"metrics": []}, {"metrics": [good] * 101}, {"metrics": [{"name": "signups"}]}, {"x": 1}):
        answer = await api.post("/api/v1/metrics", json=body, headers={"X-Api-Key": key})
        assert answer.status == 422, (body, answer.json)
    answer = await api.post("/api/v1/metrics", body=b"{nope", headers={"X-Api-Key": key})
    assert answer.status == 400
    answer = await api.post("/api/v1/metrics", json={"metrics": [{"$where": 1}]}, headers={"X-Api-Key": key})
    assert answer.status == 400
    assert value(await scrape(api), "eddy_user_tally_signups_total", plan="pro", site=site["id"]) is None


async def test_keys_and_origins(ctx: AppContext, api: Api) -> None:
    site = await make_site(ctx, origins=["https://shop.example"])
    other = await make_site(ctx)
    public = await make_key(ctx, site["id"], "public")
    secret = await make_key(ctx, site["id"], "secret")
    other_key = await make_key(ctx, other["id"], "secret")
    await add_metric_config(ctx, site["id"], "clicks")
    sample = [{"name": "clicks", "value": 1}]
    assert (await post(api, public, sample, origin="https://shop.example")).status == 202
    assert (await post(api, public, sample, origin="https://evil.example")).error_code == "bad_origin"
    assert (await post(api, public, sample)).status == 403
    assert (await post(api, secret, sample, origin="https://shop.example")).status == 403
    assert (await post(api, secret, sample)).status == 202
    # another site's key cannot feed this site's metric: it has no such config
    assert (await post(api, other_key, sample)).status == 422
    assert (await post(api, "eddy_sk_" + "x" * 32, sample)).status == 401
    assert (await api.post("/api/v1/metrics", json={"metrics": sample})).status == 401
    text = await scrape(api)
    assert value(text, "eddy_user_tally_clicks_total", site=site["id"]) == 2
    preflight = await api.request(
        "OPTIONS", "/api/v1/metrics", headers={"Origin": "https://shop.example"}, expect_json=False
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


async def test_label_values_past_the_cap_become_other_and_are_counted(ctx: AppContext, api: Api) -> None:
    ctx.user_metrics.label_value_cap = 3
    site = await make_site(ctx)
    key = await make_key(ctx, site["id"])
    await add_metric_config(ctx, site["id"], "views", "counter", ["page"])
    pages = ["a", "b", "c", "d", "e", "a", "e"]
    answer = await post(api, key, [{"name": "views", "value": 1, "labels": {"page": p}} for p in pages])
    assert answer.status == 202
    text = await scrape(api)
    sid = site["id"]
    assert value(text, "eddy_user_tally_views_total", page="a", site=sid) == 2
    assert value(text, "eddy_user_tally_views_total", page="b", site=sid) == 1
    assert value(text, "eddy_user_tally_views_total", page="c", site=sid) == 1
    assert value(text, "eddy_user_tally_views_total", page="other", site=sid) == 3
    assert value(text, "eddy_user_tally_views_total", page="d", site=sid) is None
    assert value(text, "eddy_declared_metric_label_overflow_total", site=sid) == 3


async def test_configs_created_changed_and_deleted_at_run_time(ctx: AppContext, api: Api) -> None:
    site = await make_site(ctx)
    key = await make_key(ctx, site["id"])
    sid = site["id"]
    # created after start: the first sample naming it loads it
    config = await add_metric_config(ctx, sid, "orders", "counter", ["plan"])
    assert (await post(api, key, [{"name": "orders", "value": 5, "labels": {"plan": "pro"}}])).status == 202
    assert value(await scrape(api), "eddy_user_tally_orders_total", plan="pro", site=sid) == 5

    # changed (label renamed) with a bus notice: old values leave the scrape, new labels are accepted
    await ctx.stores.docs.update(
        "metric_configs", {"id": config["id"]}, {"labels": ["tier"], "updated_at": time.time() + 1}
    )
    await ctx.stores.bus.publish("metric_configs:changed", b"")

    async def relabelled() -> bool:
        text = await scrape(api)
        return value(text, "eddy_user_tally_orders_total", plan="pro", site=sid) is None

    await until(relabelled, timeout=10, interval=0.05)
    assert (await post(api, key, [{"name": "orders", "value": 1, "labels": {"tier": "gold"}}])).status == 202
    assert (await post(api, key, [{"name": "orders", "value": 1, "labels": {"plan": "pro"}}])).status == 422
    assert value(await scrape(api), "eddy_user_tally_orders_total", tier="gold", site=sid) == 1

    # deleted with no notice at all: the poll notices within its interval
    await ctx.stores.docs.delete("metric_configs", {"id": config["id"]})

    async def gone() -> bool:
        return "eddy_user_tally_orders" not in family_names(await scrape(api))

    await until(gone, timeout=ctx.user_metrics.poll_interval_s + 5, interval=0.05)
    assert (await post(api, key, [{"name": "orders", "value": 1, "labels": {"tier": "gold"}}])).status == 422


@pytest.mark.reliability
async def test_l2_a_site_cannot_squat_another_sites_metric_name(ctx: AppContext, api: Api) -> None:
    # Before, the oldest config of a name owned it for every site: another site's samples of that name as
    # another type answered 422 "already used as a gauge", and the first site's help text was shown.
    squatter = await make_site(ctx)
    victim = await make_site(ctx)
    await add_metric_config(
        ctx, squatter["id"], "temperature", "gauge", help_text="Buy cheap pills at spam.example"
    )
    await add_metric_config(
        ctx, squatter["id"], "humidity", "gauge", help_text="Buy cheap pills at spam.example"
    )
    await add_metric_config(ctx, victim["id"], "temperature", "histogram", help_text="Oven temperature")
    await add_metric_config(ctx, victim["id"], "humidity", "gauge", help_text="Cellar humidity")
    victim_key = await make_key(ctx, victim["id"])
    answer = await post(
        api, victim_key, [{"name": "temperature", "value": 1}, {"name": "humidity", "value": 40}]
    )
    assert answer.status == 202, answer.json
    text = await scrape(api)
    assert value(text, "eddy_user_dist_temperature_count", site=victim["id"]) == 1
    assert value(text, "eddy_user_level_humidity", site=victim["id"]) == 40
    assert "spam.example" not in text  # a shared family shows a neutral help, never one site's
    assert "# HELP eddy_user_dist_temperature Oven temperature" in text  # declared by one site only


async def test_a_config_that_cannot_be_exported_says_why(ctx: AppContext, api: Api) -> None:
    site = await make_site(ctx)
    key = await make_key(ctx, site["id"])
    # accepted by the management API's rules, but its samples would read as another family's
    await add_metric_config(ctx, site["id"], "queue_total", "gauge")
    answer = await post(api, key, [{"name": "queue_total", "value": 1}])
    assert answer.status == 422
    assert "not exported" in answer.json["error"]["fields"]["metrics[0].name"]
    assert "eddy_user_level_queue_total" not in await scrape(api)


async def test_configs_changed_through_the_management_api_apply_without_a_restart(
    ctx: AppContext, api: Api
) -> None:
    # the poll would notice within its interval; the API's bus notice must make it prompt
    ctx.user_metrics.poll_interval_s = 3600
    notices: list[bytes] = []
    await ctx.stores.bus.subscribe(CHANGED_CHANNEL, lambda _channel, data: notices.append(data))
    token = await signup(api)
    site = await api_make_site(api, token)
    key = (await api_make_key(api, token, site["id"], "secret"))["key"]
    base = f"/api/v1/sites/{site['id']}/metrics"
    created = await api.post(base, json={"name": "plays", "type": "counter", "labels": ["song"]}, token=token)
    assert created.status == 201, created.json
    metric_id = created.json["metric"]["id"]
    await until(lambda: len(notices) >= 1, timeout=2)
    assert notices == [site["id"].encode()]
    sample = {"name": "plays", "value": 2, "labels": {"song": "a"}}
    assert (await post(api, key, [sample])).status == 202
    assert value(await scrape(api), "eddy_user_tally_plays_total", song="a", site=site["id"]) == 2

    changed = await api.patch(f"{base}/{metric_id}", json={"labels": ["album"]}, token=token)
    assert changed.status == 200, changed.json

    async def relabelled() -> bool:
        return (await post(api, key, [{"name": "plays", "value": 1, "labels": {"album": "x"}}])).status == 202

    await until(relabelled, timeout=3, interval=0.05)
    assert len(notices) == 2
    text = await scrape(api)
    assert value(text, "eddy_user_tally_plays_total", song="a", site=site["id"]) is None
    assert value(text, "eddy_user_tally_plays_total", album="x", site=site["id"]) == 1

    deleted = await api.delete(f"{base}/{metric_id}", token=token, expect_json=False)
    assert deleted.status == 204

    async def gone() -> bool:
        return "eddy_user_tally_plays" not in family_names(await scrape(api))

    await until(gone, timeout=3, interval=0.05)
    assert len(notices) == 3

    # deleting the site announces it too (its configs go with it)
    assert (await api.delete(f"/api/v1/sites/{site['id']}", token=token, expect_json=False)).status == 204
    await until(lambda: len(notices) >= 4, timeout=2)
