"""The compactor's own process: `python -m storage.embedded.columnar.compactor_process DATA_DIR INTERVAL_S
PARENT_PID`.

Each serving process of the embedded store starts one (see `SqliteEventStore.open`). Compaction turns log
rows into Python objects and Arrow columns, and DuckDB sorts and writes them: in the serving process that
work would hold the GIL away from the IOLoop and leave DuckDB's memory in the server's RSS. Here it costs the
server nothing. The processes of one data dir take turns through the compactor lock; each exits on SIGTERM
(after its current pass) or as soon as the process that started it is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from storage.embedded.columnar.compactor import Compactor
from storage.embedded.columnar.segments import SegmentDir

log = logging.getLogger("eddy.compactor")
ROOT = Path(__file__).resolve().parents[3]


def spawn(data_dir: Path, interval_s: float) -> subprocess.Popen[bytes]:
    """Start the compactor process for a data dir (its output goes to this process's stderr)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, no outside input
        [
            sys.executable,
            "-m",
            "storage.embedded.columnar.compactor_process",
            str(data_dir),
            str(interval_s),
            str(os.getpid()),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Ask the compactor process to finish its pass and exit; kill it past `timeout_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    """Compact every `interval_s` until SIGTERM or until the parent process is gone."""
    from storage.embedded.events import WriteLock  # the log's lock: deletes take turns with appends

    logging.basicConfig(
        level=os.environ.get("EDDY_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    data_dir, interval_s = Path(argv[0]), float(argv[1])
    # The server's pid comes from the server: read here with getppid(), it would already be 1 (init) when
    # the server died while this process was still starting, and it would then never notice.
    parent = int(argv[2])
    # SIGTERM/SIGINT stay blocked and are taken with sigtimedwait between passes: the wait between passes
    # ends the moment one arrives (a handler would not do: since PEP 475 time.sleep resumes after a handler
    # and slept out the whole interval, so every stop took up to `interval_s`), and one that lands during a
    # pass waits, pending, until the pass is done. Blocked before any thread starts, so every thread
    # (DuckDB's included) inherits the mask and none of them takes the signal instead.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    lock = WriteLock(data_dir / "events.db.lock")
    compactor = Compactor(data_dir / "events.db", SegmentDir(data_dir / "segments"), lock)
    compactor.start()
    try:
        while True:
            if signal.sigtimedwait(stop_signals, interval_s) is not None:
                break
            if os.getppid() != parent:  # stopped, or the server died (even by kill -9)
                break
            try:
                compactor.run(compactor.compact, wait=False)
                compactor.run(compactor.roll_up, wait=False)
            except Exception:
                compactor.failures += 1
                log.exception("compaction pass failed")
    finally:
        compactor.stop()
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
