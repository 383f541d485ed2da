"""Abuse and secrecy: sign-in throttling (per account and per IP), the per-user API rate limit, bcrypt
cost at rest, no secret key in a dump of the embedded store, and no IOLoop stall while bcrypt runs."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from domain.accounts.passwords import hash_cost
from domain.accounts.throttle import Limit
from tests.support.accounts import PASSWORD, make_key, make_site, register, unique_email
from tests.support.modes import both_modes as app_config  # noqa: F401

LOGIN = "/api/v1/auth/login"


def _retry_after(answer: Any) -> int:
    value = int(answer.headers["Retry-After"])
    assert value >= 1
    return value


@pytest.mark.reliability
async def test_brute_force_on_one_account_is_throttled(api: Any, ctx: Any) -> None:
    email = unique_email()
    await register(api, email)
    limit = ctx.accounts.throttle.login_address_failures
    statuses = []
    for attempt in range(limit.hits):
        answer = await api.post(LOGIN, json={"email": email, "password": f"guess {attempt}"})
        statuses.append(answer.status)
    assert statuses == [401] * limit.hits
    blocked = await api.post(LOGIN, json={"email": email, "password": "guess again"})
    assert blocked.status == 429 and blocked.error_code == "rate_limited"
    assert _retry_after(blocked) <= limit.window + 3
    # Throttled before the password is checked: even the right one waits, from this address.
    right = await api.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert right.status == 429


@pytest.mark.reliability
async def test_m1_wrong_passwords_from_many_addresses_do_not_lock_the_owner_out(api: Any, ctx: Any) -> None:
    # The attack: 11 wrong passwords from 11 addresses locked the account for 10 minutes (429 even for
    # the right password from a 12th). Now failures are counted per (account, address), and past the
    # account's ceiling each failed address is refused while a new address is still heard.
    throttle = ctx.accounts.throttle
    throttle.login_address_failures = Limit(3, 600.0)
    throttle.login_account_failures = Limit(10, 600.0)
    email = unique_email()
    await register(api, email)

    async def attempt(address: int, password: str) -> int:
        body = {"email": email, "password": password}
        return (await api.post(LOGIN, json=body, source=f"127.0.0.{address}")).status

    # 127.0.0.2 guesses until it is refused: 3 failures, then 429 even with the right password
    assert [await attempt(2, f"guess {n}") for n in range(4)] == [401, 401, 401, 429]
    assert await attempt(2, PASSWORD) == 429
    # 127.0.0.3 ... 127.0.0.12: two guesses each. The ceiling (10) is reached by the 7th failure of
    # these; from then on an address that failed once is refused, a new one gets one guess.
    statuses = {
        address: [await attempt(address, "wrong"), await attempt(address, "wrong")]
        for address in range(3, 13)
    }
    assert [statuses[a] for a in range(3, 7)] == [[401, 401]] * 3 + [[401, 429]]
    assert [statuses[a] for a in range(7, 13)] == [[401, 429]] * 6
    # The owner, from an address that sent nothing wrong, signs in with the right password.
    assert await attempt(13, PASSWORD) == 200
    # An address that guessed wrong stays refused, right password or not.
    assert await attempt(3, PASSWORD) == 429


@pytest.mark.reliability
async def test_many_accounts_from_one_ip_are_throttled(api: Any, ctx: Any) -> None:
    ctx.accounts.throttle.login_ip = Limit(4, 60.0)
    answers = [
        await api.post(LOGIN, json={"email": unique_email(), "password": "whatever it is"}) for _ in range(5)
    ]
    assert [a.status for a in answers] == [401, 401, 401, 401, 429]
    assert _retry_after(answers[-1]) <= 63


@pytest.mark.reliability
async def test_registrations_from_one_ip_are_throttled(api: Any, ctx: Any) -> None:
    ctx.accounts.throttle.register_ip = Limit(2, 60.0)
    await register(api)
    await register(api)
    third = await api.post("/api/v1/auth/register", json={"email": unique_email(), "password": PASSWORD})
    assert third.status == 429
    _retry_after(third)


async def test_api_rate_limit_is_per_user(api: Any, ctx: Any) -> None:
    ctx.accounts.throttle.api_user = Limit(3, 60.0)
    first = (await register(api))["access_token"]
    second = (await register(api))["access_token"]
    statuses = [(await api.get("/api/v1/auth/me", token=first)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await api.get("/api/v1/auth/me", token=second)).status == 200


@pytest.mark.reliability
async def test_stored_password_hash_is_bcrypt_cost_12_or_more(api: Any, ctx: Any) -> None:
    created = await register(api)
    user = await ctx.stores.docs.get("users", created["user"]["id"])
    assert user["password_hash"].startswith("$2b$")
    assert hash_cost(user["password_hash"]) >= 12
    assert PASSWORD not in str(user)


@pytest.mark.reliability
async def test_embedded_store_dump_holds_no_secret_key(api: Any, ctx: Any, data_dir: Path) -> None:
    token = (await register(api))["access_token"]
    site = await make_site(api, token)
    secret = await make_key(api, token, site["id"], "secret")
    public = await make_key(api, token, site["id"], "public")
    rotated = await api.post(f"/api/v1/sites/{site['id']}/keys/{secret['id']}/rotate", token=token)
    secrets = [secret["key"], rotated.json["key"]["key"]]
    assert all(value.startswith("eddy_sk_") for value in secrets)
    raw = b"".join(path.read_bytes() for path in sorted(data_dir.glob("eddy.db*")))
    with sqlite3.connect(data_dir / "eddy.db") as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = "".join(repr(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    assert public["key"] in rows  # control: the dump does see key material (public keys are kept)
    for value in secrets:
        body = value.removeprefix("eddy_sk_")
        assert body.encode() not in raw and body not in rows
    assert PASSWORD.encode() not in raw


@pytest.mark.reliability
async def test_login_does_not_block_the_ioloop(api: Any) -> None:
    email = unique_email()
    await register(api, email)
    salt = bcrypt.gensalt(12)
    started = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, bcrypt.hashpw, b"measure one hash", salt)
    one_hash = time.perf_counter() - started

    worst = 0.0
    done = False

    async def probe() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.002)  # the probe itself: how late this wake-up comes is the measurement
            now = time.perf_counter()
            worst = max(worst, now - last - 0.002)
            last = now

    prober = asyncio.ensure_future(probe())
    answers = await asyncio.gather(
        *(api.post(LOGIN, json={"email": email, "password": PASSWORD}) for _ in range(3))
    )
    done = True
    await prober
    assert [a.status for a in answers] == [200, 200, 200]
    # Three logins hash for at least one full bcrypt duration; the loop never stalls for a large part of one.
    assert worst < one_hash / 2, (worst, one_hash)


class TestBehindATrustedProxy:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"trust_proxy": True}

    @pytest.mark.reliability
    async def test_l3_x_forwarded_for_wins_over_a_client_x_real_ip(self, api: Any, ctx: Any) -> None:
        # Before, a client-sent X-Real-Ip overrode the address the proxy appended to X-Forwarded-For:
        # a new X-Real-Ip per request was a new address (35 logins, no 429).
        ctx.accounts.throttle.login_ip = Limit(3, 60.0)
        statuses = []
        for n in range(4):
            headers = {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.5", "X-Real-Ip": f"192.0.2.{n}"}
            body = {"email": unique_email(), "password": "whatever it is"}
            statuses.append((await api.post(LOGIN, json=body, headers=headers)).status)
        assert statuses == [401, 401, 401, 429]
        # a proxy that sends only X-Real-Ip is still heard
        alone = await api.post(
            LOGIN, json={"email": unique_email(), "password": "whatever"}, headers={"X-Real-Ip": "192.0.2.77"}
        )
        assert alone.status == 401
