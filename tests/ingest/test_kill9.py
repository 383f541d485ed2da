"""kill -9 under load: every event acknowledged (202) before the SIGKILL is in the store afterwards.

A real Eddy process takes concurrent batches from several client tasks (each event with its own id); it is
killed with SIGKILL mid-stream and restarted on the same data dir; then the acknowledged ids are compared
with the ids in the data dir's files (segments and the log).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import figures
from tests.support.eddy_process import EddyProcess
from tests.support.process_load import load, secret_key, stored_ids

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

KILL_AFTER_S = 1.5


def load_then_signal(eddy: EddyProcess, key: str, signum: int) -> tuple[set[str], set[str]]:
    """Run the load, send `signum` after KILL_AFTER_S; returns (acknowledged ids, sent ids)."""
    acked: set[str] = set()
    sent: set[str] = set()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(KILL_AFTER_S, eddy.signal, signum)
        loop.call_later(KILL_AFTER_S + 10, stop.set)  # safety net
        await load(eddy.url, key, acked, sent, stop)

    asyncio.run(run())
    assert len(acked) > 0, "no batch was acknowledged before the signal"
    return acked, sent


def test_kill9_under_load_loses_no_acknowledged_event(
    tmp_path: Path, start_eddy: Callable[..., EddyProcess]
) -> None:
    data_dir = tmp_path / "data"
    eddy = start_eddy(data_dir)
    site_id, key = secret_key(eddy.url)
    acked, sent = load_then_signal(eddy, key, signal.SIGKILL)
    assert eddy.wait(10) == -signal.SIGKILL

    restarted = start_eddy(data_dir, port=eddy.port)  # recovers the WAL on the same data dir
    restarted.stop()

    rows = stored_ids(data_dir, site_id)
    stored = set(rows)
    lost = acked - stored
    figures.record(
        "kill9",
        {
            "sent": len(sent),
            "acknowledged": len(acked),
            "stored": len(stored),
            "duplicated": len(rows) - len(stored),
            "acknowledged_but_lost": len(lost),
            "stored_not_acknowledged": len(stored - acked),
        },
    )
    assert len(rows) == len(stored), "an event was stored twice"
    assert stored <= sent
    assert not lost, f"{len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"


def test_sigterm_under_load_flushes_and_exits_cleanly(
    tmp_path: Path, start_eddy: Callable[..., EddyProcess]
) -> None:
    data_dir = tmp_path / "data"
    eddy = start_eddy(data_dir)
    site_id, key = secret_key(eddy.url)
    signalled = time.monotonic() + KILL_AFTER_S
    acked, sent = load_then_signal(eddy, key, signal.SIGTERM)
    assert eddy.wait(30) == 0, eddy.log()
    exit_s = time.monotonic() - signalled
    rows = stored_ids(data_dir, site_id)
    stored = set(rows)
    figures.record(
        "sigterm",
        {
            "sent": len(sent),
            "acknowledged": len(acked),
            "stored": len(stored),
            "duplicated": len(rows) - len(stored),
            "acknowledged_but_lost": len(acked - stored),
            "exit_after_signal_s": round(exit_s, 2),
        },
    )
    assert len(rows) == len(stored)
    assert acked <= stored <= sent
