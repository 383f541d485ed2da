"""Row M2 of the attack review: `--processes 2` without Redis. The workers share a bus on a SQLite file in
the data dir (storage/embedded/sqlite_bus.py), so a logout and a deleted key take effect in every worker
at once, not only in the one that served them (before: the other worker kept accepting the old token and
key from its cache for up to 30 seconds); the account throttles and visitors now are the box's, kept in
a shared SQLite key-value file (storage/embedded/sqlite_kv.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.accounts.throttle import LOGIN_PER_IP
from domain.live.messages import visitors_key
from storage.embedded.memory_kv import MemoryKeyValue
from storage.embedded.sqlite_kv import RoutedKeyValue, SqliteKeyValue
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

PASSWORD = "correct horse battery staple"
GRACE_S = 0.5  # the bus is polled every 20 ms; this bound leaves room for a loaded machine


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[EddyProcess]:
    eddy = EddyProcess(tmp_path / "data", "--processes", "2")
    try:
        eddy.start()
        eddy.wait_workers(2, timeout=15)
        assert "sqlite bus" in eddy.log(), eddy.log()
        yield eddy
    finally:
        eddy.stop()


def _after(api: SyncApi, since: float, call: object, seconds: float = 2.0) -> list[tuple[float, int]]:
    """(seconds after `since`, status) of calls made for `seconds`, each on a new connection (the
    workers share the port: connections land on either)."""
    answers = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic() - since
        answers.append((started, call()))  # type: ignore[operator]
    return answers


def test_m2_a_logout_ends_the_session_in_every_worker(workers: EddyProcess) -> None:
    api = SyncApi(workers.url)
    session = api.post("/api/v1/auth/register", json={"email": "m2@example.com", "password": PASSWORD}).json
    token = session["access_token"]
    # both workers check the session once and cache it
    assert {api.get("/api/v1/auth/me", token=token).status for _ in range(40)} == {200}
    out = api.post("/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]})
    logged_out = time.monotonic()
    assert out.status == 204
    answers = _after(api, logged_out, lambda: api.get("/api/v1/auth/me", token=token).status)
    late = [status for started, status in answers if started >= GRACE_S]
    assert len(late) >= 20 and set(late) == {401}, answers


def test_m2_a_deleted_key_stops_in_every_worker(workers: EddyProcess) -> None:
    api = SyncApi(workers.url)
    registered = api.post("/api/v1/auth/register", json={"email": "k@example.com", "password": PASSWORD})
    token = registered.json["access_token"]
    site = api.post("/api/v1/sites", json={"name": "Shop", "domain": "shop.example"}, token=token).json
    path = f"/api/v1/sites/{site['site']['id']}/keys"
    key = api.post(path, json={"name": "s", "kind": "secret"}, token=token).json["key"]
    events = {"events": [{"name": "pageview", "url": "https://shop.example/"}]}

    def collect() -> int:
        return api.post("/api/v1/collect", json=events, headers={"X-Api-Key": key["key"]}).status

    assert {collect() for _ in range(40)} == {202}
    deleted = api.delete(f"{path}/{key['id']}", token=token)
    gone = time.monotonic()
    assert deleted.status == 204
    answers = _after(api, gone, collect)
    late = [status for started, status in answers if started >= GRACE_S]
    assert len(late) >= 20 and set(late) == {401}, answers


def test_m2_the_per_address_sign_in_limit_holds_for_the_whole_box(workers: EddyProcess) -> None:
    # before, each worker counted its own attempts: the per-address limit (30) doubled with 2 workers
    api = SyncApi(workers.url)
    statuses = [
        api.post("/api/v1/auth/login", json={"email": f"nobody{n}@example.com", "password": "wrong"}).status
        for n in range(LOGIN_PER_IP.hits + 4)
    ]
    assert statuses[: LOGIN_PER_IP.hits] == [401] * LOGIN_PER_IP.hits, statuses
    assert statuses[LOGIN_PER_IP.hits :] == [429] * 4, statuses


async def test_the_shared_keys_are_the_throttles_and_the_visitor_sets(tmp_path: Path) -> None:
    local, shared = MemoryKeyValue(), SqliteKeyValue(tmp_path)
    routed = RoutedKeyValue(local, shared)
    await routed.open()
    try:
        await routed.hit("throttle:login:ip:x", 60)
        await routed.touch_members(visitors_key("site"), {"v1": time.time()}, 60)
        await routed.hit("rl:ingest:k:key", 1)  # per request: stays in the worker
        assert await shared.get("throttle:login:ip:x") == b"1"
        assert await shared.count_members(visitors_key("site"), 0) == 1
        assert await shared.get("rl:ingest:k:key") is None and await local.get("rl:ingest:k:key") == b"1"
    finally:
        await routed.close()
