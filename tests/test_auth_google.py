"""Google sign-in through `GoogleOAuth2Mixin`, against a local fake Google (no network): the consent
redirect, state checks, code exchange, userinfo, account creation and linking, and refusals."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler

from tests.support.accounts import PASSWORD, register, unique_email
from tests.support.api import check_invariants

CLIENT_ID, CLIENT_SECRET = "client-123", "client-secret-456"


class FakeGoogle:
    """What the fake provider knows: which code belongs to which identity."""

    def __init__(self) -> None:
        self.identities: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.base = ""


class _Authorize(RequestHandler):
    def get(self) -> None:
        fake: FakeGoogle = self.settings["fake"]
        code = self.get_query_argument("login_hint", "user-a")
        assert code in fake.identities
        target = self.get_query_argument("redirect_uri")
        state = self.get_query_argument("state")
        self.redirect(f"{target}?{urllib.parse.urlencode({'code': code, 'state': state})}")


class _Token(RequestHandler):
    def post(self) -> None:
        fake: FakeGoogle = self.settings["fake"]
        form = {k: v[0].decode() for k, v in self.request.body_arguments.items()}
        fake.token_requests.append(form)
        if (
            form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
            or form.get("grant_type") != "authorization_code"
            or form.get("code") not in fake.identities
        ):
            self.set_status(400)
            self.finish({"error": "invalid_grant"})
            return
        self.finish({"access_token": "at-" + form["code"], "expires_in": 3600, "token_type": "Bearer"})


class _UserInfo(RequestHandler):
    def get(self) -> None:
        fake: FakeGoogle = self.settings["fake"]
        token = self.get_query_argument("access_token", "")
        identity = fake.identities.get(token.removeprefix("at-"))
        if not token.startswith("at-") or identity is None:
            self.set_status(401)
            self.finish({"error": "invalid_token"})
            return
        self.finish(json.dumps(identity))


@pytest.fixture
def fake_google(io_loop: Any) -> Iterator[FakeGoogle]:
    """A fake Google OAuth server on a free local port."""
    fake = FakeGoogle()
    sock, port = bind_unused_port()
    app = Application(
        [(r"/authorize", _Authorize), (r"/token", _Token), (r"/userinfo", _UserInfo)], fake=fake
    )
    server = HTTPServer(app)
    server.add_sockets([sock])
    fake.base = f"http://127.0.0.1:{port}"
    yield fake
    server.stop()


@pytest.fixture
def app_config(fake_google: FakeGoogle) -> dict[str, Any]:
    return {
        "google_client_id": CLIENT_ID,
        "google_client_secret": CLIENT_SECRET,
        "extra": {
            "EDDY_GOOGLE_AUTHORIZE_URL": fake_google.base + "/authorize",
            "EDDY_GOOGLE_TOKEN_URL": fake_google.base + "/token",
            "EDDY_GOOGLE_USERINFO_URL": fake_google.base + "/userinfo",
        },
    }


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
    return check_invariants(await _fetch(callback, cookie)), callback, cookie


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


async def test_verified_email_links_an_existing_account(api: Any, fake_google: FakeGoogle) -> None:
    email = unique_email("link")
    existing = await register(api, email)
    fake_google.identities["user-b"] = {"id": "g-2", "email": email, "verified_email": True}
    answer, _callback, _cookie = await _sign_in(api, fake_google, "user-b")
    assert answer.status == 200 and answer.json["user"]["id"] == existing["user"]["id"]
    assert (await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).status == 200


async def test_unverified_email_is_refused(api: Any, fake_google: FakeGoogle) -> None:
    email = unique_email("unverified")
    await register(api, email)
    fake_google.identities["user-c"] = {"id": "g-3", "email": email, "verified_email": False}
    answer, _callback, _cookie = await _sign_in(api, fake_google, "user-c")
    assert answer.status == 401 and answer.error_code == "google_unverified"


async def test_state_must_match_and_is_one_use(api: Any, fake_google: FakeGoogle) -> None:
    fake_google.identities["user-d"] = {"id": "g-4", "email": unique_email("d"), "verified_email": True}
    location, cookie, _params = await _start(api)
    consent = await _fetch(location + "&login_hint=user-d")
    callback = consent.headers["Location"]
    no_cookie = check_invariants(await _fetch(callback))
    assert no_cookie.status == 400 and no_cookie.error_code == "invalid_state"
    _l, other_cookie, _p = await _start(api)
    assert check_invariants(await _fetch(callback, other_cookie)).status == 400  # another browser's state
    assert check_invariants(await _fetch(callback, cookie)).status == 200
    replay = check_invariants(await _fetch(callback, cookie))
    assert replay.status == 400 and replay.error_code == "invalid_state"


async def test_refused_consent_and_bad_code(api: Any, fake_google: FakeGoogle) -> None:
    denied = await api.get("/api/v1/auth/google/callback?error=access_denied")
    assert denied.status == 401 and denied.error_code == "google_denied"
    _location, cookie, params = await _start(api)
    bad = await _fetch(
        f"{api.base_url}/api/v1/auth/google/callback?code=forged&state={params['state']}", cookie
    )
    answer = check_invariants(bad)
    assert answer.status == 401 and answer.error_code == "google_failed"


class TestNotConfigured:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {}

    async def test_google_routes_answer_404(self, api: Any) -> None:
        assert (await api.get("/api/v1/auth/google")).status == 404
        assert (await api.get("/api/v1/auth/google/callback?code=x&state=y")).status == 404
