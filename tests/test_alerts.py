"""Alert rules: the CRUD API (site admins only, webhook URLs checked), and the checker delivering signed
webhooks with retries to a real local receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time
from typing import Any

import orjson
import pytest

from domain.alerts.checker import AlertChecker
from domain.alerts.webhook import verify
from handlers.context import AppContext
from tests.support.accounts import add_member, make_site, register, signup
from tests.support.api import Api
from tests.support.events import make_events, store_events
from tests.support.until import until
from tests.support.webhooks import receiver as receiver  # a fixture
from tests.support.webhooks import rule_body


async def test_crud_for_site_admins_only(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    base = f"/api/v1/sites/{site['id']}/alerts"
    created = await api.post(base, json=rule_body("https://hooks.example/eddy"), token=owner)
    assert created.status == 201, created.json
    rule = created.json["rule"]
    assert rule["secret"].startswith("whsec_") and len(rule["secret"]) > 40
    assert rule["state"] == "ok" and rule["window_minutes"] == 5 and rule["enabled"] is True
    listed = await api.get(base, token=owner)
    assert [r["id"] for r in listed.json["rules"]] == [rule["id"]]
    assert listed.json["rules"][0]["secret"] is None
    one = await api.get(f"{base}/{rule['id']}", token=owner)
    assert one.json["rule"]["secret"] is None and one.json["rule"]["name"] == "traffic spike"
    patched = await api.patch(f"{base}/{rule['id']}", json={"threshold": 50, "enabled": False}, token=owner)
    assert patched.status == 200
    assert patched.json["rule"]["threshold"] == 50 and patched.json["rule"]["enabled"] is False
    assert (await api.get(f"{base}/{rule['id']}", token=owner)).json["rule"]["threshold"] == 50

    # a viewer may not touch alerts, a stranger does not even see the site
    viewer_email = "viewer-" + site["id"][:8] + "@example.com"
    viewer = (await register(api, viewer_email))["access_token"]
    await add_member(api, owner, site["id"], viewer_email, "viewer")
    assert (await api.get(base, token=viewer)).status == 403
    stranger = await signup(api)
    assert (await api.get(base, token=stranger)).status == 404
    assert (await api.get(f"{base}/{rule['id']}", token=stranger)).status == 404
    assert (await api.post(base, json=rule_body("https://x.example"), token=stranger)).status == 404
    assert (await api.get(base)).status == 401
    # another site's rule id through this site's path: 404
    other_site = await make_site(api, owner)
    assert (await api.get(f"/api/v1/sites/{other_site['id']}/alerts/{rule['id']}", token=owner)).status == 404

    assert (await api.delete(f"{base}/{rule['id']}", token=owner, expect_json=False)).status == 204
    assert (await api.get(f"{base}/{rule['id']}", token=owner)).status == 404


async def test_bad_rules_are_refused_and_not_stored(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    base = f"/api/v1/sites/{site['id']}/alerts"
    for url in (
        "ftp://hooks.example/x",
        "javascript:alert(1)",
        "http://user:pw@hooks.example/",
        "https:///no-host",
        "http://hooks.example:99999/",
        "file:///etc/passwd",
        "https://hooks.example/" + "a" * 2100,
    ):
        answer = await api.post(base, json=rule_body(url), token=owner)
        assert answer.status == 422, (url, answer.json)
    for body in (
        rule_body("https://ok.example", kind="cpu_above"),
        rule_body("https://ok.example", threshold=-1),
        rule_body("https://ok.example", window_minutes=0),
        rule_body("https://ok.example", owner_id="me"),
        {"name": "x"},
    ):
        assert (await api.post(base, json=body, token=owner)).status == 422, body
    assert (await api.post(base, json={"$set": {"a": 1}}, token=owner)).status == 400
    assert (await api.get(base, token=owner)).json["rules"] == []


async def checked_again(ctx: AppContext, rule_id: str) -> None:
    """Wait until the running checker has checked the rule again a full interval from now and no delivery
    is under way (retries included): what a later check would send has been sent by then."""
    after = time.time() + ctx.alerts.interval_s

    async def done() -> bool:
        rule = await ctx.stores.docs.get("alert_rules", rule_id)
        return bool(rule and rule["last_checked_at"] >= after and not ctx.alerts._deliveries)

    await until(done, timeout=10, interval=0.05)


def signature_matches(secret: str, delivery: dict[str, Any]) -> bool:
    """The receiver's own check, written from the documented scheme."""
    message = delivery["timestamp"].encode() + b"." + delivery["body"]
    expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, delivery["signature"])


class TestWebhooks:
    """The checker on a short interval with quick retries."""

    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        # the receiver listens on loopback: an address webhooks reach only when the operator allows it
        return {
            "alert_interval_s": 0.3,
            "alert_retry_base_s": 0.1,
            "webhook_allow": (ipaddress.ip_network("127.0.0.1/32"),),
        }

    @pytest.mark.expect_errors("tornado.access")  # the receiver's own 503 and 500
    async def test_firing_is_signed_and_retried_then_resolved(
        self, ctx: AppContext, api: Api, receiver: dict[str, Any]
    ) -> None:
        owner = await signup(api)
        site = await make_site(api, owner)
        created = await api.post(
            f"/api/v1/sites/{site['id']}/alerts", json=rule_body(receiver["url"]), token=owner
        )
        rule = created.json["rule"]
        receiver["statuses"].extend([503, 500])  # two transient failures, then success
        await store_events(ctx, make_events(site["id"], pageviews=2, others=1))  # 3 events > 2
        await until(lambda: len(receiver["received"]) == 3, timeout=15)
        deliveries = receiver["received"]
        for delivery in deliveries:
            assert signature_matches(rule["secret"], delivery)
            assert verify(rule["secret"], delivery["timestamp"], delivery["body"], delivery["signature"])
            assert not signature_matches("whsec_wrong", delivery)
        body = orjson.loads(deliveries[0]["body"])
        assert body["status"] == "firing" and body["value"] == 3 and body["site_id"] == site["id"]
        assert body["rule"]["id"] == rule["id"] and "secret" not in orjson.dumps(body).decode()
        # exponential backoff: the second wait is longer than the first
        first_gap = deliveries[1]["at"] - deliveries[0]["at"]
        second_gap = deliveries[2]["at"] - deliveries[1]["at"]
        assert first_gap >= 0.08 and second_gap > first_gap
        shown = (await api.get(f"/api/v1/sites/{site['id']}/alerts/{rule['id']}", token=owner)).json["rule"]
        assert shown["state"] == "firing" and shown["last_value"] == 3 and shown["last_fired_at"]

        # the events leave the window: one `resolved` delivery, no retry needed
        await ctx.stores.events.purge_before(site["id"], int(time.time() * 1000) + 1)
        await until(lambda: len(receiver["received"]) == 4, timeout=15)
        resolved = orjson.loads(receiver["received"][3]["body"])
        assert resolved["status"] == "resolved" and resolved["value"] == 0
        await checked_again(ctx, rule["id"])  # a later check changes nothing: no more deliveries
        assert len(receiver["received"]) == 4
        shown = (await api.get(f"/api/v1/sites/{site['id']}/alerts/{rule['id']}", token=owner)).json["rule"]
        assert shown["last_delivery"]["outcome"] == "delivered" and shown["last_delivery"]["status"] == 200
        assert shown["last_delivery"]["attempts"] == 1  # the `resolved` one; the `firing` one took 3
        text = (await api.get("/metrics", expect_json=False)).body.decode()
        assert "eddy_alert_deliveries" not in text  # outcomes are the site admins' business only

    async def test_a_refusing_receiver_is_not_retried(
        self, ctx: AppContext, api: Api, receiver: dict[str, Any]
    ) -> None:
        owner = await signup(api)
        site = await make_site(api, owner)
        body = rule_body(receiver["url"], kind="visitors_below", threshold=1)
        created = await api.post(f"/api/v1/sites/{site['id']}/alerts", json=body, token=owner)
        assert created.status == 201
        receiver["statuses"].append(410)
        await until(lambda: len(receiver["received"]) == 1, timeout=15)  # 0 visitors < 1: firing
        await checked_again(ctx, created.json["rule"]["id"])  # the delivery is over, and no retry came
        assert len(receiver["received"]) == 1
        rules = (await api.get(f"/api/v1/sites/{site['id']}/alerts", token=owner)).json["rules"]
        assert rules[0]["last_delivery"]["outcome"] == "failed" and rules[0]["last_delivery"]["status"] == 410


async def test_one_check_per_slot_across_processes(ctx: AppContext, api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    body = rule_body("https://hooks.invalid/x", threshold=1000, kind="event_rate_drop")
    assert (await api.post(f"/api/v1/sites/{site['id']}/alerts", json=body, token=owner)).status == 201
    # two checkers on the same documents, as two processes would be
    first = AlertChecker(ctx.stores.docs, ctx.stores.events, ctx.metrics, interval_s=60)
    second = AlertChecker(ctx.stores.docs, ctx.stores.events, ctx.metrics, interval_s=60)
    now = time.time() + 3600  # a slot the running checker has not reached
    results = await asyncio.gather(first.check_all(now), second.check_all(now))
    assert sorted(results) == [0, 1]
    assert await first.check_all(now + 60) == 1  # the next slot is free again


async def test_measures(ctx: AppContext) -> None:
    from domain.alerts.checker import breached, measure

    site_id = "s-measure"
    events = make_events(site_id, pageviews=4, others=2)
    for index, event in enumerate(events):
        event.visitor_id = f"v{index % 3}"
    await store_events(ctx, events)
    now = time.time() + 1
    rule = {"site_id": site_id, "window_minutes": 5, "threshold": 3}
    assert await measure(ctx.stores.events, {**rule, "kind": "visitors_above"}, now) == 3
    assert await measure(ctx.stores.events, {**rule, "kind": "events_below"}, now) == 6
    # the window before had 0 events: no drop; a window later, everything dropped
    assert await measure(ctx.stores.events, {**rule, "kind": "event_rate_drop"}, now) == 0
    assert await measure(ctx.stores.events, {**rule, "kind": "event_rate_drop"}, now + 300) == 100
    assert breached({**rule, "kind": "visitors_above"}, 4) and not breached(
        {**rule, "kind": "visitors_above"}, 3
    )
    assert breached({**rule, "kind": "events_below"}, 2) and not breached({**rule, "kind": "events_below"}, 3)
    assert breached({**rule, "kind": "event_rate_drop", "threshold": 50}, 60)
    assert not breached({**rule, "kind": "event_rate_drop", "threshold": 0}, 0)
