"""Secrets are compared in constant time and never kept in the clear (RELIABILITY.md item 6).

Constant time: `hmac.compare_digest` is replaced by a recording wrapper (that still compares), and the real
code paths run through the API: an API key, a bearer token (PyJWT's signature check), the metrics token, a
share-link token, and a webhook signature. Each must reach compare_digest with the secret-derived value.

At rest: the embedded document store's dump is checked in tests/test_auth_security.py; here the same
traffic runs against a real Redis (key-value store and bus) and every key and value under the test's prefix
is read back: no secret key, password, token or share token appears.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from domain.accounts.keys import key_lookup
from domain.alerts.webhook import sign, verify
from domain.share import token_hash
from handlers.context import AppContext
from tests.support.accounts import PASSWORD, make_key, make_site, register
from tests.support.api import Api
from tests.support.modes import redis_mode as app_config  # noqa: F401

pytestmark = pytest.mark.reliability

METRICS_TOKEN = "metrics-token-for-the-constant-time-test"


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    """Every (a, b) passed to hmac.compare_digest while the test runs (the comparison still happens)."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    yield calls


def _seen(calls: list[tuple[Any, Any]], value: Any) -> bool:
    return any(value in pair for pair in calls)


class TestConstantTime:
    @pytest.fixture
    def app_config(self, redis_server: Any, unique_prefix: str) -> dict[str, Any]:
        return {"redis_url": redis_server.url, "redis_prefix": unique_prefix, "metrics_token": METRICS_TOKEN}

    async def test_secret_comparisons_go_through_compare_digest(
        self, api: Api, ctx: AppContext, compared: list[tuple[Any, Any]]
    ) -> None:
        user = await register(api)
        token = user["access_token"]
        site = await make_site(api, token)
        secret = await make_key(api, token, site["id"], "secret")

        # API key: the stored lookup is compared with the HMAC of the presented key.
        compared.clear()
        headers = {"X-Api-Key": secret["key"], "User-Agent": "backend"}
        assert (await api.post("/api/v1/collect", json={"name": "x"}, headers=headers)).status == 202
        assert _seen(compared, key_lookup(ctx.secrets.hash_key, secret["key"]))

        # Bearer token: PyJWT compares the HMAC signature of the access token.
        compared.clear()
        assert (await api.get("/api/v1/auth/me", token=token)).status == 200
        signature = token.rsplit(".", 1)[1]
        assert _seen(compared, base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))

        # Metrics token: a wrong one is refused after a constant-time compare.
        compared.clear()
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status == 401
        assert _seen(compared, b"Bearer guess")
        right = await api.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, expect_json=False
        )
        assert right.status == 200

        # Share link: the stored HMAC is compared with the HMAC of the presented token.
        link = await api.post(f"/api/v1/sites/{site['id']}/share-links", json={}, token=token)
        assert link.status == 201
        share_token = link.json["share_link"]["token"]
        compared.clear()
        seen = await api.get("/api/v1/share/site", headers={"X-Share-Token": share_token})
        assert seen.status == 200
        assert _seen(compared, token_hash(ctx.secrets.hash_key, share_token))

        # Webhook signatures (what a receiver of Eddy's alerts runs).
        compared.clear()
        now = str(int(time.time()))
        signature = sign("hook-secret", int(now), b"{}")
        assert verify("hook-secret", now, b"{}", signature)
        assert not verify("hook-secret", now, b"{}", "0" * len(signature))
        assert _seen(compared, signature) and _seen(compared, "0" * len(signature))


def _redis_dump(url: str, prefix: str) -> bytes:
    """Every key under `prefix` and everything stored in it, as one blob."""
    client = redis.Redis.from_url(url)
    parts: list[bytes] = []
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            parts.append(key)
            kind = client.type(key)
            if kind == b"string":
                parts.append(client.get(key) or b"")
            elif kind == b"hash":
                for field, value in client.hgetall(key).items():
                    parts += [field, value]
            elif kind == b"set":
                parts += list(client.smembers(key))
            elif kind == b"zset":
                parts += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == b"list":
                parts += client.lrange(key, 0, -1)
            elif kind == b"stream":
                for _, fields in client.xrange(key):
                    for field, value in fields.items():
                        parts += [field, value]
            else:
                raise AssertionError(f"unexpected Redis type {kind!r} for {key!r}")
    finally:
        client.close()
    return b"\n".join(parts)


async def test_redis_holds_no_secret(
    api: Api,
    ctx: AppContext,
    redis_server: Any,
    unique_prefix: str,
    app_config: dict[str, Any],  # noqa: F811
) -> None:
    assert app_config["redis_prefix"] == unique_prefix
    user = await register(api)
    token, refresh = user["access_token"], user["refresh_token"]
    site = await make_site(api, token)
    secret = await make_key(api, token, site["id"], "secret")
    rotated = await api.post(f"/api/v1/sites/{site['id']}/keys/{secret['id']}/rotate", token=token)
    assert rotated.status == 200
    new_secret = rotated.json["key"]["key"]
    headers = {"X-Api-Key": new_secret, "User-Agent": "backend"}
    for _ in range(3):  # rate-limit windows, sessions and live sets get written
        assert (await api.post("/api/v1/collect", json={"name": "x"}, headers=headers)).status == 202
    assert (
        await api.post("/api/v1/auth/login", json={"email": user["user"]["email"], "password": PASSWORD})
    ).status == 200
    assert (await api.post("/api/v1/auth/refresh", json={"refresh_token": refresh})).status == 200
    link = await api.post(f"/api/v1/sites/{site['id']}/share-links", json={}, token=token)
    assert (
        await api.get("/api/v1/share/site", headers={"X-Share-Token": link.json["share_link"]["token"]})
    ).status == 200
    assert (await api.get(f"/api/v1/sites/{site['id']}/stats/summary", token=token)).status == 200

    dump = _redis_dump(redis_server.url, unique_prefix)
    assert unique_prefix.encode() in dump  # control: the test did write under its prefix
    for value in (secret["key"], new_secret):
        assert value.removeprefix("eddy_sk_").encode() not in dump
    for value in (PASSWORD, token, refresh, link.json["share_link"]["token"]):
        assert value.encode() not in dump
    # Token parts (a signature alone is as good as the token for a replay) are absent too.
    for jwt_value in (token, refresh):
        assert jwt_value.rsplit(".", 1)[1].encode() not in dump
