"""The event store down for OUTAGE_S seconds under steady load (RELIABILITY.md item 17).

Thirty-two clients post batches with their own event ids; the embedded event store is closed mid-stream and
opened again OUTAGE_S later. While it is down the group-commit writer's queue must stay within
`max_pending` (the buffer is bounded, so memory is too: the process RSS is sampled throughout), every
refused request must be a 503 with Retry-After, and after the store returns ingestion must recover on its
own. Clients then resend what was refused (same ids, as the tracker does): every id sent ends up stored
exactly once, and what the server acknowledged is exactly what is stored.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient

from handlers.context import AppContext
from tests.ingest.helpers import stored
from tests.support import figures
from tests.support.api import Api
from tests.support.ingest_sites import make_site_key

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CLIENTS = 32
BATCH = 100
# Events held while the store is down: the queue (MAX_PENDING) plus the batch being retried (MAX_BATCH).
# Both are below CLIENTS x BATCH, so the bound is reached and enforced during the outage.
MAX_PENDING = 1_000
MAX_BATCH = 1_000
WARM_S = 1.5
OUTAGE_S = 5.0
AFTER_S = 1.5
RSS_GROWTH_LIMIT = 64 * 1024 * 1024


@pytest.fixture
def app_config() -> dict[str, Any]:
    """As in production, a compactor process moves the log into segments while the load runs: without
    it the whole load stays in the log and the final read alone outlasts the test's timeout."""
    return {"compact_interval_s": 2.0}


def rss_bytes() -> int:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.expect_errors("eddy.access")  # its deliberate 503s are logged at ERROR
async def test_store_outage_under_load(api: Api, ctx: AppContext) -> None:
    key = await make_site_key(ctx, "secret")
    writer = ctx.ingest.writer
    writer.max_pending = MAX_PENDING
    writer.max_batch = MAX_BATCH
    url = api.base_url + "/api/v1/collect"
    headers = {"X-Api-Key": key.value, "User-Agent": "backend", "Content-Type": "application/json"}
    client = AsyncHTTPClient(force_instance=True, max_clients=CLIENTS)
    acked: set[str] = set()
    sent: set[str] = set()
    refused: list[list[str]] = []
    state: dict[str, Any] = {"phase": "before", "stop": False, "first_202_after": None}
    counts: dict[str, int] = {"503_during": 0, "202_during": 0, "requests_during": 0, "fast_503": 0}
    retry_after: set[str] = set()

    async def post(ids: list[str]) -> int:
        body = orjson.dumps({"events": [{"name": "load", "id": event_id} for event_id in ids]})
        answer = await client.fetch(
            url, method="POST", body=body, headers=headers, raise_error=False, request_timeout=30
        )
        assert answer.code in (202, 503), (answer.code, answer.body)
        if answer.code == 202:
            acked.update(ids)
        else:
            retry_after.add(answer.headers.get("Retry-After", ""))
            assert orjson.loads(answer.body)["error"]["code"] == "unavailable"
        return answer.code

    async def one_client(number: int) -> None:
        batch = 0
        while not state["stop"]:
            ids = [f"c{number}-{batch}-{i}" for i in range(BATCH)]
            batch += 1
            sent.update(ids)
            phase = state["phase"]
            started = time.monotonic()
            code = await post(ids)
            if phase == "during":
                counts["requests_during"] += 1
                counts[f"{code}_during"] += 1
                # refused at once (buffer full) rather than after the writer's retries
                counts["fast_503"] += code == 503 and time.monotonic() - started < writer.retry_for / 2
            if code == 503:
                refused.append(ids)
                await asyncio.sleep(0.05)  # a client backs off (Retry-After is the real hint)
            elif state["phase"] == "after" and state["first_202_after"] is None:
                state["first_202_after"] = time.monotonic()

    samples: dict[str, int] = {"max_queued": 0, "rss_peak": 0}

    async def sample() -> None:
        while not state["stop"]:
            samples["max_queued"] = max(samples["max_queued"], writer.queued)
            if state["phase"] == "during":
                samples["rss_peak"] = max(samples["rss_peak"], rss_bytes())
            await asyncio.sleep(0.02)  # the sampling period

    clients = [asyncio.ensure_future(one_client(n)) for n in range(CLIENTS)]
    sampler = asyncio.ensure_future(sample())
    try:
        # warm up for WARM_S, and until the store has acknowledged something (a loaded machine is slow)
        warm_until = time.monotonic() + WARM_S
        while time.monotonic() < warm_until or not acked:
            assert time.monotonic() < warm_until + 60, "no load was acknowledged in a minute"
            await asyncio.sleep(0.05)  # load runs meanwhile: the warm-up is a duration
        rss_before = rss_bytes()
        acked_before = len(acked)
        state["phase"] = "during"
        await ctx.stores.events.close()
        down_at = time.monotonic()
        await asyncio.sleep(OUTAGE_S)  # the outage lasts this long under load: the scenario itself
        await ctx.stores.events.open()
        up_at = time.monotonic()
        state["phase"] = "after"
        await asyncio.sleep(AFTER_S)  # and load goes on this long after it
        state["stop"] = True
        await asyncio.gather(*clients)
        await sampler
        rss_after = rss_bytes()

        # Clients resend what was refused, with the same ids, until it is acknowledged.
        resent = 0
        for ids in refused:
            for _ in range(20):
                resent += 1
                if await post(ids) == 202:
                    break
                await asyncio.sleep(0.1)  # a client's pause between resends
    finally:
        state["stop"] = True
        client.close()

    rows = [event.id for event in await stored(ctx, key.site_id)]
    stored_ids = set(rows)
    figures.record(
        "store_outage",
        {
            "outage_s": round(up_at - down_at, 2),
            "clients": CLIENTS,
            "events_per_request": BATCH,
            "max_pending_events": MAX_PENDING,
            "max_batch_events": MAX_BATCH,
            "max_queued_events_seen": samples["max_queued"],
            "requests_during_outage": counts["requests_during"],
            "503_during_outage": counts["503_during"],
            "202_during_outage": counts["202_during"],
            "503_at_once_buffer_full": counts["fast_503"],
            "retry_after_values": sorted(retry_after),
            "rss_before_mib": round(rss_before / 2**20, 1),
            "rss_peak_during_mib": round(samples["rss_peak"] / 2**20, 1),
            "rss_after_mib": round(rss_after / 2**20, 1),
            "recovered_after_s": round(state["first_202_after"] - up_at, 3)
            if state["first_202_after"]
            else None,
            "acknowledged_before_outage": acked_before,
            "sent": len(sent),
            "acknowledged": len(acked),
            "stored": len(stored_ids),
            "duplicated": len(rows) - len(stored_ids),
            "resent_requests": resent,
        },
    )
    assert acked_before > 0, "no load was acknowledged before the outage"
    assert counts["503_during"] > 0, "the outage produced no 503"
    assert retry_after and all(value.isdigit() and int(value) >= 1 for value in retry_after), retry_after
    assert samples["max_queued"] <= MAX_PENDING
    assert counts["fast_503"] > 0, "the buffer bound was never reached"
    assert samples["rss_peak"] - rss_before < RSS_GROWTH_LIMIT
    assert state["first_202_after"] is not None, "ingestion did not recover after the store came back"
    assert writer.healthy
    assert (await api.get("/readyz")).status == 200
    assert len(rows) == len(stored_ids), "an event was stored twice"
    assert stored_ids == acked == sent
