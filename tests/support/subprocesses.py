"""The servers that tests start as child processes (Redis, Prometheus): finding their program and
ending them."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any


def installed(program: str, how: str) -> str:
    """The path of `program`; a RuntimeError saying `how` to install it when it is not on the PATH."""
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed: {how}")
    return path


def terminate(process: subprocess.Popen[Any], timeout: float) -> None:
    """Send SIGTERM and wait up to `timeout` seconds for `process` to exit; past that, SIGKILL it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
