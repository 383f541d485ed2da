"""Ingest benchmark: in one run on this machine, side by side,

1. a bare Tornado handler's req/s (the ceiling for any Tornado endpoint here),
2. Eddy's single-event beacon req/s (public key, Origin, text/plain, like navigator.sendBeacon),
3. batched HTTP events/s (secret key, 500 events per request, unique ids),
4. websocket events/s (20 events per message, clients in separate processes, one message in flight per
   connection),

each with p50/p99 ack latency. HTTP load comes from Debian `wrk` with a Lua script; Eddy runs as a real
process (`run.py`, embedded SQLite store with synchronous=FULL) on a fresh data dir: one worker for the
beacon row (like the bare server it is compared with), then `--processes N` workers (default 2, one per
core) on the same data dir for the batched rows. Server CPU is summed over the supervisor and its workers.

Usage: python -m bench --only ingest [--ingest-duration 10] [--ingest-connections 64] [--ingest-ws-procs 2]
       [--ingest-processes 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.support.eddy_process import EddyProcess
from tests.support.ports import free_port
from tests.support.sync_api import SyncApi, sign_up_with_site

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "ingest_support" / "post.lua"
ORIGIN = "https://load.example"
BATCH_EVENTS = 500
WS_EVENTS = 20


def add_arguments(parser: Any) -> None:
    """The benchmark's own flags."""
    parser.add_argument("--ingest-duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--ingest-connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--ingest-rounds", type=int, default=5, help="alternating bare/beacon rounds")
    parser.add_argument("--ingest-ws-procs", type=int, default=2, help="websocket client processes")
    parser.add_argument("--ingest-ws-conns", type=int, default=16, help="connections per ws process")
    parser.add_argument(
        "--ingest-ws-window", type=int, default=8, help="websocket messages awaiting their ack per connection"
    )
    parser.add_argument(
        "--ingest-processes", type=int, default=2, help="Eddy worker processes for the batched rows"
    )


def _wait_port(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, data=b"{}", timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) and its live child processes (the workers of
    `--processes N`) have used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += _cpu_seconds(int(child))
    return total


def run_wrk(
    url: str, body: bytes, seconds: float, connections: int, env: dict[str, str], pid: int
) -> dict[str, Any]:
    """Run wrk (one thread: the other core is the server's) and return its JSON summary plus the
    server's CPU seconds (process `pid`) during the run."""
    cpu_before = _cpu_seconds(pid)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(body)
    try:
        result = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(LUA),
                url,
            ],
            env={**os.environ, "BODY_FILE": handle.name, **env},
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    line = next(line for line in result.stdout.splitlines() if line.startswith("WRKJSON "))
    summary = json.loads(line.removeprefix("WRKJSON "))
    summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
    summary["cpu_s"] = _cpu_seconds(pid) - cpu_before
    return summary


def site_keys(base_url: str) -> tuple[str, str]:
    """(public key, secret key) for a new site, through the management API."""
    made = sign_up_with_site(
        SyncApi(base_url),
        f"bench-{time.time_ns()}@example.com",
        "correct horse battery",
        {"name": "Bench", "domain": "load.example", "allowed_origins": [ORIGIN]},
        ("public", "secret"),
    )
    return made.keys["public"], made.keys["secret"]


def _ws(url: str, key: str, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """Websocket load from separate processes; totals, latency percentiles and server CPU seconds."""
    cpu_before = _cpu_seconds(pid)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.ingest_support.ws_client",
                url,
                key,
                str(args.ingest_ws_conns),
                str(WS_EVENTS),
                str(args.ingest_duration),
                f"p{n}-{time.time_ns()}-",
                str(args.ingest_ws_window),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(args.ingest_ws_procs)
    ]
    results = [json.loads(proc.communicate(timeout=args.ingest_duration + 60)[0]) for proc in procs]
    cpu_s = _cpu_seconds(pid) - cpu_before
    latencies = sorted(ms for result in results for ms in result["latencies"])
    seconds = max(result["seconds"] for result in results)
    return {
        "events": sum(r["events"] for r in results),
        "messages": sum(r["messages"] for r in results),
        "nacks": sum(r["nacks"] for r in results),
        "seconds": seconds,
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "cpu_s": cpu_s,
        "client_cpu_s": sum(r["cpu_s"] for r in results),
    }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def _beacon() -> bytes:
    return orjson.dumps(
        {
            "name": "pageview",
            "url": "https://load.example/pricing?utm_source=news",
            "referrer": "https://www.google.com/",
        }
    )


def _batch(n: int) -> bytes:
    events = [
        {
            "name": "pageview",
            "id": f"IDPREFIX-{i}",
            "url": f"https://load.example/p/{i % 20}",
            "props": {"n": i},
        }
        for i in range(n)
    ]
    return orjson.dumps({"events": events})


def _row(name: str, m: dict[str, Any], events_per_request: int, vs: str = "") -> dict[str, Any]:
    """One table row from a normalised measurement {rps, seconds, p50_ms, p99_ms, errors, cpu_s}."""
    requests = m["rps"] * m["seconds"]
    events = requests * events_per_request
    return {
        "measure": name,
        "req/s": f"{m['rps']:,.0f}",
        "events/s": f"{m['rps'] * events_per_request:,.0f}",
        "p50 ms": f"{m['p50_ms']:.1f}",
        "p99 ms": f"{m['p99_ms']:.1f}",
        "errors": m["errors"],
        "server CPU us/req": f"{m['cpu_s'] / max(requests, 1) * 1e6:,.0f}",
        "events per server CPU-s": f"{events / max(m['cpu_s'], 1e-9):,.0f}",
        "vs bare": vs,
    }


def _from_wrk(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "rps": summary["rps"],
        "seconds": summary["duration_us"] / 1e6,
        "p50_ms": summary["p50_us"] / 1e3,
        "p99_ms": summary["p99_us"] / 1e3,
        "errors": summary["non2xx"] + summary["socket_errors"],
        "cpu_s": summary["cpu_s"],
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the four numbers in one run; returns the table."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (scripts/system-deps.sh installs it)")
    seconds = args.ingest_duration
    connections = args.ingest_connections
    rounds = args.ingest_rounds
    raw: dict[str, Any] = {"bare": [], "beacon": []}
    bare_port = free_port()
    bare_url = f"http://127.0.0.1:{bare_port}/api/v1/collect"
    bare = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest_support.bare_server", str(bare_port)], cwd=ROOT
    )
    data_dir = Path(tempfile.mkdtemp(prefix="eddy-bench-"))
    env = {
        "EDDY_INGEST_KEY_RPS": "1000000",
        "EDDY_INGEST_SITE_RPS": "1000000",
        "EDDY_INGEST_SOCKET_MPS": "100000",
        "EDDY_LOG_LEVEL": "WARNING",
    }
    eddy = EddyProcess(data_dir, env=env)
    try:
        _wait_port(bare_url)
        eddy.start()
        public, secret = site_keys(eddy.url)
        url = eddy.url + "/api/v1/collect"
        assert eddy.process is not None
        pid = eddy.process.pid
        beacon_env = {"API_KEY": public, "ORIGIN": ORIGIN, "CONTENT_TYPE": "text/plain;charset=UTF-8"}
        # Bare and beacon alternate, and each keeps its median round: on a shared machine, load from
        # other work then hits both alike.
        for _ in range(rounds):
            raw["bare"].append(run_wrk(bare_url, _beacon(), seconds / rounds, connections, {}, bare.pid))
            raw["beacon"].append(run_wrk(url, _beacon(), seconds / rounds, connections, beacon_env, pid))
        bare.terminate()
        b, s = _median_run(raw["bare"]), _median_run(raw["beacon"])
        # The batched rows use every core: the same data dir (keys included) under N workers.
        eddy.stop()
        eddy = EddyProcess(data_dir, "--processes", str(args.ingest_processes), env=env, port=eddy.port)
        eddy.start()
        assert eddy.process is not None
        pid = eddy.process.pid
        batch_connections = max(4, connections // 4)
        raw["batched"] = t = run_wrk(
            url, _batch(BATCH_EVENTS), seconds, batch_connections, {"API_KEY": secret}, pid
        )
        ws_url = eddy.url.replace("http://", "ws://") + "/ws/collect"
        raw["websocket"] = w = _ws(ws_url, secret, args, pid)
        stored = _stored(data_dir)
    finally:
        bare.terminate()
        bare.wait()
        eddy.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    bare_m, beacon_m = _from_wrk(b), _from_wrk(s)
    ws_m = {
        "rps": w["messages"] / w["seconds"],
        "seconds": w["seconds"],
        "p50_ms": w["p50_ms"],
        "p99_ms": w["p99_ms"],
        "errors": w["nacks"],
        "cpu_s": w["cpu_s"],
    }
    # Each beacon round ran right after its bare round: the median of those paired ratios is steadier on
    # a shared machine than the ratio of two medians taken from different moments.
    paired = sorted(e["rps"] / b["rps"] for b, e in zip(raw["bare"], raw["beacon"], strict=True))
    paired_cpu = sorted(
        (b["cpu_s"] / b["requests"]) / (e["cpu_s"] / e["requests"])
        for b, e in zip(raw["bare"], raw["beacon"], strict=True)
    )
    workers = f"{args.ingest_processes} processes"
    rows = [
        _row("bare Tornado handler", bare_m, 1, "1.00"),
        _row(
            "beacon, 1 event",
            beacon_m,
            1,
            f"{paired[len(paired) // 2]:.2f} (CPU {paired_cpu[len(paired_cpu) // 2]:.2f})",
        ),
        _row(f"HTTP batch, {BATCH_EVENTS} events, {workers}", _from_wrk(t), BATCH_EVENTS),
        _row(f"websocket, {WS_EVENTS} events/message, {workers}", ws_m, WS_EVENTS),
    ]
    load = os.getloadavg()
    notes = [
        f"bare and beacon: {rounds} alternating rounds of {seconds / rounds:.1f} s, median round shown; "
        f"beacon/bare ratio of each round pair: {' '.join(f'{r:.2f}' for r in paired)} (median shown); "
        f"wrk -t1 -c{connections}; batches: {seconds:.0f} s, wrk -t1 -c{batch_connections}; websocket: "
        f"{seconds:.0f} s, {args.ingest_ws_procs} processes x {args.ingest_ws_conns} connections, "
        f"{args.ingest_ws_window} messages awaiting their ack per connection",
        f"processes: bare server and Eddy 1 each for bare/beacon; Eddy --processes {args.ingest_processes} "
        "for the HTTP batch and websocket rows",
        f"websocket clients' own CPU: {w['client_cpu_s'] / w['seconds']:.2f} cores "
        f"({w['client_cpu_s'] / max(w['events'], 1) * 1e6:.1f} us per event) on the same machine",
        f"events stored by Eddy during the run: {stored:,}",
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs",
        "vs bare: median of the paired rounds' req/s ratios (and of their server CPU per request ratios, "
        "which other load on a shared machine disturbs less)",
        "targets: beacon >= 0.70 x bare; batched HTTP and websocket >= 100,000 events/s",
    ]
    return {"title": "ingest", "rows": rows, "notes": notes, "raw": raw}


def _stored(data_dir: Path) -> int:
    from storage.embedded.columnar.snapshot import stored_events

    return len(stored_events(data_dir))
