"""Fixtures of the live tests: the port of a running test server."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def port(http_server: Any, http_server_port: Any) -> int:
    """The port of the running Eddy test server."""
    return int(http_server_port[1])
