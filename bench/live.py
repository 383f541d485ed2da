"""Live benchmark: ingest → dashboard latency, and the memory of idle dashboard sockets.

Eddy runs as a real process (`run.py`, embedded store, one worker, in-process bus). Dashboards are
websockets to `/ws/live` held by client processes (asyncio, the minimal client of
tests/support/ws_client.py on Eddy's own codec, each socket authenticated with an access token in its
first message). Each socket binds its own loopback source address in blocks of 50 (127.1.x.y), so Eddy's
per-address connection cap stays on.

1. Latency, for each dashboard count: one event every `--live-interval` seconds through
   `POST /api/v1/collect` (a public key, like the tracker's beacon). The event carries its send time; every
   dashboard notes when the event shows up in its tick's `recent` list. p50/p99/max over every
   (dashboard, event) pair. Events are spaced beyond the 250 ms publish interval, so each one leaves on
   the leading edge; a burst coalesces into one delta per 250 ms (see `--live-burst`).
2. Memory: the RSS of the Eddy process before, and with `--live-idle` authenticated, idle dashboards;
   and for reference the same number of idle websockets on a bare Tornado server (Tornado's
   `WebSocketHandler`, same loop, same ping interval, nothing of Eddy): what a Tornado websocket costs per
   connection, against Eddy's own websocket layer (web/websocket.py) that serves `/ws/live`.

Usage: python -m bench --only live [--live-dashboards 100,1000] [--live-idle 10000] [--live-events 40]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from tests.support.eddy_process import EddyProcess
from tests.support.ports import free_port
from tests.support.sync_api import SyncApi, sign_up_with_site
from tests.support.ws_client import RawWebSocket
from web.ws_codec import OP_CLOSE, OP_TEXT

ORIGIN = "https://live.example"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
EVENT_NAME = "bench-live"
PER_ADDRESS = 50  # below Eddy's per-address cap of 64
CONNECT_CONCURRENCY = 25  # per client process: keeps the handshake queue short on a small machine


def add_arguments(parser: Any) -> None:
    """The benchmark's own flags."""
    parser.add_argument("--live-dashboards", default="100,1000", help="dashboard counts for latency")
    parser.add_argument("--live-idle", type=int, default=10_000, help="idle dashboards for the RSS figure")
    parser.add_argument("--live-events", type=int, default=40, help="events per latency run")
    parser.add_argument("--live-interval", type=float, default=0.3, help="seconds between events")
    parser.add_argument("--live-burst", type=int, default=0, help="also run with N events per send")
    parser.add_argument("--live-clients", type=int, default=4, help="client processes")
    parser.add_argument(
        "--live-bare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure idle sockets on a bare Tornado websocket server (the floor)",
    )


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (thousands of sockets); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------------------------------------
# client processes


def _source_address(index: int) -> str:
    block = index // PER_ADDRESS
    return f"127.1.{block // 250}.{block % 250 + 1}"


async def _open_dashboard(port: int, site_id: str, token: str, index: int) -> RawWebSocket:
    ws = await RawWebSocket.connect(
        port, f"/ws/live?site_id={site_id}", local_address=_source_address(index), stream_limit=65536
    )
    await ws.send_text(orjson.dumps({"token": token}).decode())
    opcode, payload = await ws.read_frame(timeout=None)
    if opcode != OP_TEXT or orjson.loads(payload).get("type") != "snapshot":
        raise ConnectionError(f"no snapshot (opcode {opcode}: {payload[:80]!r})")
    return ws


async def _watch(ws: RawWebSocket, arrivals: dict[int, float], stop: asyncio.Event) -> None:
    """Note when each benchmark event first shows up on this dashboard."""
    try:
        while not stop.is_set():
            opcode, payload = await ws.read_frame(timeout=None)
            if opcode == OP_CLOSE:
                return
            if opcode != OP_TEXT or EVENT_NAME.encode() not in payload:
                continue
            now = time.time()
            for event in orjson.loads(payload).get("recent", ()):
                props = event.get("props") or {}
                if event.get("name") == EVENT_NAME and "seq" in props:
                    arrivals.setdefault(int(props["seq"]), now - float(props["sent"]))
    except (asyncio.IncompleteReadError, ConnectionError):
        return


async def _client(port: int, site_id: str, token: str, indices: list[int], pipe: Any) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    sockets: list[RawWebSocket] = []
    failures: list[str] = []

    async def connect(index: int) -> None:
        async with gate:
            try:
                sockets.append(await _open_dashboard(port, site_id, token, index))
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as error:
                failures.append(str(error)[:200])

    await asyncio.gather(*(connect(i) for i in indices))
    stop = asyncio.Event()
    arrivals = [dict[int, float]() for _ in sockets]
    watchers = [asyncio.create_task(_watch(ws, a, stop)) for ws, a in zip(sockets, arrivals, strict=True)]
    pipe.send({"connected": len(sockets), "failures": failures[:5], "failed": len(failures)})
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop"
    await asyncio.sleep(0.5)  # let the last ticks land
    stop.set()
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    for ws in sockets:
        ws.abort()
    pipe.send(
        {"latencies": [lat for a in arrivals for lat in a.values()], "per_socket": [len(a) for a in arrivals]}
    )


def _client_main(port: int, site_id: str, token: str, indices: list[int], pipe: Any) -> None:
    """Entry point of one client process."""
    raise_fd_limit()
    asyncio.run(_client(port, site_id, token, indices, pipe))


# ---------------------------------------------------------------------------------------------------------
# the reference: a bare Tornado websocket server, same loop and ping settings, nothing of Eddy


def _bare_main(port: int, pipe: Any) -> None:
    """A Tornado server whose /ws/live answers the first message with a snapshot-typed reply."""
    import uvloop
    from tornado.httpserver import HTTPServer
    from tornado.web import Application
    from tornado.websocket import WebSocketHandler

    from web.websocket import PING_INTERVAL_S as WEBSOCKET_PING_INTERVAL

    class Bare(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            self.write_message('{"type":"snapshot"}')

    async def serve() -> None:
        server = HTTPServer(
            Application([(r"/ws/live", Bare)], websocket_ping_interval=WEBSOCKET_PING_INTERVAL)
        )
        server.listen(port, "127.0.0.1", backlog=1024)
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    raise_fd_limit()
    uvloop.run(serve())


def _bare_row(count: int, processes: int) -> dict[str, Any]:
    """RSS added by `count` idle websockets on a bare Tornado server."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    port = free_port()
    server = context.Process(target=_bare_main, args=(port, child), daemon=True)
    server.start()
    try:
        parent.poll(30)
        parent.recv()
        time.sleep(1.0)
        before = rss_mb(server.pid or 0)
        clients = _Clients(port, "bare", "none", count, processes)
        ready = clients.ready()
        time.sleep(3.0)
        after = rss_mb(server.pid or 0)
        clients.finish()
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.kill()
    return {
        "dashboards": f"{count} (bare Tornado)",
        "connected": ready["connected"],
        "events": 0,
        "eddy_rss_mb": round(after, 1),
        "rss_before_mb": round(before, 1),
        "kib_per_socket": round((after - before) * 1024 / max(1, ready["connected"]), 1),
    }


# ---------------------------------------------------------------------------------------------------------
# the run


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _setup(base_url: str) -> tuple[str, str, str]:
    """A user, a site and a public key through the API; returns (token, site_id, key)."""
    made = sign_up_with_site(
        SyncApi(base_url),
        f"bench-{os.getpid()}@example.com",
        "bench password long enough",
        {"name": "Bench", "domain": "live.example", "allowed_origins": [ORIGIN]},
    )
    return made.token, made.site_id, made.keys["public"]


class _Clients:
    """Client processes holding `count` dashboards between them."""

    def __init__(self, port: int, site_id: str, token: str, count: int, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        processes = max(1, min(processes, count))
        for p in range(processes):
            parent, child = context.Pipe()
            indices = list(range(p, count, processes))
            proc = context.Process(
                target=_client_main, args=(port, site_id, token, indices, child), daemon=True
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def ready(self, timeout: float = 300.0) -> dict[str, Any]:
        connected, failed, samples = 0, 0, []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("client process did not connect in time")
            report = pipe.recv()
            connected += report["connected"]
            failed += report["failed"]
            samples.extend(report["failures"])
        return {"connected": connected, "failed": failed, "failures": samples[:3]}

    def finish(self) -> tuple[list[float], list[int]]:
        for pipe in self.pipes:
            pipe.send("stop")
        latencies: list[float] = []
        per_socket: list[int] = []
        for pipe in self.pipes:
            report = pipe.recv() if pipe.poll(120) else {"latencies": [], "per_socket": []}
            latencies.extend(report["latencies"])
            per_socket.extend(report["per_socket"])
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        return latencies, per_socket


def _send_events(api: SyncApi, key: str, count: int, interval: float, burst: int) -> int:
    sent = 0
    headers = {"X-Api-Key": key, "Origin": ORIGIN, "User-Agent": BROWSER_UA}
    for _ in range(count):
        events = [
            {
                "name": EVENT_NAME,
                "url": f"https://live.example/page/{(sent + i) % 7}",
                "props": {"seq": sent + i, "sent": time.time()},
            }
            for i in range(max(1, burst))
        ]
        answer = api.post("/api/v1/collect", json={"events": events}, headers=headers)
        assert answer.status == 202, answer.json
        sent += len(events)
        time.sleep(interval)
    return sent


def _latency_row(
    eddy: EddyProcess,
    token: str,
    site_id: str,
    key: str,
    dashboards: int,
    args: argparse.Namespace,
    burst: int,
) -> dict[str, Any]:
    pid = eddy.process.pid if eddy.process else 0
    clients = _Clients(eddy.port, site_id, token, dashboards, args.live_clients)
    ready = clients.ready()
    rss = rss_mb(pid)
    sent = _send_events(SyncApi(eddy.url), key, args.live_events, args.live_interval, burst)
    latencies, per_socket = clients.finish()
    ms = [lat * 1000 for lat in latencies]
    expected = sent * ready["connected"]
    return {
        "dashboards": dashboards,
        "connected": ready["connected"],
        "events": sent,
        "per_send": max(1, burst),
        "delivered": f"{len(ms)}/{expected}",
        "p50_ms": round(_percentile(ms, 50), 1),
        "p99_ms": round(_percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "eddy_rss_mb": round(rss, 1),
        "min_per_socket": min(per_socket) if per_socket else 0,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every live measurement against one Eddy process; returns the table rows and notes."""
    limit = raise_fd_limit()  # the Eddy process inherits it
    data_dir = Path(tempfile.mkdtemp(prefix="eddy-bench-live-"))
    eddy = EddyProcess(data_dir, env={"EDDY_LOG_LEVEL": "WARNING"})
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        eddy.start()
        token, site_id, key = _setup(eddy.url)
        pid = eddy.process.pid if eddy.process else 0
        for dashboards in [int(n) for n in str(args.live_dashboards).split(",") if n.strip()]:
            rows.append(_latency_row(eddy, token, site_id, key, dashboards, args, 1))
            if args.live_burst > 1:
                rows.append(_latency_row(eddy, token, site_id, key, dashboards, args, args.live_burst))
            time.sleep(1.0)
        if args.live_idle:
            time.sleep(2.0)
            before = rss_mb(pid)
            clients = _Clients(eddy.port, site_id, token, args.live_idle, args.live_clients)
            started = time.monotonic()
            ready = clients.ready()
            connect_s = time.monotonic() - started
            time.sleep(3.0)  # idle: pings only
            after = rss_mb(pid)
            clients.finish()
            rows.append(
                {
                    "dashboards": args.live_idle,
                    "connected": ready["connected"],
                    "events": 0,
                    "eddy_rss_mb": round(after, 1),
                    "rss_before_mb": round(before, 1),
                    "kib_per_socket": round((after - before) * 1024 / max(1, ready["connected"]), 1),
                    "connect_s": round(connect_s, 1),
                }
            )
            if ready["failed"]:
                notes.append(f"idle run: {ready['failed']} sockets failed: {ready['failures']}")
            if args.live_bare:
                rows.append(_bare_row(args.live_idle, args.live_clients))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        notes.append(
            f"open-files limit {limit}; {args.live_clients} client processes; {os.cpu_count()} CPUs; "
            f"load average at the end {load}"
        )
        notes.append("targets: p99 < 100 ms at 100 dashboards, < 250 ms at 1,000; 10,000 idle < 200 MB RSS")
    finally:
        eddy.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"title": "Live: ingest → dashboard latency and idle socket memory", "rows": rows, "notes": notes}
