"""Google sign-in (`/api/v1/auth/google` and its callback) with `tornado.auth.GoogleOAuth2Mixin`.

Enabled when EDDY_GOOGLE_CLIENT_ID and EDDY_GOOGLE_CLIENT_SECRET are set (404 otherwise). The provider's
endpoints can be pointed elsewhere with EDDY_GOOGLE_AUTHORIZE_URL, EDDY_GOOGLE_TOKEN_URL and
EDDY_GOOGLE_USERINFO_URL (the tests run a local fake provider this way).

The callback never puts tokens in a URL: it keeps the sign-in answer under a one-time code and sends the
browser to `/login#google=<code>` (a fragment never reaches a server or a log); the dashboard spends the
code with `POST /api/v1/auth/google/exchange`, which answers the same JSON as /login. A failed callback
sends the browser to `/login#google_error=<error code>`.
"""

from __future__ import annotations

import hmac
import urllib.parse
from typing import Annotated, Any

import msgspec
from tornado.auth import GoogleOAuth2Mixin
from tornado.httpclient import HTTPClientError

from domain.accounts import google
from domain.accounts.users import AuthAnswer
from domain.errors import DomainError
from handlers.base import ApiHandler
from handlers.errors import ApiError
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route

STATE_COOKIE = "eddy_google_state"
CALLBACK_PATH = "/api/v1/auth/google/callback"
EXCHANGE_PATH = "/api/v1/auth/google/exchange"


class ExchangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A one-time code from the callback's `/login#google=<code>` redirect."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class GoogleHandlerBase(GoogleOAuth2Mixin, ApiHandler):
    """Reads the client settings and endpoints from the configuration, not application settings."""

    def prepare(self) -> Any:
        config = self.ctx.config
        if not (config.google_client_id and config.google_client_secret):
            raise ApiError(404, "not_found", "Google sign-in is not configured")
        self._OAUTH_AUTHORIZE_URL = config.google_authorize_url or self._OAUTH_AUTHORIZE_URL
        self._OAUTH_ACCESS_TOKEN_URL = config.google_token_url or self._OAUTH_ACCESS_TOKEN_URL
        self._OAUTH_USERINFO_URL = config.google_userinfo_url or self._OAUTH_USERINFO_URL
        return super().prepare()

    def get_google_oauth_settings(self) -> dict[str, str]:
        config = self.ctx.config
        return {"key": config.google_client_id or "", "secret": config.google_client_secret or ""}

    def redirect_uri(self) -> str:
        """Where Google sends the browser back (the public URL when configured)."""
        base = self.ctx.config.public_url or f"{self.request.protocol}://{self.request.host}"
        return base + CALLBACK_PATH


class GoogleStartHandler(GoogleHandlerBase):
    """Send the browser to Google's consent page with a one-use state."""

    @documented(status=302, errors=(404,))
    @public
    async def get(self) -> None:
        """Start Google sign-in (302 to Google; 404 when not configured)"""
        state = await self.ctx.accounts.google.new_state()
        self.set_cookie(
            STATE_COOKIE,
            state,
            path=CALLBACK_PATH,
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",
            max_age=int(google.STATE_TTL_S),
        )
        self.authorize_redirect(
            redirect_uri=self.redirect_uri(),
            client_id=self.get_google_oauth_settings()["key"],
            scope=["openid", "email", "profile"],
            response_type="code",
            extra_params={"state": state, "prompt": "select_account"},
        )


class GoogleCallbackHandler(GoogleHandlerBase):
    """Exchange the code, read the Google identity, sign the user in and send the browser to the app."""

    @documented(status=302, errors=(404,))
    @public
    async def get(self) -> None:
        """Finish Google sign-in: 302 to /login#google=<one-time code>, or /login#google_error=<code>"""
        try:
            answer = await self._sign_in()
        except (ApiError, DomainError) as error:
            self.redirect("/login#" + urllib.parse.urlencode({"google_error": error.code}))
            return
        handoff = await self.ctx.accounts.google.new_handoff(answer)
        self.redirect("/login#" + urllib.parse.urlencode({"google": handoff}))

    async def _sign_in(self) -> AuthAnswer:
        if self.get_query_argument("error", None):
            raise ApiError(401, "google_denied", "Google sign-in was cancelled or refused")
        state = self.get_query_argument("state", "")
        cookie = self.get_cookie(STATE_COOKIE) or ""
        if not (
            state and hmac.compare_digest(state, cookie)
        ) or not await self.ctx.accounts.google.spend_state(state):
            raise ApiError(400, "invalid_state", "the sign-in state is missing, expired or already used")
        self.clear_cookie(STATE_COOKIE, path=CALLBACK_PATH)
        code = self.get_query_argument("code", "")
        if not code or len(code) > 2048:
            raise ApiError(400, "bad_request", "missing authorization code")
        try:
            token = await self.get_authenticated_user(redirect_uri=self.redirect_uri(), code=code)
            info = await self.oauth2_request(self._OAUTH_USERINFO_URL, access_token=token["access_token"])
        except (HTTPClientError, KeyError, ValueError):
            raise ApiError(401, "google_failed", "Google did not accept this sign-in") from None
        return await self.ctx.accounts.google.sign_in(info)


class SignInMethods(msgspec.Struct):
    """The ways to sign in this Eddy offers."""

    password: bool
    google: bool


class ProvidersHandler(ApiHandler):
    """Which sign-in methods are on, so the sign-in page shows its Google button without probing
    `/api/v1/auth/google` (a 404 in the browser's console whenever Google is off)."""

    @documented(response=SignInMethods)
    @public
    async def get(self) -> None:
        """The sign-in methods this Eddy offers (password always; google when configured)"""
        config = self.ctx.config
        self.write_json(
            {"password": True, "google": bool(config.google_client_id and config.google_client_secret)}
        )


class GoogleExchangeHandler(ApiHandler):
    """Spend the callback's one-time code for the user and a token pair (the same answer as /login)."""

    @documented(request=ExchangeIn, response=AuthAnswer, errors=(401,))
    @public
    async def post(self) -> None:
        """Spend the one-time code from the Google callback for the user and a token pair"""
        body = self.body_as(ExchangeIn)
        self.write_json(await self.ctx.accounts.google.spend_handoff(body.code))


openapi_tag = "auth"
default_handlers = [
    route("/api/v1/auth/providers", ProvidersHandler),
    route("/api/v1/auth/google", GoogleStartHandler),
    route("/api/v1/auth/google/callback", GoogleCallbackHandler),
    route("/api/v1/auth/google/exchange", GoogleExchangeHandler),
]
