"""The "hardening seen" list of the attack review: the origin check's scheme, names with a trailing
newline, the session cache key, the dummy hash ready at start, private data files, the overall
connection cap, throttled bad share tokens and API keys, and retention as the owner's alone."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from domain.accounts.passwords import PasswordHasher
from domain.accounts.throttle import Limit
from domain.errors import Unauthorized
from handlers.context import AppContext
from storage.event_filter_sql import check_key_name
from tests.support.accounts import make_key, make_site, register
from tests.support.api import Api
from tests.support.eddy_process import EddyProcess
from tests.support.until import until
from web import ws_codec

pytestmark = pytest.mark.reliability


async def _upgrade_status(port: int, origin: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = ws_codec.new_key()
    writer.write(
        ws_codec.upgrade_request(f"127.0.0.1:{port}", "/ws/live?site_id=abc", key, {"Origin": origin})
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
    writer.close()
    return int(head.split()[1])


async def test_the_origin_check_compares_the_scheme_too(http_server: Any, http_server_port: Any) -> None:
    port = http_server_port[1]
    # before, with no --public-url only the host was compared: an https page passed for an http server
    assert await _upgrade_status(port, f"https://127.0.0.1:{port}") == 403
    assert await _upgrade_status(port, f"http://127.0.0.1:{port}") == 101


async def test_names_with_a_trailing_newline_are_refused(api: Api) -> None:
    with pytest.raises(ValueError):
        check_key_name("plan\n")  # a `prop:` name
    assert check_key_name("plan") == "plan"
    token = (await register(api))["access_token"]
    site = await make_site(api, token)
    base = f"/api/v1/sites/{site['id']}"
    metric = await api.post(f"{base}/metrics", json={"name": "signups\n", "type": "counter"}, token=token)
    assert metric.status == 422
    origins = await api.patch(base, json={"allowed_origins": ["https://shop.example\n"]}, token=token)
    assert origins.status == 422
    assert (await api.patch(base, json={"domain": "shop.example\n"}, token=token)).status == 422


async def test_the_session_cache_is_keyed_by_session_and_user(ctx: AppContext) -> None:
    from tests.support.live import make_viewer

    owner = await make_viewer(ctx)
    assert (await ctx.bearer.authenticate(f"Bearer {owner.token}")).user_id == owner.user_id  # cached
    # a token naming another user with the owner's session id must not ride on that cached check
    other = ctx.tokens.issue_access(uuid.uuid4().hex, owner.session)
    with pytest.raises(Unauthorized):
        await ctx.bearer.authenticate(f"Bearer {other}")


async def test_the_dummy_hash_is_ready_before_the_first_unknown_sign_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = PasswordHasher(b"pepper" * 6)
    await hasher.start()
    made: list[int] = []
    real = bcrypt.hashpw
    monkeypatch.setattr(bcrypt, "hashpw", lambda *a: made.append(1) or real(*a))
    started = time.perf_counter()
    await hasher.waste_time("some password")
    # one check, no hash made on the way (before: the first unknown sign-in also made the dummy hash)
    assert made == [] and time.perf_counter() - started > 0
    await hasher.stop()


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


def test_data_files_are_private_and_fixed_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    old = data / "eddy.db"
    old.write_bytes(b"")
    old.chmod(0o644)
    (data / "backups").mkdir(mode=0o755)
    eddy = EddyProcess(data).start()
    try:
        modes = _modes(data)
    finally:
        eddy.stop()
    assert "events.db" in modes and "secrets.json" in modes, modes
    for name, mode in modes.items():
        expected = 0o700 if (data / name).is_dir() else 0o600
        assert mode == expected, (name, oct(mode))


class TestConnectionCap:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"max_connections": 4}

    async def test_connections_past_the_cap_are_closed_at_once(
        self, api: Api, http_server: Any, http_server_port: Any
    ) -> None:
        port = http_server_port[1]
        held = []
        for _ in range(4):  # half-sent requests, held open
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            held.append((reader, writer))
        await until(lambda: http_server._open == 4)  # the server has accepted them all
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without an answer
        writer.close()
        assert http_server.refused >= 1
        # once one leaves, a new one is served
        held.pop()[1].close()

        async def served() -> bool:
            return (await api.get("/healthz", expect_json=False)).status == 200

        await until(served, timeout=5)
        for _, held_writer in held:
            held_writer.close()


async def test_bad_share_tokens_and_api_keys_are_throttled_per_address(ctx: AppContext, api: Api) -> None:
    ctx.accounts.throttle.bad_credentials = Limit(3, 60.0)
    token = (await register(api))["access_token"]
    site = await make_site(api, token)
    link = (await api.post(f"/api/v1/sites/{site['id']}/share-links", token=token)).json["share_link"]
    statuses = []
    for _ in range(4):
        bad = {"X-Share-Token": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")}
        statuses.append((await api.get("/api/v1/share/site", headers=bad)).status)
    assert statuses == [401, 401, 401, 429]
    # the address is throttled before anything is looked up, even with a good token now
    good = await api.get("/api/v1/share/site", headers={"X-Share-Token": link["token"]})
    assert good.status == 429 and int(good.headers["Retry-After"]) >= 1
    stats = f"/api/v1/sites/{site['id']}/stats/summary"
    assert (await api.get(stats, headers={"X-Api-Key": "eddy_sk_" + "0" * 32})).status == 429


async def test_a_secret_key_is_held_to_the_api_rate_limit(ctx: AppContext, api: Api) -> None:
    ctx.accounts.throttle.api_user = Limit(2, 60.0)
    token = (await register(api))["access_token"]
    site = await make_site(api, token)
    secret = (await make_key(api, token, site["id"], "secret"))["key"]
    stats = f"/api/v1/sites/{site['id']}/stats/summary"
    statuses = [(await api.get(stats, headers={"X-Api-Key": secret})).status for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_only_the_owner_changes_retention(ctx: AppContext, api: Api) -> None:
    owner = await register(api)
    site = await make_site(api, owner["access_token"])
    admin = await register(api)
    await ctx.stores.docs.insert(
        "members",
        {
            "id": uuid.uuid4().hex,
            "site_id": site["id"],
            "user_id": admin["user"]["id"],
            "role": "admin",
            "created_at": time.time(),
        },
    )
    path = f"/api/v1/sites/{site['id']}"
    lowered = await api.patch(path, json={"retention_days": 1}, token=admin["access_token"])
    assert lowered.status == 403
    assert (await api.get(path, token=owner["access_token"])).json["site"]["retention_days"] == 400
    renamed = await api.patch(path, json={"name": "Renamed"}, token=admin["access_token"])
    assert renamed.status == 200  # the rest of the site is still the admin's to change
    lowered = await api.patch(path, json={"retention_days": 30, "confirm": True}, token=owner["access_token"])
    assert lowered.status == 200
