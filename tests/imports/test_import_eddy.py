"""Eddy's own export imported back (JSON and CSV): a round trip into another site keeps every event;
importing again, or into the site it came from, changes nothing; bad rows are skipped and reported by
line; an unusable file fails with nothing written; only site admins import."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
import pytest

from storage.records import Event
from tests.imports.helpers import event_count, run_import
from tests.ingest.helpers import stored
from tests.support.accounts import add_member, make_site, register, signup
from tests.support.events import store_events


def sample(site_id: str, count: int) -> list[Event]:
    now = int(time.time() * 1000)
    return [
        Event(
            id=f"e{i:05d}{uuid.uuid4().hex[:8]}",
            site_id=site_id,
            ts=now - 3 * 86_400_000 + i * 60_000,
            name="pageview" if i % 3 else "signup",
            url=f"https://shop.example/p/{i % 7}",
            path=f"/p/{i % 7}",
            hostname="shop.example",
            title="=cmd|' /C calc'!A0" if i == 5 else f"Page {i}",  # exported with a formula guard
            source="Google" if i % 2 else "",
            country="DE",
            browser="Firefox",
            visitor_id=f"v{i % 11}",
            session_id=f"s{i % 13}",
            user_id="u1" if i == 4 else "",
            props={"plan": "pro", "n": i, "ok": True} if i % 3 == 0 else {},
            traits={"plan": "team"} if i == 4 else {},
        )
        for i in range(count)
    ]


async def exported(api: Any, token: str, site_id: str, fmt: str) -> bytes:
    from_day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * 86400))
    answer = await api.request(
        "GET", f"/api/v1/sites/{site_id}/export?format={fmt}&from={from_day}", token=token, expect_json=False
    )
    assert answer.status == 200
    return answer.body


def comparable(events: list[Event]) -> list[dict[str, Any]]:
    return sorted(({**msgspec.to_builtins(e), "site_id": ""} for e in events), key=lambda e: e["id"])


async def test_round_trip_json_and_csv(api: Any, ctx: Any) -> None:
    token = await signup(api)
    source = await make_site(api, token, domain="a.example")
    await store_events(ctx, sample(source["id"], 1200))
    original = comparable(await stored(ctx, source["id"]))
    for fmt in ("json", "csv"):
        body = await exported(api, token, source["id"], fmt)
        target = await make_site(api, token, domain=f"{fmt}.example")
        job = await run_import(api, ctx, token, target["id"], "eddy", body)
        assert job["status"] == "done", job
        assert (job["rows_read"], job["rows_imported"], job["rows_skipped"]) == (1200, 1200, 0)
        assert comparable(await stored(ctx, target["id"])) == original
        again = await run_import(api, ctx, token, target["id"], "eddy", body)
        assert (again["rows_imported"], again["rows_duplicate"]) == (0, 1200)
        assert await event_count(ctx, target["id"]) == 1200
    back = await run_import(
        api, ctx, token, source["id"], "eddy", await exported(api, token, source["id"], "json")
    )
    assert back["rows_imported"] == 0 and await event_count(ctx, source["id"]) == 1200


async def test_bad_rows_are_reported_by_line_and_skipped(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    now = int(time.time() * 1000)
    lines = [
        "id,ts,name,path,props",
        f"good-1,{now},pageview,/a,",
        f"bad id!,{now},pageview,/a,",
        f'good-2,{now},signup,/b,"{{""plan"": ""pro""}}"',
        "good-3,not-a-time,pageview,/a,",
        f"good-4,{now},,/a,",
        f"good-5,{now},pageview,/a,{{broken",
        f"good-6,{now},pageview",
        f"good-7,{now},pageview,/c,",
    ]
    job = await run_import(api, ctx, token, site["id"], "eddy", "\r\n".join(lines).encode())
    assert job["status"] == "done" and job["rows_imported"] == 3 and job["rows_skipped"] == 5
    assert [e["line"] for e in job["errors"]] == [3, 5, 6, 7, 8]
    assert all(e["message"] for e in job["errors"])
    events = {e.id: e for e in await stored(ctx, site["id"])}
    assert set(events) == {"good-1", "good-2", "good-7"} and events["good-2"].props == {"plan": "pro"}
    json_lines = b'{"id": "j1", "ts": %d, "name": "pageview"}\n{"id": "j2", "ts": 5, "name": "x"}\n' % now
    job = await run_import(api, ctx, token, site["id"], "eddy", json_lines)
    assert job["rows_imported"] == 1 and job["errors"] == [
        {"line": 2, "message": "the time is missing or not a millisecond time between 2000 and tomorrow"}
    ]


async def test_unusable_files_fail_with_nothing_written(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    now = int(time.time() * 1000)
    cases = [
        b"path,title\n/a,A\n",  # no id, ts or name columns
        b'[{"id": "x1", "ts": %d, "name": "pageview"}, {"id": ' % now,  # cut off
        b"\xff\xfe not utf-8",
    ]
    for body in cases:
        job = await run_import(api, ctx, token, site["id"], "eddy", body)
        assert job["status"] == "failed" and job["message"], job
    assert await event_count(ctx, site["id"]) == 0
    empty = await api.post(f"/api/v1/sites/{site['id']}/imports?kind=eddy", body=b"", token=token)
    assert empty.status == 400 and empty.error_code == "empty_upload"
    kind = await api.post(f"/api/v1/sites/{site['id']}/imports?kind=matomo", body=b"x", token=token)
    assert kind.status == 422 and "kind" in kind.json["error"]["fields"]


async def test_only_admins_import(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    viewer = await register(api)
    await add_member(api, token, site["id"], viewer["user"]["email"], "viewer")
    refused = await api.post(
        f"/api/v1/sites/{site['id']}/imports?kind=eddy", body=b"id,ts,name\n", token=viewer["access_token"]
    )
    assert refused.status == 403
    stranger = await signup(api)
    assert (
        await api.post(f"/api/v1/sites/{site['id']}/imports?kind=eddy", body=b"x", token=stranger)
    ).status == 404
    assert (await api.post(f"/api/v1/sites/{site['id']}/imports?kind=eddy", body=b"x")).status == 401
    assert (await api.get(f"/api/v1/sites/{site['id']}/imports", token=viewer["access_token"])).status == 403
    assert (await api.get(f"/api/v1/sites/{site['id']}/imports/nope", token=token)).status == 404


@pytest.mark.expect_errors("eddy.access")  # its deliberate 503s are logged at ERROR
async def test_imports_at_once_are_bounded(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    ctx.imports.max_running = 0
    answer = await api.post(
        f"/api/v1/sites/{site['id']}/imports?kind=eddy", body=b"id,ts,name\n", token=token
    )
    assert answer.status == 503 and answer.headers["Retry-After"] == "30"
    assert list(ctx.imports.upload_path().parent.iterdir()) == []  # the upload was not kept
    assert (await api.get(f"/api/v1/sites/{site['id']}/imports", token=token)).json["imports"] == []


async def test_an_import_whose_process_stopped_shows_as_failed(api: Any, ctx: Any) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    stale = {
        "id": "stale-job",
        "site_id": site["id"],
        "user_id": "u",
        "kind": "eddy",
        "status": "running",
        "phase": "writing",
        "rows_read": 10,
        "rows_imported": 5,
        "rows_duplicate": 0,
        "rows_skipped": 0,
        "errors": [],
        "message": "",
        "summary": {},
        "created_at": time.time() - 600,
        "updated_at": time.time() - 120,
        "finished_at": None,
    }
    await ctx.stores.docs.insert("imports", stale)
    await ctx.stores.docs.insert("imports", {**stale, "id": "live-job", "updated_at": time.time()})
    jobs = {
        j["id"]: j
        for j in (await api.get(f"/api/v1/sites/{site['id']}/imports", token=token)).json["imports"]
    }
    assert jobs["stale-job"]["status"] == "failed" and "stopped" in jobs["stale-job"]["message"]
    assert jobs["live-job"]["status"] == "running"  # reported on lately: another process may run it
    assert (await ctx.stores.docs.get("imports", "stale-job"))["status"] == "failed"
