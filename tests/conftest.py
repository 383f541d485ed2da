"""Fixtures shared by every test: a real Redis server, and a running Eddy app (`ctx`, `app`, `http_server`
on `http_server_port`, `api`) on the test's own event loop (pytest-asyncio: async tests and fixtures run
on a fresh loop per test, Tornado's IOLoop wrapping it)."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application

from handlers.context import AppContext
from server.app import make_app
from server.runner import make_http_server
from tests.support import error_log, figures
from tests.support.api import Api
from tests.support.app import make_test_context
from tests.support.eddy_process import EddyProcess
from tests.support.mongo import MONGO_SKIP_REASON, MONGODB_URI
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink


@pytest.fixture(autouse=True)
def no_unexpected_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test on an in-process ERROR log record it did not declare (tests/support/error_log.py),
    so that a "nothing went wrong" check can fail: an error logged and swallowed is still an error."""
    allowed = error_log.expected_loggers(request.node)
    handler = error_log.ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    surprises = error_log.unexpected(handler.records, allowed)
    if surprises:
        pytest.fail(
            "ERROR log records the test did not expect (declare them with "
            f"@pytest.mark.expect_errors(logger, ...)):\n{error_log.describe(surprises)}",
            pytrace=False,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    if MONGODB_URI:
        return ["mongodb: MONGODB_URI is set; MongoDB legs run"]
    return [f"mongodb: SKIPPED LEGS - {MONGO_SKIP_REASON}"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the reliability tests recorded in this run (tests/support/figures.py)."""
    lines = figures.summary()
    if lines:
        terminalreporter.section("reliability figures (also in reliability/results/)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole session (tests use unique key prefixes)."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_back_up(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The shared Redis for a test that stops it: started again afterwards, whatever happens."""
    yield redis_server
    if redis_server.process is None:
        redis_server.start()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server (in-process) that keeps what it receives; `sink.app_config()` sends an
    in-process app's mail there, `sink.env()` an Eddy process's."""
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
def start_eddy() -> Iterator[Callable[..., EddyProcess]]:
    """Start a real Eddy process: `start_eddy(data_dir, *args, port=..., env=...)` (EddyProcess's
    arguments) answers it started; every process started so is stopped after the test."""
    started: list[EddyProcess] = []

    def start(data_dir: Path, *args: str, **options: Any) -> EddyProcess:
        process = EddyProcess(data_dir, *args, **options)
        started.append(process)  # before it starts: one that fails half-way is stopped too
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def unique_prefix() -> str:
    """A key/collection prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory for an embedded store."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Config overrides for the `app` fixture; tests override this fixture to change the deployment."""
    return {}


@pytest.fixture
async def ctx(data_dir: Path, app_config: dict[str, Any]) -> AsyncIterator[AppContext]:
    """A started AppContext (embedded store unless app_config says otherwise)."""
    context = make_test_context(data_dir, **app_config)
    await context.start()
    yield context
    await context.stop()


@pytest.fixture
def app(ctx: AppContext) -> Application:
    """The Tornado application `http_server` serves."""
    return make_app(ctx)


@pytest.fixture
def http_server_port() -> tuple[socket.socket, int]:
    """A listening socket on a free loopback port, and the port: bound before the server starts, so a
    fixture can put the test server's address in its config."""
    return bind_unused_port()


@pytest.fixture
async def http_server(
    app: Application, ctx: AppContext, http_server_port: tuple[socket.socket, int]
) -> AsyncIterator[HTTPServer]:
    """The test server, with the same HTTPServer options as production."""
    server = make_http_server(app, ctx.config)
    server.add_socket(http_server_port[0])
    yield server
    server.stop()
    await asyncio.wait_for(server.close_all_connections(), timeout=5)


@pytest.fixture
async def api(http_server: HTTPServer, http_server_port: tuple[socket.socket, int]) -> Api:
    """Request helper bound to the running test server (made on the test's loop: its client is)."""
    return Api(f"http://127.0.0.1:{http_server_port[1]}")
