"""Ending the servers that tests start as child processes (Redis, Prometheus)."""

from __future__ import annotations

import subprocess
from typing import Any


def terminate(process: subprocess.Popen[Any], timeout: float) -> None:
    """Send SIGTERM and wait up to `timeout` seconds for `process` to exit; past that, SIGKILL it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
