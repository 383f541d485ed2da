"""Row M3 of the attack review: alert webhooks may not reach internal addresses, in any spelling, at
creation or at connection time (DNS rebinding), unless the operator allows them; delivery outcomes are
shown to the site's admins on the rule, never in `/metrics`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from tornado.netutil import DefaultLoopResolver, OverrideResolver

from domain.alerts.egress import EgressPolicy, GuardedResolver, RefusedTarget, parse_allow_list
from handlers.context import AppContext
from tests.support.accounts import make_site, signup
from tests.support.api import Api
from tests.support.events import make_events, store_events
from tests.support.until import until
from tests.support.webhooks import receiver as receiver  # a fixture
from tests.support.webhooks import rule_body

pytestmark = pytest.mark.reliability

INTERNAL_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "2130706433",  # decimal
    "0x7f.1",  # hex, short
    "0177.0.0.1",  # octal
    "127.1",  # short
    "0",  # 0.0.0.0
    "0.0.0.0",
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:7f00:1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space
    "fd00::1",  # unique local
    "224.0.0.1",  # multicast
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",  # reserved
]


@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
async def test_m3_internal_addresses_are_refused_in_every_spelling(host: str) -> None:
    resolver = GuardedResolver(policy=EgressPolicy())
    with pytest.raises(RefusedTarget):
        await resolver.resolve(host, 80)


@pytest.mark.parametrize("host", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
async def test_m3_public_addresses_pass(host: str) -> None:
    resolved = await GuardedResolver(policy=EgressPolicy()).resolve(host, 443)
    assert resolved and all(sockaddr[0] == host for _, sockaddr in resolved)


async def test_m3_the_operator_allow_list() -> None:
    policy = EgressPolicy(parse_allow_list("127.0.0.1/32, fd00::/8"))
    assert policy.allows("127.0.0.1") and policy.allows("::ffff:127.0.0.1") and policy.allows("fd00::5")
    assert not policy.allows("127.0.0.2") and not policy.allows("169.254.169.254")
    with pytest.raises(ValueError):
        parse_allow_list("10.0.0.0/8, not-a-network")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://2130706433:6379/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]:8080/",
        "http://localhost/",
        "http://10.1.2.3/hook",
    ],
)
async def test_m3_rules_pointing_inside_are_refused_at_creation(api: Api, url: str) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    base = f"/api/v1/sites/{site['id']}/alerts"
    answer = await api.post(base, json=rule_body(url), token=owner)
    assert answer.status == 422 and "webhook_url" in answer.json["error"]["fields"], answer.json
    rule = (await api.post(base, json=rule_body("https://93.184.216.34/hook"), token=owner)).json["rule"]
    changed = await api.patch(f"{base}/{rule['id']}", json={"webhook_url": url}, token=owner)
    assert changed.status == 422
    assert [r["webhook_url"] for r in (await api.get(base, token=owner)).json["rules"]] == [
        rule["webhook_url"]
    ]


class TestAtConnectionTime:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"alert_interval_s": 0.3, "alert_retry_base_s": 0.1}

    async def test_m3_dns_rebinding_to_loopback_is_refused_when_connecting(
        self, ctx: AppContext, api: Api, receiver: dict[str, Any]
    ) -> None:
        # The name does not resolve when the rule is saved; when the alert fires, DNS answers 127.0.0.1
        # (a rebinding attack). The check on the resolved address at connect time refuses it.
        port = urlsplit(receiver["url"]).port
        owner = await signup(api)
        site = await make_site(api, owner)
        url = f"http://rebind.invalid:{port}/hook"
        created = await api.post(f"/api/v1/sites/{site['id']}/alerts", json=rule_body(url), token=owner)
        assert created.status == 201
        rule = created.json["rule"]
        guarded = ctx.alerts._client.resolver  # type: ignore[attr-defined]
        assert isinstance(guarded, GuardedResolver)
        guarded._resolver = OverrideResolver(
            resolver=DefaultLoopResolver(), mapping={"rebind.invalid": "127.0.0.1"}
        )
        await store_events(ctx, make_events(site["id"], pageviews=2, others=1))  # 3 events > 2: firing
        path = f"/api/v1/sites/{site['id']}/alerts/{rule['id']}"

        async def last_delivery() -> Any:
            return (await api.get(path, token=owner)).json["rule"]["last_delivery"]

        shown = await until(last_delivery, timeout=15, interval=0.1)
        assert shown["outcome"] == "refused" and shown["status"] == 0, shown
        assert receiver["received"] == []
        text = (await api.get("/metrics", expect_json=False)).body.decode()
        assert "eddy_alert_deliveries" not in text
