"""The JWT negative matrix: every forged, expired, premature or wrong-kind token answers 401. A token made
the same way with the right claims answers 200, so each rejection is for the one claim changed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from domain.accounts.tokens import ACCESS_AUDIENCE, ISSUER
from tests.support.accounts import register

ME = "/api/v1/auth/me"


def _claims(sub: str, sid: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ACCESS_AUDIENCE,
        "sub": sub,
        "sid": sid,
        "typ": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "t",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


CASES = {
    "alg_none": lambda key, c: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(c)}.",
    "wrong_key": lambda key, c: jwt.encode(c, b"k" * 32, algorithm="HS256"),
    "other_hmac_alg": lambda key, c: _hs512(key, c),
    "expired": lambda key, c: jwt.encode({**c, "exp": int(time.time()) - 5}, key, algorithm="HS256"),
    "future_nbf": lambda key, c: jwt.encode({**c, "nbf": int(time.time()) + 3600}, key, algorithm="HS256"),
    "wrong_aud": lambda key, c: jwt.encode({**c, "aud": "eddy:refresh"}, key, algorithm="HS256"),
    "wrong_iss": lambda key, c: jwt.encode({**c, "iss": "someone-else"}, key, algorithm="HS256"),
    "missing_exp": lambda key, c: jwt.encode(
        {k: v for k, v in c.items() if k != "exp"}, key, algorithm="HS256"
    ),
    "wrong_typ": lambda key, c: jwt.encode({**c, "typ": "refresh"}, key, algorithm="HS256"),
    "tampered_payload": lambda key, c: _tamper(jwt.encode(c, key, algorithm="HS256"), c),
}


def _hs512(key: bytes, claims: dict[str, Any]) -> str:
    # Signed by hand: the server's key under another algorithm must not be accepted.
    signing_input = f"{_b64({'alg': 'HS512', 'typ': 'JWT'})}.{_b64(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def _tamper(token: str, claims: dict[str, Any]) -> str:
    header, _payload, signature = token.split(".")
    return f"{header}.{_b64({**claims, 'sub': 'someone-else'})}.{signature}"


async def _identity(api: Any) -> tuple[dict[str, Any], str, str]:
    created = await register(api)
    payload = jwt.decode(created["access_token"], options={"verify_signature": False})
    return created, payload["sub"], payload["sid"]


async def test_control_token_made_the_same_way_is_accepted(api: Any, ctx: Any) -> None:
    _created, sub, sid = await _identity(api)
    good = jwt.encode(_claims(sub, sid), ctx.secrets.jwt_key, algorithm="HS256")
    assert (await api.get(ME, token=good)).status == 200


@pytest.mark.reliability
@pytest.mark.parametrize("case", sorted(CASES))
async def test_forged_or_invalid_access_tokens_are_refused(api: Any, ctx: Any, case: str) -> None:
    _created, sub, sid = await _identity(api)
    token = CASES[case](ctx.secrets.jwt_key, _claims(sub, sid))
    answer = await api.get(ME, token=token)
    assert answer.status == 401, (case, answer.json)
    assert answer.error_code == "invalid_token"


@pytest.mark.reliability
async def test_refresh_token_is_not_an_access_token(api: Any) -> None:
    created = await register(api)
    assert (await api.get(ME, token=created["refresh_token"])).status == 401
    # ...and an access token is not a refresh token.
    swapped = await api.post("/api/v1/auth/refresh", json={"refresh_token": created["access_token"]})
    assert swapped.status == 401


@pytest.mark.reliability
async def test_token_of_an_unknown_session_is_refused(api: Any, ctx: Any) -> None:
    _created, sub, _sid = await _identity(api)
    token = jwt.encode(_claims(sub, "no-such-session"), ctx.secrets.jwt_key, algorithm="HS256")
    assert (await api.get(ME, token=token)).status == 401
