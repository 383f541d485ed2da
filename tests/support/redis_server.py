"""A real `redis-server` on a free loopback port, started and stopped by the tests themselves."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import accepts, free_port, wait_for_port
from tests.support.subprocesses import installed, terminate
from tests.support.until import until_sync


class RedisServer:
    """One redis-server process (no persistence). `stop()`/`start()` simulate an outage on the same port."""

    def __init__(self) -> None:
        self.binary = installed("redis-server", "run `make test` (it installs Debian's redis-server)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="eddy-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=5)
            self.process = None
            # Wait until the port is really free so a restart can bind it.
            until_sync(lambda: not accepts(self.port), timeout=5, interval=0.01)

    def flush(self) -> None:
        """Empty every database (between tests)."""
        import redis

        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()
