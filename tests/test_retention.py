"""Retention, enforced: events older than a site's retention leave every answer and the disk after a
sweep (log, segments, rollups), and lowering a site's retention asks for confirmation first."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from domain.retention_sweep import cutoff_ms
from handlers.context import AppContext
from storage.embedded.columnar import segments as segments_module
from storage.embedded.columnar.snapshot import stored_events
from storage.ports import EventFilter
from storage.records import Event
from tests.ingest.helpers import FOREVER, stored
from tests.support.accounts import make_site, signup
from tests.support.api import Api
from tests.support.events import store_events

DAY = 86_400_000


def events_of(site_id: str, days_ago: list[int], now_ms: int) -> list[Event]:
    return [
        Event(id=f"e{age}-{i}", site_id=site_id, ts=now_ms - age * DAY - i * 1000, name="pageview", path="/",
              visitor_id=f"v{age}", session_id=f"s{age}")
        for age in days_ago
        for i in range(3)
    ]  # fmt: skip


def parquet_ts(data_dir: Path, site_id: str) -> list[int]:
    """Every ts of the site in any Parquet file in the segments directory (named by a manifest or not;
    rollup files hold counts, not events: they have no site_id column and read as NULL here)."""
    files = sorted(str(path) for path in (data_dir / "segments").glob("*.parquet"))
    if not files:
        return []
    with duckdb.connect() as duck:
        listed = "[" + ", ".join(f"'{name}'" for name in files) + "]"
        rows = duck.execute(
            f"SELECT ts FROM read_parquet({listed}, union_by_name = true) WHERE site_id = ?", [site_id]
        ).fetchall()
    return [int(row[0]) for row in rows]


async def test_sweep_removes_old_events_from_answers_and_disk(
    api: Api, ctx: AppContext, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments_module, "RETIRE_GRACE_S", 0.0)
    token = await signup(api)
    site = await make_site(api, token)
    other = await make_site(api, token)
    now = int(time.time() * 1000)
    # old and recent events in segments, and more of both still in the log's tail
    await store_events(ctx, events_of(site["id"], [1, 2, 40, 45], now) + events_of(other["id"], [40], now))
    await ctx.stores.events.compact_now()  # type: ignore[attr-defined]
    await store_events(ctx, events_of(site["id"], [3, 50], now))
    answer = await api.patch(f"/api/v1/sites/{site['id']}", json={"retention_days": 30, "confirm": True},
                             token=token)  # fmt: skip
    assert answer.status == 200, answer.json
    await ctx.retention.sweep()
    await ctx.stores.events.compact_now()  # type: ignore[attr-defined]  # a pass deletes retired files

    cutoff = cutoff_ms(now, 30)
    kept = await stored(ctx, site["id"])
    assert sorted({e.id[: e.id.index("-")] for e in kept}) == ["e1", "e2", "e3"]
    assert all(e.ts >= cutoff for e in kept)
    query = "from=" + time.strftime("%Y-%m-%d", time.gmtime(now / 1000 - 300 * 86400)) + "&tz=UTC"
    summary = await api.get(f"/api/v1/sites/{site['id']}/stats/summary?{query}", token=token)
    assert summary.status == 200, summary.json
    assert summary.json["results"]["pageviews"]["value"] == 9
    assert await ctx.stores.events.count(EventFilter(site_id=site["id"], start=0, end=cutoff)) == 0
    # and from disk: no segment file and no log row still holds them
    assert [ts for ts in parquet_ts(data_dir, site["id"]) if ts < cutoff] == []
    assert [row for row in stored_events(data_dir, site["id"]) if row["ts"] < cutoff] == []
    # the other site keeps its own (400-day) retention
    assert len(await stored(ctx, other["id"])) == 3
    assert await ctx.stores.events.count(EventFilter(site_id=other["id"], start=0, end=FOREVER)) == 3


async def test_lowering_retention_needs_confirmation_and_applies_at_once(api: Api, ctx: AppContext) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    now = int(time.time() * 1000)
    await store_events(ctx, events_of(site["id"], [1, 20], now))
    path = f"/api/v1/sites/{site['id']}"
    refused = await api.patch(path, json={"retention_days": 10}, token=token)
    assert refused.status == 409
    assert refused.json["error"]["code"] == "confirmation_required"
    assert "confirm" in refused.json["error"]["fields"]
    assert (await api.get(path, token=token)).json["site"]["retention_days"] == 400  # unchanged
    assert len(await stored(ctx, site["id"])) == 6
    # raising needs no confirmation
    assert (await api.patch(path, json={"retention_days": 400}, token=token)).status == 200
    confirmed = await api.patch(path, json={"retention_days": 10, "confirm": True}, token=token)
    assert confirmed.status == 200 and confirmed.json["site"]["retention_days"] == 10
    await ctx.retention.stop()  # waits for the sweep the change started
    assert {e.id[:3] for e in await stored(ctx, site["id"])} == {"e1-"}
