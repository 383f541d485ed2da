"""A new bus of any kind for the bus conformance tests (two of them share one Redis server or one SQLite
file, as two processes would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storage.embedded.memory_bus import MemoryBus
from storage.embedded.sqlite_bus import SqliteBus
from storage.redis.bus import RedisBus
from tests.support.redis_server import RedisServer


def make_bus(kind: str, request: pytest.FixtureRequest, prefix: str) -> Any:
    """A new, unopened bus of `kind` (two of them share one Redis server, or one SQLite file)."""
    if kind == "memory":
        return MemoryBus()
    if kind == "sqlite":
        data_dir: Path = request.getfixturevalue("data_dir")
        return SqliteBus(data_dir)
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisBus(server.url, prefix=prefix)
