"""Websocket floods against a real `run.py` process (rows H1 and H2 of RELIABILITY.md): how long
`/healthz` stalls while one unauthenticated client sends a text frame with FIN=0 and then N empty
continuation frames, and how the server's RSS grows under a ping flood from a client that never reads.

Usage: python -m bench.ws_floods [--frames 24000] [--ping-seconds 4]
Prints one JSON object. Not part of `python -m bench` (it measures an attack, not a speed target).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.eddy_process import EddyProcess
from web import ws_codec
from web.ws_codec import OP_CONTINUATION, OP_PING, OP_TEXT, client_frame


def _upgrade(port: int, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    key = ws_codec.new_key()
    sock.sendall(ws_codec.upgrade_request(f"127.0.0.1:{port}", "/ws/live?site_id=abc", key))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert ws_codec.upgrade_accepted(head, key), head
    return sock


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fragment_flood(port: int, frames: int) -> dict[str, Any]:
    """The worst /healthz latency while the flood is read, and whether the socket was closed."""
    worst = 0.0
    done = threading.Event()

    def probe() -> None:
        nonlocal worst
        while not done.is_set():
            start = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60) as answer:
                answer.read()
            worst = max(worst, time.perf_counter() - start)
            time.sleep(0.01)

    sock = _upgrade(port)
    prober = threading.Thread(target=probe)
    prober.start()
    flood = client_frame(OP_TEXT, b"{", fin=False) + client_frame(OP_CONTINUATION, b"", fin=False) * frames
    started = time.perf_counter()
    closed_with = None
    try:
        sock.sendall(flood)
        sock.settimeout(30)
        decoder = ws_codec.Decoder(masked=False)
        decoder.feed(sock.recv(64))
        frame = decoder.next_frame()
        if frame is not None and frame[1] == ws_codec.OP_CLOSE:
            closed_with = ws_codec.parse_close(frame[2])[0]
    except OSError:
        pass
    elapsed = time.perf_counter() - started
    time.sleep(0.5)
    done.set()
    prober.join()
    sock.close()
    return {
        "frames": frames,
        "bytes": len(flood),
        "healthz_worst_s": round(worst, 3),
        "answer_s": round(elapsed, 3),
        "closed_with": closed_with,
    }


def ping_flood(port: int, pid: int, seconds: float) -> dict[str, Any]:
    """RSS before and after `seconds` of 125-byte pings from a client that never reads."""
    before = _rss_mib(pid)
    sock = _upgrade(port, receive_buffer=4096)
    sock.settimeout(0.5)
    chunk = client_frame(OP_PING, b"p" * 125) * 500
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except TimeoutError:
            continue  # the server stopped reading; keep trying until the time is up
        except OSError:
            break
    after = _rss_mib(pid)
    sock.close()
    return {
        "seconds": seconds,
        "sent_mib": round(sent / 2**20, 1),
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(after, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24_000)
    parser.add_argument("--ping-seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        eddy = EddyProcess(Path(data_dir), env={"EDDY_LOG_LEVEL": "WARNING"}).start()
        try:
            assert eddy.process is not None
            result = {
                "fragment_flood": fragment_flood(eddy.port, args.frames),
                "ping_flood": ping_flood(eddy.port, eddy.process.pid, args.ping_seconds),
            }
        finally:
            eddy.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
