"""Start-up and shutdown of Eddy processes.

One process: `asyncio.run(serve(...))`. Several (`--processes N`): the parent binds the port, creates the
secrets, forks N workers (each builds its own clients after the fork, inside its own loop) and supervises
them: SIGTERM/SIGINT are forwarded, a worker that dies unexpectedly is restarted, and the parent exits once
every worker has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets
from tornado.web import Application

from handlers import lean_routes
from handlers.lean_http import LeanRouter
from runtime.metrics import enable_multiprocess, worker_exited
from runtime.secrets import Secrets, load_or_create_secrets
from server.app import make_app
from server.files import make_private
from server.gc_tuning import tune_for_serving
from server.services import build_context
from settings.config import Config

log = logging.getLogger("eddy")
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_CONNECTIONS = 1000  # open HTTP connections per process (websockets not counted once upgraded)


def setup_logging(level: str) -> None:
    """Plain, timestamped log lines on stderr."""
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )


class CappedHTTPServer(HTTPServer):
    """An HTTPServer that holds at most `max_connections` HTTP connections at once: one more is closed
    as soon as it is accepted (2,000 clients sending half a request each were all held). Websockets
    leave the count once taken over (they have their own caps per address)."""

    max_connections = MAX_CONNECTIONS
    refused = 0
    _open = 0

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        if self._open >= self.max_connections:
            self.refused += 1
            stream.close()
            return
        self._open += 1
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        self._open -= 1
        super().on_close(server_conn)


def make_http_server(app: Application, config: Config) -> HTTPServer:
    """The HTTPServer with Eddy's connection limits (tests build theirs through this too); the lean
    routes (the collect beacon) are answered ahead of the Application. EDDY_MAX_CONNECTIONS: the
    overall cap on open HTTP connections per process (default MAX_CONNECTIONS)."""
    server = CappedHTTPServer(
        LeanRouter(app, lean_routes()),
        xheaders=config.trust_proxy,
        max_body_size=MAX_BODY_BYTES,
        idle_connection_timeout=60,
        body_timeout=30,
    )
    server.max_connections = config.max_connections
    return server


async def serve(config: Config, secrets: Secrets, sockets: list[socket.socket], worker: int = 0) -> None:
    """Serve on pre-bound sockets until SIGTERM/SIGINT, then drain and stop cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ctx = build_context(config, secrets)
    await ctx.start()
    server = make_http_server(make_app(ctx), config)
    server.add_sockets(sockets)
    tune_for_serving()
    port = sockets[0].getsockname()[1]
    log.info(
        "Eddy worker %d listening on http://%s:%d (%s store, %s bus)",
        worker,
        config.host,
        port,
        ctx.stores.kinds["events"],
        ctx.stores.kinds["bus"],
    )
    await stop.wait()
    started = time.monotonic()
    log.info("shutting down: no new connections, closing websockets, flushing")
    server.stop()
    closed = ctx.sockets.close_all()
    await ctx.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.close_all_connections(), timeout=2.0)
    log.info(
        "Eddy worker %d stopped cleanly in %.2fs (%d websockets closed)",
        worker,
        time.monotonic() - started,
        closed,
    )


def _install_loop(config: Config) -> None:
    if not config.use_uvloop:
        return
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _run_worker(config: Config, secrets: Secrets, sockets: list[socket.socket], worker: int) -> int:
    _install_loop(config)
    asyncio.run(serve(config, secrets, sockets, worker))
    return 0


def _supervise(config: Config, secrets: Secrets, port: int) -> int:
    """Fork and watch the workers; returns the parent's exit status. Each worker binds its own
    SO_REUSEPORT socket on `port`, so the kernel spreads new connections evenly over the workers (one
    shared listening socket lets whichever worker wakes first take a whole burst of connections)."""
    children: dict[int, int] = {}
    stopping = False

    def spawn(worker: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                sockets = bind_sockets(port, config.host, backlog=1024, reuse_port=True)
                code = _run_worker(config, secrets, sockets, worker)
            except BaseException:
                log.exception("worker %d crashed", worker)
            finally:
                os._exit(code)
        children[pid] = worker

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in range(config.processes):
        spawn(worker)
    log.info("supervising %d workers", config.processes)
    status = 0
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        worker = children.pop(pid, None)
        if worker is None:
            continue
        worker_exited(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            status = status or (0 if code == 0 else 1)
        else:
            log.error("worker %d exited with %d; restarting it", worker, code)
            time.sleep(0.5)
            spawn(worker)
    log.info("all workers stopped")
    return status


def main(config: Config) -> int:
    """Run Eddy with this configuration; returns the process exit status."""
    setup_logging(config.log_level)
    make_private(config.data_dir)  # before any file is opened: 0600 files, 0700 folders
    secrets = load_or_create_secrets(config.data_dir)
    if config.processes > 1:
        # Bound once here to fail early on a taken port and to learn an ephemeral one; the workers
        # bind their own (a socket left open here would be handed connections nobody accepts).
        probe = bind_sockets(config.port, config.host, backlog=1024, reuse_port=True)
        port = probe[0].getsockname()[1]
        for sock in probe:
            sock.close()
        # One coherent /metrics across workers (see runtime/metrics.py); emptied at every start.
        metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or config.data_dir / "prometheus"
        enable_multiprocess(Path(metrics_dir))
        return _supervise(config, secrets, port)
    return _run_worker(config, secrets, bind_sockets(config.port, config.host, backlog=1024), 0)
