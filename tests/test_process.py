"""Eddy as a real process: start-up on the embedded default, clean SIGTERM, several workers on one port."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.eddy_process import EddyProcess

pytestmark = pytest.mark.slow


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_first_run_creates_data_dir_and_private_secrets(
    tmp_path: Path, start_eddy: Callable[..., EddyProcess]
) -> None:
    data_dir = tmp_path / "fresh"
    eddy = start_eddy(data_dir)
    assert get_json(eddy.url + "/healthz")["status"] == "ok"
    assert get_json(eddy.url + "/readyz")["status"] == "ready"
    secrets = data_dir / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert (data_dir / "eddy.db").exists() and (data_dir / "events.db").exists()


def test_sigterm_exits_zero_within_five_seconds(
    tmp_path: Path, start_eddy: Callable[..., EddyProcess]
) -> None:
    eddy = start_eddy(tmp_path / "d")
    started = time.monotonic()
    eddy.signal(signal.SIGTERM)
    assert eddy.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    assert "stopped cleanly" in eddy.log()


def test_several_workers_share_one_port_and_stop_together(
    tmp_path: Path, start_eddy: Callable[..., EddyProcess]
) -> None:
    eddy = start_eddy(tmp_path / "d", "--processes", "2")
    pids = set(eddy.wait_workers(2, timeout=15))
    assert len(pids) == 2, eddy.log()
    for _ in range(20):
        assert get_json(eddy.url + "/healthz")["status"] == "ok"
    eddy.signal(signal.SIGTERM)
    assert eddy.wait(timeout=10) == 0
    assert eddy.log().count("stopped cleanly") == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
