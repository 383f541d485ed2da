"""Sign-in benchmark: what bcrypt cost 12 costs, and that it never stalls the IOLoop.

Starts an in-process Eddy (embedded store in a temp dir) on a free port, registers one user, then:
- one bcrypt hash at cost 12, measured alone (median of 5);
- sequential logins: p50 / p95 latency over `--auth-logins`;
- concurrent logins (`--auth-concurrency` at once, repeated): logins/s and the worst IOLoop lag seen by a
  2 ms probe coroutine while they run (bcrypt runs in a 2-thread pool, so the lag stays far below one hash).
The sign-in throttles are lifted for the run.

Usage: python -m bench --only auth [--auth-logins 20] [--auth-concurrency 8]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import bcrypt
import orjson
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from domain.accounts.throttle import Limit
from runtime.secrets import load_or_create_secrets
from server.app import make_app
from server.services import build_context
from settings.config import Config

PASSWORD = "benchmark password"  # noqa: S105 - a throwaway account in a temp dir


def add_arguments(parser: Any) -> None:
    """This benchmark's flags."""
    parser.add_argument("--auth-logins", type=int, default=20, help="sequential logins to time")
    parser.add_argument("--auth-concurrency", type=int, default=8, help="logins in flight at once")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _bench(logins: int, concurrency: int, data_dir: Path) -> dict[str, Any]:
    ctx = build_context(Config(data_dir=data_dir), load_or_create_secrets(data_dir, env={}))
    await ctx.start()
    unlimited = Limit(10**9, 60.0)
    throttle = ctx.accounts.throttle
    throttle.login_ip = throttle.login_address_failures = throttle.login_account_failures = unlimited
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(ctx))
    server.add_sockets([sock])
    client = AsyncHTTPClient()
    base = f"http://127.0.0.1:{port}/api/v1/auth"
    body = orjson.dumps({"email": "bench@example.com", "password": PASSWORD})
    try:
        await client.fetch(f"{base}/register", method="POST", body=body)

        async def login() -> float:
            started = time.perf_counter()
            await client.fetch(f"{base}/login", method="POST", body=body)
            return time.perf_counter() - started

        hashes = []
        for _ in range(5):
            started = time.perf_counter()
            await asyncio.to_thread(bcrypt.hashpw, b"x", bcrypt.gensalt(12))
            hashes.append(time.perf_counter() - started)
        sequential = [await login() for _ in range(logins)]

        worst_lag = 0.0
        running = True

        async def probe() -> None:
            nonlocal worst_lag
            last = time.perf_counter()
            while running:
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                worst_lag = max(worst_lag, now - last - 0.002)
                last = now

        prober = asyncio.ensure_future(probe())
        started = time.perf_counter()
        rounds = max(1, logins // concurrency)
        for _ in range(rounds):
            await asyncio.gather(*(login() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        running = False
        await prober
    finally:
        server.stop()
        await ctx.stop()
    one_hash = statistics.median(hashes)
    return {
        "rows": [
            {"measure": "bcrypt hash, cost 12 (median of 5)", "value": f"{one_hash * 1000:.0f} ms"},
            {
                "measure": f"login p50 ({logins} sequential)",
                "value": f"{_percentile(sequential, 0.5) * 1000:.0f} ms",
            },
            {
                "measure": f"login p95 ({logins} sequential)",
                "value": f"{_percentile(sequential, 0.95) * 1000:.0f} ms",
            },
            {
                "measure": f"logins/s ({concurrency} concurrent x {rounds})",
                "value": f"{rounds * concurrency / elapsed:.1f}",
            },
            {
                "measure": "worst IOLoop lag during concurrent logins",
                "value": f"{worst_lag * 1000:.1f} ms ({worst_lag / one_hash:.0%} of one hash)",
            },
        ],
        "notes": ["bcrypt runs in a 2-thread pool, so at most two hashes run at once per process"],
    }


def run(args: Any) -> dict[str, Any]:
    """Run the sign-in benchmark; returns its table."""
    data_dir = Path(tempfile.mkdtemp(prefix="eddy-bench-auth-"))
    try:
        result = asyncio.run(_bench(args.auth_logins, args.auth_concurrency, data_dir))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    result["title"] = "Sign-in: bcrypt cost 12 off the IOLoop"
    return result
