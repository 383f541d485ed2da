"""Register, login, refresh, logout, me and password change: success and failure paths, on both the
embedded and the Redis-backed deployment."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

from tests.support.accounts import PASSWORD, register, unique_email
from tests.support.modes import both_modes as app_config  # noqa: F401

AUTH = "/api/v1/auth"


async def test_register_login_me(api: Any) -> None:
    email = unique_email()
    created = await register(api, email.upper(), name="Ada")
    assert created["user"]["email"] == email
    assert created["token_type"] == "Bearer" and created["expires_in"] == 900
    assert "password_hash" not in created["user"]
    login = await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert login.status == 200 and login.json["user"]["id"] == created["user"]["id"]
    me = await api.get(f"{AUTH}/me", token=login.json["access_token"])
    assert me.status == 200
    assert me.json == {"user": created["user"]}


async def test_register_conflict_and_validation(api: Any) -> None:
    email = unique_email()
    await register(api, email)
    again = await api.post(f"{AUTH}/register", json={"email": email.upper(), "password": PASSWORD})
    assert again.status == 409 and again.error_code == "email_taken"
    short = await api.post(f"{AUTH}/register", json={"email": unique_email(), "password": "short"})
    assert short.status == 422 and "password" in short.json["error"]["fields"]
    bad_email = await api.post(f"{AUTH}/register", json={"email": "nope", "password": PASSWORD})
    assert bad_email.status == 422 and "email" in bad_email.json["error"]["fields"]
    missing = await api.post(f"{AUTH}/register", json={"email": unique_email()})
    assert missing.status == 422
    not_json = await api.post(f"{AUTH}/register", body=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status == 400 and not_json.error_code == "invalid_json"


@pytest.mark.reliability
async def test_unknown_email_and_wrong_password_answer_alike(api: Any) -> None:
    email = unique_email()
    await register(api, email)
    wrong = await api.post(f"{AUTH}/login", json={"email": email, "password": "wrong password"})
    unknown = await api.post(f"{AUTH}/login", json={"email": unique_email(), "password": "wrong password"})
    assert wrong.status == unknown.status == 401
    assert wrong.json == unknown.json
    assert wrong.json["error"]["code"] == "invalid_credentials"


@pytest.mark.reliability
async def test_refresh_rotates_and_logout_ends_the_session(api: Any) -> None:
    first = await register(api)
    refreshed = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status == 200
    pair = refreshed.json
    assert pair["refresh_token"] != first["refresh_token"]
    assert (await api.get(f"{AUTH}/me", token=pair["access_token"])).status == 200
    out = await api.post(f"{AUTH}/logout", json={"refresh_token": pair["refresh_token"]}, expect_json=False)
    assert out.status == 204
    assert (await api.get(f"{AUTH}/me", token=pair["access_token"])).status == 401
    assert (await api.get(f"{AUTH}/me", token=first["access_token"])).status == 401
    again = await api.post(f"{AUTH}/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status == 401
    garbage = await api.post(f"{AUTH}/logout", json={"refresh_token": "not.a.token"})
    assert garbage.status == 401


@pytest.mark.reliability
async def test_spent_refresh_token_revokes_the_family(api: Any) -> None:
    first = await register(api)
    second = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status == 200
    reuse = await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status == 401 and reuse.error_code == "token_reused"
    # The thief's replay ended the whole session: the legitimate newer tokens die too.
    assert (await api.get(f"{AUTH}/me", token=second.json["access_token"])).status == 401
    later = await api.post(f"{AUTH}/refresh", json={"refresh_token": second.json["refresh_token"]})
    assert later.status == 401


@pytest.mark.reliability
async def test_parallel_refreshes_of_one_token_succeed_once(api: Any) -> None:
    first = await register(api)
    answers = await asyncio.gather(
        *(api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]}) for _ in range(8))
    )
    statuses = sorted(a.status for a in answers)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(401) == 7, statuses


@pytest.mark.reliability
async def test_password_change_ends_other_sessions(api: Any) -> None:
    email = unique_email()
    first = await register(api, email)
    other = (await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})).json
    wrong = await api.post(
        f"{AUTH}/password",
        json={"current_password": "not it at all", "new_password": "a brand new secret"},
        token=first["access_token"],
    )
    assert wrong.status == 401
    changed = await api.post(
        f"{AUTH}/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        token=first["access_token"],
    )
    assert changed.status == 200
    for token in (first["access_token"], other["access_token"]):
        assert (await api.get(f"{AUTH}/me", token=token)).status == 401
    assert (await api.post(f"{AUTH}/refresh", json={"refresh_token": other["refresh_token"]})).status == 401
    assert (await api.get(f"{AUTH}/me", token=changed.json["access_token"])).status == 200
    old = await api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert old.status == 401
    new = await api.post(f"{AUTH}/login", json={"email": email, "password": "a brand new secret"})
    assert new.status == 200


@pytest.mark.reliability
async def test_long_and_odd_passwords_work(api: Any) -> None:
    # Over bcrypt's 72 bytes: pre-hashed, so the whole password counts (never truncated, never a 500).
    long_password = "ü" * 60 + "tail-A"
    email = unique_email()
    await register(api, email, long_password)
    ok = await api.post(f"{AUTH}/login", json={"email": email, "password": long_password})
    assert ok.status == 200
    same_prefix = await api.post(f"{AUTH}/login", json={"email": email, "password": "ü" * 60 + "tail-B"})
    assert same_prefix.status == 401
    nul = unique_email()
    await register(api, nul, "with\x00nul byte")
    nul_login = await api.post(f"{AUTH}/login", json={"email": nul, "password": "with\x00nul byte"})
    assert nul_login.status == 200
    assert (await api.post(f"{AUTH}/login", json={"email": nul, "password": "with"})).status == 401
    too_long = await api.post(f"{AUTH}/register", json={"email": unique_email(), "password": "x" * 1025})
    assert too_long.status == 422


async def test_me_needs_a_token(api: Any) -> None:
    assert (await api.get(f"{AUTH}/me")).status == 401
    assert (await api.get(f"{AUTH}/me", headers={"Authorization": "Basic abc"})).status == 401
    assert (await api.post(f"{AUTH}/password", json={})).status == 401


@pytest.mark.reliability
async def test_session_has_an_absolute_lifetime(api: Any, ctx: Any) -> None:
    first = await register(api)
    family = jwt.decode(first["refresh_token"], options={"verify_signature": False})["fam"]
    stored = await ctx.stores.docs.get("refresh_families", family)
    lifetime = stored["expires_at"] - stored["created_at"]
    assert lifetime == ctx.accounts.sessions.family_lifetime == 30 * 24 * 3600
    # Refreshing never extends it.
    pair = (await api.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})).json
    assert (await ctx.stores.docs.get("refresh_families", family))["expires_at"] == stored["expires_at"]
    await ctx.stores.docs.update("refresh_families", {"id": family}, {"expires_at": time.time() - 1})
    ended = await api.post(f"{AUTH}/refresh", json={"refresh_token": pair["refresh_token"]})
    assert ended.status == 401
