"""Alert rules that mail the site's team: a change of state (firing, then resolved) arrives by mail at a
real SMTP server for the owner and the admins, never for viewers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from handlers.context import AppContext
from tests.support.accounts import make_site, register
from tests.support.api import Api
from tests.support.events import make_events, store_events
from tests.support.smtp_sink import SmtpSink, text_of, to


@pytest.fixture
def app_config(sink: SmtpSink) -> dict[str, Any]:
    return sink.app_config(alert_interval_s=0.3, registration="open")


async def test_firing_and_resolved_are_mailed_to_owner_and_admins(
    api: Api, ctx: AppContext, sink: SmtpSink
) -> None:
    owner = await register(api)
    # The team is put in place directly (joining through invitations is tests/test_invitations.py).
    token = owner["access_token"]
    site = await make_site(api, token, name="Bakery")
    emails = {}
    for role in ("admin", "viewer"):
        user = await ctx.accounts.users.create(f"{role}-{time.time_ns()}@example.com", role, None)
        await ctx.stores.docs.insert(
            "members",
            {
                "id": role + user["id"],
                "site_id": site["id"],
                "user_id": user["id"],
                "role": role,
                "created_at": 1.0,
            },
        )
        emails[role] = user["email"]
    rule = {
        "name": "rush",
        "kind": "events_above",
        "threshold": 2,
        "webhook_url": "https://hooks.invalid/x",
        "email_team": True,
    }
    created = await api.post(f"/api/v1/sites/{site['id']}/alerts", json=rule, token=token)
    assert created.status == 201 and created.json["rule"]["email_team"] is True
    await store_events(ctx, make_events(site["id"], pageviews=3))
    firing = await sink.wait_for(lambda m: to(owner["user"]["email"])(m) and "firing" in str(m["Subject"]))
    assert str(firing["Subject"]) == "[Bakery] alert rush is firing"
    assert "measured value: 3" in text_of(firing)
    await sink.wait_for(lambda m: to(emails["admin"])(m) and "firing" in str(m["Subject"]))
    await ctx.stores.events.purge_before(site["id"], int(time.time() * 1000) + 1)
    await sink.wait_for(lambda m: to(owner["user"]["email"])(m) and "resolved" in str(m["Subject"]))
    await sink.wait_for(lambda m: to(emails["admin"])(m) and "resolved" in str(m["Subject"]))
    assert sink.received(to(emails["viewer"])) == []
    # Turned off, the next change is not mailed.
    changed = await api.patch(
        f"/api/v1/sites/{site['id']}/alerts/{created.json['rule']['id']}",
        json={"email_team": False},
        token=token,
    )
    assert changed.json["rule"]["email_team"] is False
