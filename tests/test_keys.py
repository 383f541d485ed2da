"""API keys through the management API: create (value shown once for secret keys), list, rename,
deactivate, rotate, delete, expiry; each change takes effect in authentication at once. Both deployments."""

from __future__ import annotations

import time
from typing import Any

import pytest

from domain.accounts.keys import looks_like_key
from tests.support.accounts import make_key, make_site, signup
from tests.support.modes import both_modes as app_config  # noqa: F401


async def _site(api: Any) -> tuple[str, str]:
    token = await signup(api)
    return token, (await make_site(api, token))["id"]


async def test_create_and_list(api: Any, ctx: Any) -> None:
    token, site_id = await _site(api)
    secret = await make_key(api, token, site_id, "secret", name="server")
    public = await make_key(api, token, site_id, "public", name="web", expires_in_days=None)
    assert secret["key"].startswith("eddy_sk_") and looks_like_key(secret["key"])
    assert public["key"].startswith("eddy_pk_")
    assert secret["prefix"] == secret["key"][:12] and secret["active"] is True
    assert 364 * 86400 < secret["expires_at"] - time.time() <= 365 * 86400
    assert public["expires_at"] is None
    listed = await api.get(f"/api/v1/sites/{site_id}/keys", token=token)
    by_kind = {k["kind"]: k for k in listed.json["keys"]}
    assert by_kind["secret"]["key"] is None  # a secret key's value is never shown again
    assert by_kind["public"]["key"] == public["key"]
    principal = await ctx.keys.authenticate(secret["key"])
    assert principal is not None and principal.site_id == site_id and principal.kind == "secret"
    assert secret["key"] not in str(await ctx.stores.docs.find("api_keys", {"site_id": site_id}))


async def test_create_validation(api: Any) -> None:
    token, site_id = await _site(api)
    path = f"/api/v1/sites/{site_id}/keys"
    for body in (
        {"name": "x", "kind": "admin"},
        {"name": "", "kind": "public"},
        {"name": "x", "kind": "public", "expires_in_days": 0},
        {"name": "x", "kind": "public", "lookup": "chosen"},
        {"name": "x", "kind": "public", "site_id": "other"},
    ):
        assert (await api.post(path, json=body, token=token)).status == 422, body
    assert (await api.post(path, json={"name": {"$ne": 1}, "kind": "public"}, token=token)).status == 400
    assert (await api.get(path, token=token)).json["keys"] == []


@pytest.mark.reliability
async def test_deactivate_reactivate_rename(api: Any, ctx: Any) -> None:
    token, site_id = await _site(api)
    key = await make_key(api, token, site_id, "secret")
    path = f"/api/v1/sites/{site_id}/keys/{key['id']}"
    assert await ctx.keys.authenticate(key["key"]) is not None
    off = await api.patch(path, json={"active": False}, token=token)
    assert off.status == 200 and off.json["key"]["active"] is False and off.json["key"]["key"] is None
    assert await ctx.keys.authenticate(key["key"]) is None
    on = await api.patch(path, json={"active": True, "name": "renamed"}, token=token)
    assert on.json["key"]["active"] is True and on.json["key"]["name"] == "renamed"
    assert await ctx.keys.authenticate(key["key"]) is not None
    assert (await api.patch(path, json={"kind": "public"}, token=token)).status == 422


@pytest.mark.reliability
async def test_rotate_and_delete(api: Any, ctx: Any) -> None:
    token, site_id = await _site(api)
    key = await make_key(api, token, site_id, "public")
    assert await ctx.keys.authenticate(key["key"]) is not None
    rotated = await api.post(f"/api/v1/sites/{site_id}/keys/{key['id']}/rotate", token=token)
    assert rotated.status == 200
    new_value = rotated.json["key"]["key"]
    assert new_value != key["key"] and new_value.startswith("eddy_pk_")
    assert rotated.json["key"]["id"] == key["id"]
    assert await ctx.keys.authenticate(key["key"]) is None
    assert await ctx.keys.authenticate(new_value) is not None
    deleted = await api.delete(f"/api/v1/sites/{site_id}/keys/{key['id']}", token=token, expect_json=False)
    assert deleted.status == 204
    assert await ctx.keys.authenticate(new_value) is None
    assert (await api.delete(f"/api/v1/sites/{site_id}/keys/{key['id']}", token=token)).status == 404
    missing = await api.post(f"/api/v1/sites/{site_id}/keys/nope/rotate", token=token)
    assert missing.status == 404


@pytest.mark.reliability
async def test_expired_key_fails(api: Any, ctx: Any) -> None:
    token, site_id = await _site(api)
    key = await make_key(api, token, site_id, "secret", expires_in_days=1)
    assert await ctx.keys.authenticate(key["key"]) is not None
    await ctx.stores.docs.update("api_keys", {"id": key["id"]}, {"expires_at": time.time() - 1})
    await ctx.keys.revoked((await ctx.stores.docs.get("api_keys", key["id"]))["lookup"])  # drop the cache
    assert await ctx.keys.authenticate(key["key"]) is None


async def test_keys_of_another_users_site_are_not_found(api: Any) -> None:
    token, site_id = await _site(api)
    key = await make_key(api, token, site_id, "secret")
    stranger = await signup(api)
    own_site = site_id
    other_site = (await make_site(api, stranger))["id"]
    base = f"/api/v1/sites/{own_site}/keys/{key['id']}"
    assert (await api.patch(base, json={"active": False}, token=stranger)).status == 404
    assert (await api.post(f"{base}/rotate", token=stranger)).status == 404
    assert (await api.delete(base, token=stranger)).status == 404
    # A key id from one site is not found under another site, even the caller's own.
    cross = f"/api/v1/sites/{other_site}/keys/{key['id']}"
    assert (await api.patch(cross, json={"name": "x"}, token=stranger)).status == 404
    assert (await api.get(f"/api/v1/sites/{own_site}/keys", token=token)).json["keys"][0]["active"] is True
