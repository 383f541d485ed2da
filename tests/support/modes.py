"""Run a test module on both deployments: import `both_modes` as the module's `app_config` fixture.

    from tests.support.modes import both_modes as app_config  # noqa: F401

or only on Redis:

    from tests.support.modes import redis_mode as app_config  # noqa: F401

Each test with `both_modes` runs twice: on the embedded default (in-process kv and bus) and with a real
Redis for the key-value store and the bus (a unique key prefix per test).
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(params=["embedded", "redis"])
def both_modes(request: pytest.FixtureRequest, unique_prefix: str) -> dict[str, Any]:
    """Config overrides for one of the two modes."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        return {"redis_url": server.url, "redis_prefix": unique_prefix}
    return {}


@pytest.fixture
def redis_mode(redis_server: Any, unique_prefix: str) -> dict[str, Any]:
    """Config overrides for the Redis-backed mode only (a unique key prefix per test)."""
    return {"redis_url": redis_server.url, "redis_prefix": unique_prefix}
