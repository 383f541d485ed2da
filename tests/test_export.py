"""The export: streamed CSV and JSON of a range's raw events, formula-safe cells, auth and validation."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

import orjson

from handlers.context import AppContext
from handlers.export import BATCH, safe_cell
from storage.records import Event
from tests.support.accounts import make_key, make_site, signup
from tests.support.api import Api


def events(site_id: str, count: int) -> list[Event]:
    now = int(time.time() * 1000) - 3_600_000
    return [
        Event(id=f"e{i:05d}", site_id=site_id, ts=now + i, name="pageview", path=f"/p{i % 7}",
              visitor_id=f"v{i % 13}", country="DE" if i % 2 else "GB", props={"n": i})
        for i in range(count)
    ]  # fmt: skip


async def test_csv_export_streams_every_event_in_order(api: Api, ctx: AppContext) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    count = BATCH * 2 + 17  # several flushed batches
    await ctx.stores.events.append(events(site["id"], count))
    answer = await api.get(f"/api/v1/sites/{site['id']}/export?format=csv", token=token, expect_json=False)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.body.decode())))
    assert len(rows) == count
    assert [r["id"] for r in rows] == [f"e{i:05d}" for i in range(count)]
    assert orjson.loads(rows[5]["props"]) == {"n": 5}
    # `time` is `ts` (epoch ms) as ISO 8601 UTC, for people and spreadsheets.
    first = dt.datetime.fromisoformat(rows[0]["time"].replace("Z", "+00:00"))
    assert int(first.timestamp() * 1000) == int(rows[0]["ts"]) and rows[0]["time"].endswith("Z")
    only_de = await api.get(
        f"/api/v1/sites/{site['id']}/export?format=json&filters=country==DE", token=token, expect_json=False
    )
    data = orjson.loads(only_de.body)
    assert len(data) == count // 2 and all(row["country"] == "DE" for row in data)
    assert data[0]["id"] == "e00001"


async def test_csv_cells_never_run_as_formulas(api: Api, ctx: AppContext) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    nasty = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain"]
    now = int(time.time() * 1000) - 1000
    await ctx.stores.events.append(
        [Event(id=f"n{i}", site_id=site["id"], ts=now + i, name="pageview", title=t, visitor_id="v")
         for i, t in enumerate(nasty)]
    )  # fmt: skip
    answer = await api.get(f"/api/v1/sites/{site['id']}/export", token=token, expect_json=False)
    titles = [row["title"] for row in csv.DictReader(io.StringIO(answer.body.decode()))]
    assert titles == ["'" + t for t in nasty[:-1]] + ["plain"]
    assert safe_cell("a=b") == "a=b"


async def test_export_auth_and_validation(api: Api, ctx: AppContext) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    path = f"/api/v1/sites/{site['id']}/export"
    assert (await api.get(path)).status == 401
    assert (await api.get(path, token=await signup(api))).status == 404
    bad = await api.get(path + "?format=xml", token=token)
    assert (bad.status, list(bad.json["error"]["fields"])) == (422, ["format"])
    assert (await api.get(path + "?from=nonsense", token=token)).status == 422
    secret = await make_key(api, token, site["id"], "secret")
    empty: Any = await api.get(path + "?format=json", headers={"X-Api-Key": secret["key"]}, expect_json=False)
    assert empty.status == 200 and orjson.loads(empty.body) == []
