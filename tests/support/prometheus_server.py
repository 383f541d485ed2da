"""A real Prometheus (Debian's `prometheus`) on a free loopback port, scraping the targets it is given."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.support.ports import answers_ok, free_port
from tests.support.subprocesses import installed, start_logged, terminate
from tests.support.until import until_sync


class PrometheusServer:
    """One prometheus process with a generated config; `stop()` ends it and removes its storage."""

    def __init__(self, targets: list[str], *, scrape_interval: str = "1s", bearer_token: str = "") -> None:
        self.binary = installed("prometheus", "run `make test` (scripts/system-deps.sh installs it)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="eddy-prometheus-"))
        auth = f"    authorization: {{credentials: {bearer_token}}}\n" if bearer_token else ""
        (self.dir / "prometheus.yml").write_text(
            "global:\n"
            f"  scrape_interval: {scrape_interval}\n"
            "scrape_configs:\n"
            "  - job_name: eddy\n"
            f"    static_configs: [{{targets: [{', '.join(repr(t) for t in targets)}]}}]\n" + auth
        )
        self.log_path = self.dir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        argv = [
            self.binary,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = process = start_logged(argv, self.log_path)

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text(errors='replace')}")
            return answers_ok(self.url + "/-/ready")

        until_sync(ready, timeout, interval=0.1, message="prometheus did not become ready")
        return self

    def query_url(self, promql: str) -> str:
        """The instant-query URL of the HTTP API for `promql`."""
        return f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"

    @staticmethod
    def vector(body: bytes) -> list[dict[str, Any]]:
        """The result vector of a query answer."""
        data = orjson.loads(body)
        assert data["status"] == "success", data
        return data["data"]["result"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=10)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
