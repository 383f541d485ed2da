"""Event loop benchmark: the same servers on asyncio's default loop and on uvloop, side by side.

Two targets, each measured in alternating rounds (asyncio, uvloop, asyncio, ...) so a change of machine
load hits both loops alike; the median round by req/s is kept:

- bare: the baseline Tornado handler of bench/ingest_support/bare_server.py (POST → 202), served here
  by this module on the chosen loop;
- beacon: a real Eddy process (`run.py --uvloop` / `--no-uvloop`, one worker, embedded store) taking
  single-event beacons with a public key through POST /api/v1/collect (durable before the 202).

Load: Debian `wrk` (one thread, bench/ingest_support/post.lua, a unique event id per request). "server CPU"
is the server process's user+system time per request, read from /proc; it is the figure machine load
disturbs least. Eddy's runner keeps uvloop (EDDY_UVLOOP, default on) only while it wins here.

Usage: python -m bench --only event_loop [--loop-duration 5] [--loop-rounds 3]
       python -m bench.event_loop --serve PORT asyncio|uvloop   (the bare server on one loop)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench.ingest import run_wrk, site_keys

HERE = Path(__file__).resolve().parent
ORIGIN = "https://load.example"
LOOPS = ("asyncio", "uvloop")


def add_arguments(parser: Any) -> None:
    """The benchmark's flags."""
    parser.add_argument("--loop-duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--loop-rounds", type=int, default=3, help="alternating rounds per loop")
    parser.add_argument("--loop-connections", type=int, default=64, help="wrk connections")


def serve_bare(port: int, loop: str) -> None:
    """The bare handler on `loop` until killed."""
    from tornado.httpserver import HTTPServer
    from tornado.web import Application

    from bench.ingest_support.bare_server import Bare

    async def main() -> None:
        server = HTTPServer(Application([(r"/api/v1/collect", Bare)]))
        server.listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def _wait(url: str, body: bytes, headers: dict[str, str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, data=body, headers=headers)
            urllib.request.urlopen(request, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def _wrk(url: str, body: bytes, env: dict[str, str], args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """One wrk run; req/s, latency percentiles, errors and the server's CPU per request meanwhile."""
    summary = run_wrk(url, body, args.loop_duration, args.loop_connections, env, pid)
    return {
        "rps": summary["rps"],
        "p50_ms": summary["p50_us"] / 1e3,
        "p99_ms": summary["p99_us"] / 1e3,
        "errors": summary["non2xx"] + summary["socket_errors"],
        "cpu_us_per_req": summary["cpu_s"] / max(summary["requests"], 1) * 1e6,
    }


def _free_port() -> int:
    from tests.support.ports import free_port

    return free_port()


def _bare_server(loop: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.event_loop", "--serve", str(port), loop],
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1/collect"
    _wait(url, b"{}", {})
    return process, url


def _public_key(base_url: str) -> str:
    """A public key of a new site allowing ORIGIN, through the management API."""
    return site_keys(base_url)[0]


def _measure_bare(loop: str, args: argparse.Namespace) -> dict[str, Any]:
    process, url = _bare_server(loop)
    try:
        return _wrk(url, b'{"name":"pageview","id":"IDPREFIX"}', {}, args, process.pid)
    finally:
        process.kill()
        process.wait()


def _measure_beacon(loop: str, args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.eddy_process import EddyProcess

    with tempfile.TemporaryDirectory(prefix="eddy-bench-loop-") as data_dir:
        flag = "--uvloop" if loop == "uvloop" else "--no-uvloop"
        eddy = EddyProcess(Path(data_dir), flag, env={"EDDY_LOG_LEVEL": "WARNING"}).start()
        try:
            key = _public_key(eddy.url)
            body = orjson.dumps({"name": "pageview", "id": "IDPREFIX", "url": f"{ORIGIN}/pricing"})
            env = {"API_KEY": key, "ORIGIN": ORIGIN}
            assert eddy.process is not None
            return _wrk(eddy.url + "/api/v1/collect", body, env, args, eddy.process.pid)
        finally:
            eddy.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate the loops for each target; returns the table."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (scripts/system-deps.sh installs it)")
    rows: list[dict[str, Any]] = []
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for target, measure in (("bare Tornado handler", _measure_bare), ("Eddy beacon", _measure_beacon)):
        runs: dict[str, list[dict[str, Any]]] = {loop: [] for loop in LOOPS}
        for _ in range(args.loop_rounds):
            for loop in LOOPS:
                runs[loop].append(measure(loop, args))
        raw[target] = runs
        kept = {loop: sorted(r, key=lambda m: m["rps"])[len(r) // 2] for loop, r in runs.items()}
        for loop in LOOPS:
            m = kept[loop]
            rows.append(
                {
                    "target": target,
                    "loop": loop,
                    "req/s (median round)": f"{m['rps']:,.0f}",
                    "p50 ms": f"{m['p50_ms']:.1f}",
                    "p99 ms": f"{m['p99_ms']:.1f}",
                    "errors": m["errors"],
                    "server CPU us/req": f"{statistics.median(r['cpu_us_per_req'] for r in runs[loop]):,.0f}",
                    "uvloop gain": ""
                    if loop == "asyncio"
                    else f"{m['rps'] / kept['asyncio']['rps'] - 1:+.0%} req/s",
                }
            )
    return {
        "title": "Event loop: asyncio's default loop against uvloop",
        "rows": rows,
        "raw": raw,
        "notes": [
            f"wrk -t1 -c{args.loop_connections}, {args.loop_duration:.0f} s per run, "
            f"{args.loop_rounds} alternating rounds per loop; server CPU = median over the rounds",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.event_loop`: this benchmark alone, or `--serve PORT LOOP` for the bare server."""
    parser = argparse.ArgumentParser(prog="python -m bench.event_loop")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "LOOP"))
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.serve:
        serve_bare(int(args.serve[0]), args.serve[1])
        return 0
    for row in run(args)["rows"]:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
