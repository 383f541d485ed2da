"""Soak: a real Eddy process takes a fixed number of events in phases and its resources stay flat
(RELIABILITY.md item 20).

Each of PHASES phases sends EVENTS_PER_PHASE events: half as HTTP batches from several clients, half over
websocket connections opened and closed within the phase, plus single-event beacons and a /metrics scrape.
After every phase the process's RSS (/proc/PID/status), the file descriptors it holds (/proc/PID/fd, read
for half a second: those present throughout) and the number of series in /metrics are read. After the
warm-up phase, fds and series must not change at all. RSS grows while SQLite's page cache fills (the
writer's cache is capped by `PRAGMA cache_size`, SQLITE_CACHE_MIB) and moves in a few steps as the allocator
and the bounded caches take memory: the growth over the whole run must stay under the cache bound plus
slack, and in the second half the median change from phase to phase must be nil (a leak grows every phase).
The IOLoop lag p99 over the run comes from Eddy's own eddy_ioloop_lag_seconds histogram. Every acknowledged
event must be stored exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support import figures
from tests.support.eddy_process import EddyProcess
from tests.support.process_load import secret_key, stored_ids

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

PHASES = 32
WARM_UP = 2  # the first scrape adds its own latency series; the second sees them
EVENTS_PER_PHASE = 25_000  # 800,000 events in all: the page cache is full after about 300,000
HTTP_CLIENTS = 4
HTTP_BATCH = 125
WS_CONNECTIONS = 2
WS_BATCH = 125
BEACONS_PER_PHASE = 20
SQLITE_CACHE_MIB = 16.0  # storage/embedded/events.py: the writer's PRAGMA cache_size (WRITER_CACHE_KIB)
RSS_SLACK_MIB = 16.0
# Level in the second half: the median change of RSS from one phase to the next. A leak adds about the same
# amount every phase (4 bytes an event is 0.1 MiB a phase); the allocator and the bounded caches move RSS
# in a few steps of several MiB at moments of their own, which a median passes over and a peak does not.
MEDIAN_STEP_MIB = 0.1
FD_WINDOW_S = 0.5  # descriptors are counted as held when present throughout this window
FD_READ_EVERY_S = 0.05


@pytest.fixture
def eddy(tmp_path: Path, start_eddy: Callable[..., EddyProcess]) -> EddyProcess:
    # the visitors-now gauge refreshes every second, so its one series per site exists after warm-up
    return start_eddy(tmp_path / "data", env={"EDDY_VISITORS_NOW_REFRESH_S": "1"})


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def held_fds(pid: int, window_s: float = FD_WINDOW_S) -> int:
    """How many descriptors the process holds throughout `window_s`: the same fd pointing at the same
    target in every reading. A connection the server is still closing, or a segment file a query has open,
    comes and goes within the window; a leaked descriptor stays in every reading."""
    fd_dir = Path(f"/proc/{pid}/fd")

    def reading() -> set[tuple[str, str]]:
        targets = set()
        for fd in os.listdir(fd_dir):
            try:
                targets.add((fd, os.readlink(fd_dir / fd)))
            except FileNotFoundError:  # closed between listing and reading
                continue
        return targets

    held = reading()
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        time.sleep(FD_READ_EVERY_S)
        held &= reading()
    return len(held)


def lag_buckets(text: str) -> dict[float, float]:
    """Cumulative counts of eddy_ioloop_lag_seconds by upper bound."""
    for family in text_string_to_metric_families(text):
        if family.name == "eddy_ioloop_lag_seconds":
            return {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
    raise AssertionError("eddy_ioloop_lag_seconds is not exported")


def p99(before: dict[float, float], after: dict[float, float]) -> tuple[float, int]:
    """(upper bound of the bucket holding the 99th percentile, samples) between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    for bound, count in zip(bounds, counts, strict=True):
        if count >= 0.99 * total:
            return bound, int(total)
    return bounds[-1], int(total)


async def run_phase(url: str, key: str, phase: int, acked: set[str]) -> None:
    """EVENTS_PER_PHASE events over HTTP batches and websockets, plus beacons; acked ids go in `acked`."""
    client = AsyncHTTPClient(force_instance=True, max_clients=HTTP_CLIENTS + 1)
    headers = {"X-Api-Key": key, "User-Agent": "soak/1.0", "Content-Type": "application/json"}
    http_events = EVENTS_PER_PHASE // 2
    ws_events = EVENTS_PER_PHASE - http_events

    async def http_client(number: int) -> None:
        share = http_events // HTTP_CLIENTS
        for start in range(0, share, HTTP_BATCH):
            ids = [f"p{phase}-h{number}-{start + i}" for i in range(HTTP_BATCH)]
            events = [{"name": "pageview", "id": i, "url": f"https://load.example/{i[-2:]}"} for i in ids]
            answer = await client.fetch(
                url + "/api/v1/collect",
                method="POST",
                body=orjson.dumps({"events": events}),
                headers=headers,
                request_timeout=60,
            )
            assert answer.code == 202
            acked.update(ids)

    async def ws_client(number: int) -> None:
        request = HTTPRequest(url.replace("http", "ws", 1) + "/ws/collect", headers={"X-Api-Key": key})
        conn = await websocket_connect(request)
        try:
            share = ws_events // WS_CONNECTIONS
            for start in range(0, share, WS_BATCH):
                ids = [f"p{phase}-w{number}-{start + i}" for i in range(WS_BATCH)]
                message = {"id": start, "events": [{"name": "load", "id": i} for i in ids]}
                await conn.write_message(orjson.dumps(message).decode())
                answer = orjson.loads(await conn.read_message())
                assert answer == {"ack": start, "accepted": WS_BATCH}, answer
                acked.update(ids)
        finally:
            conn.close()
            # wait for the closing handshake, so the socket is closed before this loop ends
            while await asyncio.wait_for(conn.read_message(), 10) is not None:
                pass

    async def beacons() -> None:
        for n in range(BEACONS_PER_PHASE):
            event_id = f"p{phase}-b{n}"
            answer = await client.fetch(
                url + "/api/v1/collect",
                method="POST",
                body=orjson.dumps({"name": "click", "id": event_id}),
                headers=headers,
            )
            assert answer.code == 202
            acked.add(event_id)

    try:
        await asyncio.gather(
            *(http_client(n) for n in range(HTTP_CLIENTS)),
            *(ws_client(n) for n in range(WS_CONNECTIONS)),
            beacons(),
        )
    finally:
        client.close()


@pytest.mark.timeout(400)
def test_soak_keeps_rss_fds_and_series_flat(eddy: EddyProcess) -> None:
    assert eddy.process is not None
    pid = eddy.process.pid
    site_id, key = secret_key(eddy.url)
    acked: set[str] = set()
    phases: list[dict[str, Any]] = []
    lag_at_warm_up: dict[float, float] = {}
    last_scrape = ""
    sending_s = 0.0  # time spent sending phases (the descriptor readings between them not included)
    for phase in range(PHASES):
        phase_started = time.monotonic()
        asyncio.run(run_phase(eddy.url, key, phase, acked))
        elapsed = time.monotonic() - phase_started
        sending_s += elapsed

        async def scrape() -> str:
            client = AsyncHTTPClient(force_instance=True)
            try:
                return (await client.fetch(eddy.url + "/metrics")).body.decode()
            finally:
                client.close()

        last_scrape = asyncio.run(scrape())
        series = sum(len(family.samples) for family in text_string_to_metric_families(last_scrape))
        phases.append(
            {
                "phase": phase + 1,
                "events_per_s": round(EVENTS_PER_PHASE / elapsed),
                "rss_mib": round(rss_mib(pid), 1),
                "fds": held_fds(pid),
                "series": series,
            }
        )
        if phase + 1 == WARM_UP:
            lag_at_warm_up = lag_buckets(last_scrape)
    lag_p99, lag_samples = p99(lag_at_warm_up, lag_buckets(last_scrape))
    rows = stored_ids(eddy.data_dir, site_id)
    measured = phases[WARM_UP - 1 :]
    rss = [p["rss_mib"] for p in phases]
    rss_growth = max(rss[WARM_UP - 1 :]) - rss[WARM_UP - 1]
    second_half = rss[PHASES // 2 - 1 :]
    median_step = statistics.median(b - a for a, b in itertools.pairwise(second_half))
    figures.record(
        "soak",
        {
            "events_sent": PHASES * (EVENTS_PER_PHASE + BEACONS_PER_PHASE),
            "phases": PHASES,
            "seconds": round(sending_s, 1),
            "events_per_s": round(PHASES * EVENTS_PER_PHASE / sending_s),
            "acknowledged": len(acked),
            "stored": len(set(rows)),
            "duplicated": len(rows) - len(set(rows)),
            "rss_mib_first_last_peak": [rss[0], rss[-1], max(rss)],
            "rss_growth_after_warm_up_mib": round(rss_growth, 1),
            "rss_median_step_second_half_mib": round(median_step, 2),
            "fds_after_warm_up": sorted({p["fds"] for p in measured}),
            "series_after_warm_up": sorted({p["series"] for p in measured}),
            "loop_lag_p99_s_at_most": lag_p99,
            "loop_lag_samples": lag_samples,
            "rss_mib_by_phase": rss,
        },
    )
    assert len(acked) == PHASES * (EVENTS_PER_PHASE + BEACONS_PER_PHASE)
    assert len(rows) == len(set(rows)) and set(rows) == acked
    assert len({p["fds"] for p in measured}) == 1, phases
    assert len({p["series"] for p in measured}) == 1, phases
    assert rss_growth <= SQLITE_CACHE_MIB + RSS_SLACK_MIB, rss
    assert median_step <= MEDIAN_STEP_MIB, rss
