"""`--processes 2`: /metrics answered by either worker shows one coherent view (every worker's counts
merged), user-declared metrics included; the metric files are emptied at each start."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.support.app import make_test_context
from tests.support.eddy_process import EddyProcess
from tests.support.scrape import value
from tests.support.sites import add_metric_config, make_key, make_site
from tests.support.until import until_sync

pytestmark = pytest.mark.slow
# The counted request: /readyz, which EddyProcess.start() never calls (it polls /healthz, and a poll that
# timed out may still be answered and counted later), so every count below is the test's own.
PROBE_PATH = "/readyz"
PROBE_HANDLER = "ReadyzHandler"


def seed(data_dir: Path) -> dict[str, Any]:
    """A site, a secret key and two metric configs in the data dir, before Eddy starts."""

    async def go() -> dict[str, Any]:
        ctx = make_test_context(data_dir)
        await ctx.start()
        try:
            site = await make_site(ctx)
            key = await make_key(ctx, site["id"])
            await add_metric_config(ctx, site["id"], "orders", "counter")
            await add_metric_config(ctx, site["id"], "basket", "gauge")
            return {"site": site["id"], "key": key}
        finally:
            await ctx.stop()

    return asyncio.run(go())


@pytest.fixture
def eddy(tmp_path: Path) -> Iterator[EddyProcess]:
    process = EddyProcess(tmp_path / "data", "--processes", "2")
    yield process
    process.stop()


def get(url: str) -> str:
    # A new connection each time, so the kernel spreads requests over both workers.
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def post_sample(eddy: EddyProcess, key: str, name: str, number: float) -> None:
    body = json.dumps({"metrics": [{"name": name, "value": number}]}).encode()
    request = urllib.request.Request(
        eddy.url + "/api/v1/metrics",
        data=body,
        headers={"X-Api-Key": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202


def probe_count_per_worker(metrics_dir: Path) -> dict[int, float]:
    """Each worker's own count of answered /readyz requests (the test's probe), read from its file."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("histogram_*.db"):
        pid = int(path.stem.split("_")[-1])
        for key, number, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _family, sample, labels, _help = json.loads(key)
            # files keep per-bucket counts (the merge makes them cumulative): their sum is the count
            if sample.endswith("_bucket") and labels.get("handler") == PROBE_HANDLER:
                counts[pid] = counts.get(pid, 0) + number
    return counts


def probe_count(text: str) -> float | None:
    return value(text, "eddy_http_request_duration_seconds_count", handler=PROBE_HANDLER, status="2xx")


def probe_count_reaches(eddy: EddyProcess, expected: int) -> str:
    """The merged /metrics text once it counts `expected` probes. A request is counted when its access log
    line is written, just after its answer left: another worker's scrape may run in between, so the
    count is awaited (it must reach exactly `expected`, never more)."""

    def reached() -> str | None:
        text = get(eddy.url + "/metrics")
        assert (probe_count(text) or 0) <= expected, text
        return text if probe_count(text) == expected else None

    return until_sync(reached, 10, message=f"the merged view never counted {expected} probes")


def test_every_worker_answers_with_the_merged_view(eddy: EddyProcess) -> None:
    seeded = seed(eddy.data_dir)
    eddy.start()
    pids = eddy.wait_workers(2)
    metrics_dir = eddy.data_dir / "prometheus"
    for _ in range(60):
        get(eddy.url + PROBE_PATH)
    for n in range(1, 21):
        post_sample(eddy, seeded["key"], "orders", 1)
        post_sample(eddy, seeded["key"], "basket", n)
    text = probe_count_reaches(eddy, 60)
    per_worker = probe_count_per_worker(metrics_dir)
    assert set(per_worker) == set(pids), (per_worker, pids)
    assert all(count > 0 for count in per_worker.values()), per_worker  # both workers served some
    assert sum(per_worker.values()) == 60
    site = seeded["site"]
    for _ in range(12):
        text = get(eddy.url + "/metrics")
        assert probe_count(text) == 60
        assert value(text, "eddy_user_tally_orders_total", site=site) == 20
        assert value(text, "eddy_user_level_basket", site=site) == 20  # the most recent value, whoever set it
        assert value(text, "eddy_websocket_connections", kind="live") == 0
        assert text.count("# TYPE eddy_build_info gauge") == 1
        assert "pid=" not in text and "eddy_config_generation" not in text
    promtool = shutil.which("promtool")
    assert promtool
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # A worker killed with -9 is replaced; what it had counted stays in the merged view.
    os.kill(pids[0], signal.SIGKILL)
    eddy.wait_workers(3)
    text = get(eddy.url + "/metrics")
    assert probe_count(text) == 60
    assert value(text, "eddy_user_tally_orders_total", site=site) == 20

    # A new start starts from empty files: no count from the previous run survives.
    eddy.signal(signal.SIGTERM)
    assert eddy.wait(timeout=15) == 0
    eddy.start()
    new_workers = set(eddy.wait_workers(5)[-2:])
    for _ in range(3):
        get(eddy.url + PROBE_PATH)
    text = probe_count_reaches(eddy, 3)
    assert set(probe_count_per_worker(metrics_dir)) <= new_workers  # the old workers' files are gone
    assert value(text, "eddy_user_tally_orders_total", site=site) is None
