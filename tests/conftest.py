"""Fixtures shared by every test: a real Redis server, store factories for the conformance suite, and
a running Eddy app (pytest-tornasync's `app`, `http_server_client` and `io_loop`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.web import Application

from server.app import make_app
from server.context import AppContext
from server.runner import make_http_server
from tests.support import figures
from tests.support.api import Api
from tests.support.app import make_test_context
from tests.support.redis_server import RedisServer

MONGODB_URI = os.environ.get("MONGODB_URI")
MONGO_SKIP_REASON = (
    "MONGODB_URI is not set: the MongoDB legs need a real MongoDB server, and none can be installed on "
    "this machine (no registry here carries one). Set MONGODB_URI=mongodb://... to run them."
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
def ctx(io_loop: Any, data_dir: Path, app_config: dict[str, Any]) -> Iterator[AppContext]:
    """A started AppContext (embedded store unless app_config says otherwise)."""
    context = make_test_context(data_dir, **app_config)
    io_loop.run_sync(context.start)
    yield context
    io_loop.run_sync(context.stop)


@pytest.fixture
def app(ctx: AppContext) -> Application:
    """The Tornado application pytest-tornasync serves as `http_server`."""
    return make_app(ctx)


@pytest.fixture
def http_server(io_loop: Any, app: Application, ctx: AppContext, http_server_port: Any) -> Iterator[Any]:
    """Overrides pytest-tornasync's server: the same HTTPServer options as production."""
    server = make_http_server(app, ctx.config)
    server.add_socket(http_server_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections, timeout=5)


@pytest.fixture
def api(http_server: Any, http_server_port: Any) -> Api:
    """Request helper bound to the running test server."""
    return Api(f"http://127.0.0.1:{http_server_port[1]}")
