"""Run Eddy as a real process (`python run.py ...`) for process-level tests: start-up, signals, kill -9,
several processes on one port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.ports import answers_ok, free_port
from tests.support.subprocesses import start_logged, terminate
from tests.support.until import until_sync

ROOT = Path(__file__).resolve().parents[2]


class EddyProcess:
    """One `run.py` invocation; its combined output goes to a log file readable at any time."""

    def __init__(
        self, data_dir: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.args = list(args)
        self.env = {**os.environ, "EDDY_LOG_LEVEL": "INFO", "EDDY_REGISTRATION": "open", **(env or {})}
        handle, name = tempfile.mkstemp(prefix="eddy-log-", suffix=".txt")
        os.close(handle)
        self.log_path = Path(name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> EddyProcess:
        argv = [
            sys.executable,
            "run.py",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        self.process = start_logged(argv, self.log_path, cwd=ROOT, env=self.env)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"eddy exited with {self.process.returncode}:\n{self.log()}")
            return answers_ok(self.url + "/healthz")

        until_sync(healthy, timeout, message=lambda: f"eddy not healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_workers(self, count: int, timeout: float = 20.0) -> list[int]:
        """Wait until the log has announced `count` listening workers (replacements and restarts count
        too); the pids of the last `count` announcements."""

        def announced() -> list[int]:
            pids = re.findall(r"\[(\d+)\] eddy: Eddy worker \d listening", self.log())
            return [int(pid) for pid in pids[-count:]] if len(pids) >= count else []

        return until_sync(announced, timeout, interval=0.05, message=lambda: f"workers not up:\n{self.log()}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Terminate if still running (test teardown)."""
        if self.process is not None and self.process.poll() is None:
            terminate(self.process, timeout=10)
