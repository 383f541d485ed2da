"""Sites and teams: CRUD with validation, ownership (others' sites answer 404), roles, mass assignment,
operator injection, and deleting a site with everything that belongs to it. Both deployments."""

from __future__ import annotations

import time
from typing import Any

import pytest

from storage.ports import EventFilter
from storage.records import Event
from tests.support.accounts import add_member, make_key, make_site, register, signup, unique_email
from tests.support.modes import both_modes as app_config  # noqa: F401

SITES = "/api/v1/sites"


async def test_create_read_update_list(api: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token, allowed_origins=["https://shop.example", "http://localhost:3000"])
    assert site["role"] == "owner" and site["timezone"] == "UTC" and site["retention_days"] == 400
    assert site["allowed_origins"] == ["http://localhost:3000", "https://shop.example"]
    got = await api.get(f"{SITES}/{site['id']}", token=token)
    assert got.status == 200 and got.json["site"] == site
    changed = await api.patch(
        f"{SITES}/{site['id']}", json={"name": "Renamed", "timezone": "Europe/Paris"}, token=token
    )
    assert changed.status == 200
    assert changed.json["site"]["name"] == "Renamed" and changed.json["site"]["timezone"] == "Europe/Paris"
    assert changed.json["site"]["domain"] == site["domain"]
    listed = await api.get(SITES, token=token)
    assert [s["name"] for s in listed.json["sites"]] == ["Renamed"]


async def test_validation_failures(api: Any) -> None:
    token = await signup(api)
    cases = [
        ({"name": "", "domain": "a.example"}, "name"),
        ({"name": "x", "domain": "not a domain"}, "domain"),
        ({"name": "x", "domain": "a.example", "timezone": "Mars/Olympus"}, "timezone"),
        (
            {"name": "x", "domain": "a.example", "allowed_origins": ["javascript:alert(1)"]},
            "allowed_origins[0]",
        ),
        (
            {"name": "x", "domain": "a.example", "allowed_origins": ["https://a.example/path"]},
            "allowed_origins[0]",
        ),
        ({"name": "x", "domain": "a.example", "retention_days": 100000}, "retention_days"),
        ({"name": 5, "domain": "a.example"}, "name"),
    ]
    for body, field in cases:
        answer = await api.post(SITES, json=body, token=token)
        assert answer.status == 422, (body, answer.json)
        assert field in answer.json["error"]["fields"], (body, answer.json)
    assert (await api.get(SITES, token=token)).json["sites"] == []


@pytest.mark.reliability
async def test_mass_assignment_is_rejected(api: Any) -> None:
    token = await signup(api)
    other = (await register(api))["user"]["id"]
    for extra in ({"owner_id": other}, {"id": "chosen"}, {"_id": "x"}, {"role": "owner"}, {"created_at": 1}):
        answer = await api.post(SITES, json={"name": "x", "domain": "a.example", **extra}, token=token)
        assert answer.status == 422, extra
    site = await make_site(api, token)
    for extra in ({"owner_id": other}, {"id": "x"}, {"created_at": 0}):
        assert (await api.patch(f"{SITES}/{site['id']}", json=extra, token=token)).status == 422
    register_extra = await api.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "password": "long enough pw", "password_hash": "$2b$04$x"},
    )
    assert register_extra.status == 422
    assert (await api.get(f"{SITES}/{site['id']}", token=token)).json["site"]["owner_id"] != other


@pytest.mark.reliability
async def test_operator_injection_is_refused(api: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    bodies = [
        {"name": {"$gt": ""}, "domain": "a.example"},
        {"name": "x", "domain": "a.example", "$where": "1"},
        {"name": "x", "domain": "a.example", "allowed_origins": [{"$ne": None}]},
        {"name": "x", "domain": "a.example", "owner.id": "y"},
    ]
    for body in bodies:
        answer = await api.post(SITES, json=body, token=token)
        assert answer.status == 400, (body, answer.json)
    login = await api.post("/api/v1/auth/login", json={"email": {"$ne": "x"}, "password": {"$ne": "x"}})
    assert login.status == 400
    typed = await api.patch(f"{SITES}/{site['id']}", json={"name": ["$gt"]}, token=token)
    assert typed.status == 422
    assert len((await api.get(SITES, token=token)).json["sites"]) == 1


async def test_other_users_site_is_not_found(api: Any) -> None:
    owner = await signup(api)
    stranger = await signup(api)
    site = await make_site(api, owner)
    path = f"{SITES}/{site['id']}"
    missing = await api.get(f"{SITES}/no-such-site", token=stranger)
    for answer in (
        await api.get(path, token=stranger),
        await api.patch(path, json={"name": "mine"}, token=stranger),
        await api.delete(path, token=stranger),
        await api.get(f"{path}/keys", token=stranger),
        await api.get(f"{path}/members", token=stranger),
        await api.get(f"{path}/metrics", token=stranger),
    ):
        assert answer.status == 404 and answer.json == missing.json
    assert (await api.get(SITES, token=stranger)).json["sites"] == []
    assert (await api.get(path, token=owner)).json["site"]["name"] == "Shop"
    assert (await api.get(SITES)).status == 401


async def test_members_roles(api: Any) -> None:
    owner = await signup(api)
    viewer_user = await register(api)
    admin_user = await register(api)
    site = await make_site(api, owner)
    base = f"{SITES}/{site['id']}"
    viewer = await add_member(api, owner, site["id"], viewer_user["user"]["email"].upper(), "viewer")
    admin = await add_member(api, owner, site["id"], admin_user["user"]["email"], "admin")
    assert viewer["role"] == "viewer" and viewer["email"] == viewer_user["user"]["email"]
    v_token, a_token = viewer_user["access_token"], admin_user["access_token"]

    listed = await api.get(SITES, token=v_token)
    assert [(s["id"], s["role"]) for s in listed.json["sites"]] == [(site["id"], "viewer")]
    assert (await api.get(base, token=v_token)).status == 200
    assert (await api.get(f"{base}/members", token=v_token)).status == 200
    # Viewers read only; admins change the site and its keys; only the owner manages members and deletes.
    assert (await api.patch(base, json={"name": "v"}, token=v_token)).status == 403
    assert (await api.post(f"{base}/keys", json={"name": "k", "kind": "public"}, token=v_token)).status == 403
    assert (await api.patch(base, json={"name": "by admin"}, token=a_token)).status == 200
    assert (await api.post(f"{base}/keys", json={"name": "k", "kind": "public"}, token=a_token)).status == 201
    assert (await api.delete(base, token=a_token)).status == 403
    someone = unique_email()
    await register(api, someone)
    assert (await api.post(f"{base}/members", json={"email": someone}, token=a_token)).status == 403
    assert (await api.post(f"{base}/invitations", json={"email": someone}, token=a_token)).status == 403
    assert (
        await api.patch(f"{base}/members/{viewer['id']}", json={"role": "admin"}, token=a_token)
    ).status == 403
    assert (await api.delete(f"{base}/members/{viewer['id']}", token=a_token)).status == 403

    # L1: adding is inviting; an address with an account and one without get the same answer, and
    # nobody joins before accepting.
    known = await api.post(f"{base}/members", json={"email": someone}, token=owner)
    nobody = await api.post(f"{base}/members", json={"email": unique_email()}, token=owner)
    assert known.status == nobody.status == 201
    assert set(known.json) == set(nobody.json) == {"invitation", "link"}
    assert someone not in str((await api.get(f"{base}/members", token=owner)).json)
    bad_role = await api.post(f"{base}/members", json={"email": someone, "role": "owner"}, token=owner)
    assert bad_role.status == 422
    promoted = await api.patch(f"{base}/members/{viewer['id']}", json={"role": "admin"}, token=owner)
    assert promoted.status == 200 and promoted.json["member"]["role"] == "admin"
    assert (await api.patch(base, json={"name": "by promoted"}, token=v_token)).status == 200
    # A member may leave; the owner removes anyone.
    assert (
        await api.delete(f"{base}/members/{viewer['id']}", token=v_token, expect_json=False)
    ).status == 204
    assert (await api.get(base, token=v_token)).status == 404
    assert (await api.delete(f"{base}/members/{admin['id']}", token=owner, expect_json=False)).status == 204
    assert (await api.get(f"{base}/members", token=owner)).json["members"] == []


async def test_delete_removes_everything_of_the_site(api: Any, ctx: Any) -> None:
    owner = await signup(api)
    member = await register(api)
    site = await make_site(api, owner)
    keep = await make_site(api, owner, name="Keep", domain="keep.example")
    site_id = site["id"]
    secret = await make_key(api, owner, site_id, "secret")
    public = await make_key(api, owner, site_id, "public")
    kept_key = await make_key(api, owner, keep["id"], "secret")
    await add_member(api, owner, site_id, member["user"]["email"])
    metric = {"name": "checkout_total", "type": "counter"}
    assert (await api.post(f"{SITES}/{site_id}/metrics", json=metric, token=owner)).status == 201
    now = int(time.time() * 1000)
    events = [
        Event(id=f"e{i}", site_id=sid, ts=now, name="pageview") for i, sid in enumerate([site_id, keep["id"]])
    ]
    await ctx.stores.events.append(events)
    assert await ctx.keys.authenticate(secret["key"]) is not None  # cached as valid before the delete

    deleted = await api.delete(f"{SITES}/{site_id}", token=owner, expect_json=False)
    assert deleted.status == 204
    assert (await api.get(f"{SITES}/{site_id}", token=owner)).status == 404
    assert await ctx.keys.authenticate(secret["key"]) is None
    assert await ctx.keys.authenticate(public["key"]) is None
    assert await ctx.keys.authenticate(kept_key["key"]) is not None
    docs = ctx.stores.docs
    for collection in ("api_keys", "members", "metric_configs"):
        assert await docs.count(collection, {"site_id": site_id}) == 0, collection
    window = {"start": now - 1000, "end": now + 1000}
    assert await ctx.stores.events.count(EventFilter(site_id=site_id, **window)) == 0
    assert await ctx.stores.events.count(EventFilter(site_id=keep["id"], **window)) == 1
    assert [s["name"] for s in (await api.get(SITES, token=member["access_token"])).json["sites"]] == []
    assert (await api.delete(f"{SITES}/{site_id}", token=owner)).status == 404


async def test_a_site_document_older_than_its_settings_reads_with_their_defaults(api: Any, ctx: Any) -> None:
    # Documents written before allowed origins, timezone, retention, compatibility, goals and currency
    # existed hold none of them: the API shows the defaults, and a change writes them.
    owner = await register(api)
    token = owner["access_token"]
    created = time.time()
    old = {"id": "old-site", "owner_id": owner["user"]["id"], "name": "Old", "domain": "old.example"}
    await ctx.stores.docs.insert("sites", {**old, "created_at": created})
    got = await api.get(f"{SITES}/old-site", token=token)
    assert got.status == 200
    assert got.json["site"] == {
        **old,
        "allowed_origins": [],
        "timezone": "UTC",
        "retention_days": 0,
        "created_at": created,
        "updated_at": created,
        "role": "owner",
        "compat": {"plausible": False, "umami": False},
        "umami_alias": None,
        "goals": [],
        "currency": None,
    }
    changed = await api.patch(f"{SITES}/old-site", json={"timezone": "Europe/Paris"}, token=token)
    assert changed.status == 200 and changed.json["site"]["timezone"] == "Europe/Paris"
    assert [s["id"] for s in (await api.get(SITES, token=token)).json["sites"]] == ["old-site"]
