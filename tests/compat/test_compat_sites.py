"""Sites' compatibility switches: off by default, set on create or change, and one site per Plausible
domain (`www.` stripped) and per Umami alias (409 for a second)."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import make_site, signup

SITES = "/api/v1/sites"
ALIAS = "9b1f3f2e-6c5d-4a7e-8f00-1234567890ab"


async def test_compat_is_off_by_default_and_can_be_switched(api: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    assert site["compat"] == {"plausible": False, "umami": False} and site["umami_alias"] is None
    changed = await api.patch(
        f"{SITES}/{site['id']}",
        json={"compat": {"plausible": True, "umami": True}, "umami_alias": ALIAS.upper()},
        token=token,
    )
    assert changed.status == 200, changed.json
    assert changed.json["site"]["compat"] == {"plausible": True, "umami": True}
    assert changed.json["site"]["umami_alias"] == ALIAS
    got = await api.get(f"{SITES}/{site['id']}", token=token)
    assert got.json["site"] == changed.json["site"]
    cleared = await api.patch(f"{SITES}/{site['id']}", json={"umami_alias": None}, token=token)
    assert cleared.json["site"]["umami_alias"] is None


async def test_compat_validation(api: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    for body, field in (
        ({"compat": {"plausible": "yes"}}, "compat.plausible"),
        ({"compat": {"matomo": True}}, "compat"),
        ({"umami_alias": "not-a-uuid"}, "umami_alias"),
    ):
        answer = await api.patch(f"{SITES}/{site['id']}", json=body, token=token)
        assert answer.status == 422, (body, answer.json)
        assert field in answer.json["error"]["fields"], (body, answer.json)


async def test_one_site_per_plausible_domain_and_umami_alias(api: Any) -> None:
    token = await signup(api)
    other_token = await signup(api)
    first = await make_site(api, token, domain="www.shop.example")
    answer = await api.patch(
        f"{SITES}/{first['id']}", json={"compat": {"plausible": True}, "umami_alias": ALIAS}, token=token
    )
    assert answer.status == 200
    second = await make_site(api, other_token, domain="shop.example")
    taken = await api.patch(
        f"{SITES}/{second['id']}", json={"compat": {"plausible": True}}, token=other_token
    )
    assert taken.status == 409 and taken.json["error"]["code"] == "compat_domain_taken"
    alias = await api.patch(f"{SITES}/{second['id']}", json={"umami_alias": ALIAS}, token=other_token)
    assert alias.status == 409 and alias.json["error"]["code"] == "umami_alias_taken"
    created = await api.post(
        SITES,
        json={"name": "x", "domain": "shop.example", "compat": {"plausible": True}},
        token=other_token,
    )
    assert created.status == 409
    # The first site turns it off: the domain is free for the second.
    await api.patch(f"{SITES}/{first['id']}", json={"compat": {"plausible": False}}, token=token)
    freed = await api.patch(
        f"{SITES}/{second['id']}", json={"compat": {"plausible": True}}, token=other_token
    )
    assert freed.status == 200 and freed.json["site"]["compat"]["plausible"] is True
