"""The servers that tests start as child processes (Eddy, Redis, Prometheus): finding their program,
starting them with their output in a log file, and ending them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any


def installed(program: str, how: str) -> str:
    """The path of `program`; a RuntimeError saying `how` to install it when it is not on the PATH."""
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed: {how}")
    return path


def start_logged(argv: list[str], log_path: Path, **options: Any) -> subprocess.Popen[bytes]:
    """Start `argv` with its output and errors appended to `log_path`, which can be read while it runs;
    `options` go to Popen (cwd, env)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **options)


def terminate(process: subprocess.Popen[Any], timeout: float) -> None:
    """Send SIGTERM and wait up to `timeout` seconds for `process` to exit; past that, SIGKILL it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
