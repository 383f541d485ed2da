"""Google sign-in through `GoogleOAuth2Mixin`, against a local fake Google (no network): the consent
redirect, state checks, code exchange, userinfo, account creation and linking, the one-time handoff code
(callback 302 to `/login#google=<code>`, spent once by `/auth/google/exchange`), and refusals (302 to
`/login#google_error=<code>`)."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from domain.accounts import google
from handlers.context import AppContext
from tests.support import fake_google as fake_provider
from tests.support.accounts import PASSWORD, register, unique_email
from tests.support.api import Api, check_invariants
from tests.support.clock import freeze_kv_clock
from tests.support.fake_google import CLIENT_ID, FakeGoogle
from tests.support.smtp_sink import SmtpSink, to, token_in


@pytest.fixture
async def fake_google() -> AsyncIterator[FakeGoogle]:
    """A fake Google OAuth server on a free local port."""
    fake = FakeGoogle()
    server = fake_provider.start(fake)
    yield fake
    server.stop()


@pytest.fixture
def app_config(fake_google: FakeGoogle, sink: SmtpSink, http_server_port: Any) -> dict[str, Any]:
    return sink.app_config(
        **fake_provider.config(fake_google), public_url=f"http://127.0.0.1:{http_server_port[1]}"
    )


async def _fetch(url: str, cookie: str | None = None) -> Any:
    headers = {"Cookie": cookie} if cookie else {}
    return await AsyncHTTPClient().fetch(url, follow_redirects=False, raise_error=False, headers=headers)


async def _start(api: Any) -> tuple[str, str, dict[str, str]]:
    """GET /api/v1/auth/google: the consent URL, the state cookie and the consent URL's parameters."""
    answer = await _fetch(api.base_url + "/api/v1/auth/google")
    check_invariants(answer, expect_json=False)
    assert answer.code == 302
    location = answer.headers["Location"]
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    return location, cookie.split(";")[0], params


async def _sign_in(api: Any, fake: FakeGoogle, who: str) -> Any:
    location, cookie, params = await _start(api)
    assert params["client_id"] == CLIENT_ID and params["response_type"] == "code"
    assert params["redirect_uri"] == api.base_url + "/api/v1/auth/google/callback"
    assert "email" in params["scope"] and params["state"]
    consent = await _fetch(location + "&login_hint=" + who)
    assert consent.code == 302
    callback = consent.headers["Location"]
    return await _finish(api, callback, cookie), callback, cookie


def _fragment(answer: Any) -> dict[str, str]:
    """The callback's redirect: always to /login, with the outcome in the fragment only."""
    check_invariants(answer, expect_json=False)
    assert answer.code == 302, answer.body
    location = urllib.parse.urlsplit(answer.headers["Location"])
    assert location.path == "/login" and not location.query
    return dict(urllib.parse.parse_qsl(location.fragment))


async def _finish(api: Any, callback: str, cookie: str | None) -> Any:
    """Follow the callback; spend its handoff code once (a second exchange is refused) or return the
    error code from `#google_error=`."""
    outcome = _fragment(await _fetch(callback, cookie))
    if "google_error" in outcome:
        return outcome["google_error"]
    code = outcome["google"]
    assert len(code) >= 40
    answer = await api.post("/api/v1/auth/google/exchange", json={"code": code})
    again = await api.post("/api/v1/auth/google/exchange", json={"code": code})
    assert again.status == 401 and again.error_code == "invalid_code"
    return answer


async def test_new_google_user_signs_in(api: Any, ctx: Any, fake_google: FakeGoogle) -> None:
    email = unique_email("g")
    fake_google.identities["user-a"] = {
        "id": "g-1",
        "email": email.upper(),
        "verified_email": True,
        "name": "G",
    }
    answer, _callback, _cookie = await _sign_in(api, fake_google, "user-a")
    assert answer.status == 200, answer.json
    assert answer.json["user"]["email"] == email and answer.json["user"]["name"] == "G"
    assert fake_google.token_requests[-1]["redirect_uri"].endswith("/api/v1/auth/google/callback")
    me = await api.get("/api/v1/auth/me", token=answer.json["access_token"])
    assert me.status == 200 and me.json["user"]["email"] == email
    stored = await ctx.stores.docs.get("users", answer.json["user"]["id"])
    assert stored["google_sub"] == "g-1" and stored["password_hash"] is None
    # No password: password sign-in is impossible for this account.
    assert (
        await api.post("/api/v1/auth/login", json={"email": email, "password": "anything at all"})
    ).status == 401
    again, _c, _k = await _sign_in(api, fake_google, "user-a")
    assert again.json["user"]["id"] == answer.json["user"]["id"]


async def test_h3_google_never_links_to_an_unverified_local_account(
    api: Any, ctx: Any, fake_google: FakeGoogle
) -> None:
    """Pre-hijack: someone registers the victim's address with their own password; when the victim later
    signs in with Google (which vouches for the address), they must not land in that account."""
    email = unique_email("victim")
    squatter = await register(api, email, password="the squatter's password")
    fake_google.identities["victim"] = {"id": "g-victim", "email": email, "verified_email": True}
    error, _callback, _cookie = await _sign_in(api, fake_google, "victim")
    assert error == "google_link_unverified"
    stored = await ctx.stores.docs.get("users", squatter["user"]["id"])
    assert "google_sub" not in stored


async def test_h3_link_to_a_verified_account_ends_its_other_sessions(
    api: Any, fake_google: FakeGoogle, sink: SmtpSink
) -> None:
    email = unique_email("link")
    existing = await register(api, email)
    assert existing["user"]["email_verified"] is False
    mail = await sink.wait_for(to(email))
    verified = await api.post("/api/v1/auth/verify-email", json={"token": token_in(mail, "/verify")})
    assert verified.status == 200 and verified.json["user"]["email_verified"] is True
    fake_google.identities["user-b"] = {"id": "g-2", "email": email, "verified_email": True}
    answer, _callback, _cookie = await _sign_in(api, fake_google, "user-b")
    assert answer.status == 200 and answer.json["user"]["id"] == existing["user"]["id"]
    # Every session that existed before the link is over; the new one works.
    assert (await api.get("/api/v1/auth/me", token=existing["access_token"])).status == 401
    stale = await api.post("/api/v1/auth/refresh", json={"refresh_token": existing["refresh_token"]})
    assert stale.status == 401
    assert (await api.get("/api/v1/auth/me", token=answer.json["access_token"])).status == 200
    assert (await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).status == 200


async def test_accounts_with_two_factor_sign_in_do_not_sign_in_with_google(
    api: Any, ctx: Any, fake_google: FakeGoogle
) -> None:
    email = unique_email("twofactor")
    account = await register(api, email)
    await ctx.stores.docs.update(
        "users",
        {"id": account["user"]["id"]},
        {"email_verified": True, "totp": {"enabled": True, "secret": "A" * 32}},
    )
    fake_google.identities["user-f"] = {"id": "g-6", "email": email, "verified_email": True}
    error, _callback, _cookie = await _sign_in(api, fake_google, "user-f")
    assert error == "two_factor_required"
    stored = await ctx.stores.docs.get("users", account["user"]["id"])
    assert "google_sub" not in stored  # refused before linking
    assert (await api.get("/api/v1/auth/me", token=account["access_token"])).status == 200


async def test_unverified_email_is_refused(api: Any, fake_google: FakeGoogle) -> None:
    email = unique_email("unverified")
    await register(api, email)
    fake_google.identities["user-c"] = {"id": "g-3", "email": email, "verified_email": False}
    error, _callback, _cookie = await _sign_in(api, fake_google, "user-c")
    assert error == "google_unverified"


async def test_state_must_match_and_is_one_use(api: Any, fake_google: FakeGoogle) -> None:
    fake_google.identities["user-d"] = {"id": "g-4", "email": unique_email("d"), "verified_email": True}
    location, cookie, _params = await _start(api)
    consent = await _fetch(location + "&login_hint=user-d")
    callback = consent.headers["Location"]
    assert await _finish(api, callback, None) == "invalid_state"
    _l, other_cookie, _p = await _start(api)
    assert await _finish(api, callback, other_cookie) == "invalid_state"  # another browser's state
    assert (await _finish(api, callback, cookie)).status == 200
    assert await _finish(api, callback, cookie) == "invalid_state"


async def test_refused_consent_and_bad_code(api: Any, fake_google: FakeGoogle) -> None:
    denied = await _fetch(api.base_url + "/api/v1/auth/google/callback?error=access_denied")
    assert _fragment(denied) == {"google_error": "google_denied"}
    _location, cookie, params = await _start(api)
    bad = await _fetch(
        f"{api.base_url}/api/v1/auth/google/callback?code=forged&state={params['state']}", cookie
    )
    assert _fragment(bad) == {"google_error": "google_failed"}
    assert "forged" not in bad.headers["Location"]


async def test_exchange_refuses_unknown_and_malformed_codes(api: Any) -> None:
    unknown = await api.post("/api/v1/auth/google/exchange", json={"code": "x" * 43})
    assert unknown.status == 401 and unknown.error_code == "invalid_code"
    for body in ({}, {"code": ""}, {"code": "x" * 101}, {"code": "abc", "extra": 1}, {"code": 5}):
        answer = await api.post("/api/v1/auth/google/exchange", json=body)
        assert answer.status == 422, (body, answer.json)


async def test_handoff_code_expires(
    api: Any, ctx: AppContext, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = freeze_kv_clock(ctx.stores.kv, monkeypatch)
    fake_google.identities["user-e"] = {"id": "g-5", "email": unique_email("e"), "verified_email": True}
    location, cookie, _params = await _start(api)
    consent = await _fetch(location + "&login_hint=user-e")
    code = _fragment(await _fetch(consent.headers["Location"], cookie))["google"]
    clock.advance(google.HANDOFF_TTL_S)
    gone = await api.post("/api/v1/auth/google/exchange", json={"code": code})
    assert gone.status == 401 and gone.error_code == "invalid_code"


class TestNotConfigured:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {}

    async def test_google_routes_answer_404(self, api: Any) -> None:
        assert (await api.get("/api/v1/auth/google")).status == 404
        assert (await api.get("/api/v1/auth/google/callback?code=x&state=y")).status == 404
        # The exchange only reads the key-value store: an unknown code is refused either way.
        assert (await api.post("/api/v1/auth/google/exchange", json={"code": "x"})).status == 401


async def test_the_providers_endpoint_says_google_is_on(api: Api) -> None:
    """GET /api/v1/auth/providers (public): what the sign-in page reads instead of probing /auth/google."""
    answer = await api.get("/api/v1/auth/providers")
    assert answer.status == 200
    assert answer.json == {"password": True, "google": True}
