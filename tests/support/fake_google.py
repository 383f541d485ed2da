"""A fake Google OAuth provider (authorize, token and userinfo endpoints) for tests: no network.

`/authorize` signs in the identity named by `login_hint` (default `user-a`) and sends the browser back
with `code` and `state`; `/token` checks the client credentials; `/userinfo` answers the identity.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler

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


def start(fake: FakeGoogle) -> HTTPServer:
    """Serve `fake` on a free local port on the current IOLoop; sets `fake.base`."""
    sock, port = bind_unused_port()
    app = Application(
        [(r"/authorize", _Authorize), (r"/token", _Token), (r"/userinfo", _UserInfo)], fake=fake
    )
    server = HTTPServer(app)
    server.add_sockets([sock])
    fake.base = f"http://127.0.0.1:{port}"
    return server


def config(fake: FakeGoogle) -> dict[str, str]:
    """The Config fields that point Eddy's Google sign-in at `fake`."""
    return {
        "google_client_id": CLIENT_ID,
        "google_client_secret": CLIENT_SECRET,
        "google_authorize_url": fake.base + "/authorize",
        "google_token_url": fake.base + "/token",
        "google_userinfo_url": fake.base + "/userinfo",
    }


def env(fake: FakeGoogle) -> dict[str, str]:
    """The EDDY_* settings that point Eddy's Google sign-in at `fake` (a process's environment)."""
    return {"EDDY_" + name.upper(): value for name, value in config(fake).items()}


@contextmanager
def in_thread(fake: FakeGoogle) -> Iterator[FakeGoogle]:
    """Serve `fake` from its own thread and IOLoop (for tests that are not async, e.g. browser tests)."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        holder["loop"], holder["server"] = loop, start(fake)
        loop.add_callback(ready.set)
        loop.start()
        loop.close(all_fds=True)

    thread = threading.Thread(target=serve, name="fake-google", daemon=True)
    thread.start()
    assert ready.wait(10), "the fake Google did not start"
    try:
        yield fake
    finally:
        loop = holder["loop"]
        loop.add_callback(lambda: (holder["server"].stop(), loop.stop()))
        thread.join(10)
