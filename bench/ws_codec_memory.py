"""What a websocket codec costs per idle connection: Eddy's own framing (web/ws_codec.py, inside the
server's `WebSocket`) against the sans-I/O codecs of wsproto and websockets, each in the state an idle
dashboard leaves it in (upgraded, one text message received: the token).

Every variant keeps the server's `WebSocket` object (keepalive fields, backlog pacing: what any codec
would sit behind), a library's codec object taking the place of Eddy's `Decoder` in it. Measured two
ways, each variant in a fresh interpreter:
- tracemalloc: bytes still allocated per connection once COUNT connections are built and fed;
- RSS: the process's resident set before and after building them (what the 10k idle-socket figure of
  BENCHMARKS.md measures, less the transports, which are the same for every variant).
It also times decoding one masked 200-byte text frame handed over alone (the hot path of `/ws/collect`
and of a dashboard's messages): for Eddy the server's whole `data_received` (frame budget, read pacing,
the message handed to `on_text`), for the libraries their decoding alone.

wsproto and websockets are not Eddy dependencies: the variants whose library is missing are skipped.
Install them outside the project venv, e.g. `pip install --target /tmp/wsm wsproto websockets`, then
`PYTHONPATH=/tmp/wsm python -m bench.ws_codec_memory [--count 10000]`. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web import ws_codec
from web.websocket import Keepalive, WebSocket

TOKEN_MESSAGE = b'{"token": "' + b"t" * 180 + b'"}'  # about the size of an access-token message
UPGRADE = ws_codec.upgrade_request("127.0.0.1", "/ws/live?site_id=abc", ws_codec.new_key())


class _Transport:
    """One shared stand-in for the event loop's transport (the same for every variant: not measured)."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        raise AssertionError("the codec refused a valid frame")


TRANSPORT = _Transport()
KEEPALIVE = Keepalive()


def _frame() -> bytes:
    return ws_codec.client_frame(ws_codec.OP_TEXT, TOKEN_MESSAGE)


def _socket(codec: Any) -> WebSocket:
    """The server's socket object, with a library's codec in place of its own `Decoder` (None: its own)."""
    ws = WebSocket(KEEPALIVE, frame_rate=1e9)  # the decode timing sends 20,000 frames at once
    ws.transport = TRANSPORT  # type: ignore[assignment]
    if codec is not None:
        ws.decoder = codec
    return ws


# Each variant: build one connection's state (the server's WebSocket, holding the variant's codec in
# its `decoder` slot), and hand it one chunk of bytes, returning how many events came out.
def _eddy() -> Any:
    return _socket(None)


def _eddy_receive(state: Any, chunk: bytes) -> int:
    state.data_received(chunk)
    return 1


def _wsproto() -> Any:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    conn = WSConnection(ConnectionType.SERVER)
    conn.receive_data(UPGRADE)
    for event in conn.events():
        if isinstance(event, Request):
            conn.send(AcceptConnection())
    return _socket(conn)


def _wsproto_receive(state: Any, chunk: bytes) -> int:
    state.decoder.receive_data(chunk)
    return len(list(state.decoder.events()))


def _wsproto_frames() -> Any:
    # The frame layer alone: Tornado keeps answering the upgrade, as it does for Eddy's own framing.
    from wsproto.frame_protocol import FrameProtocol

    return _socket(FrameProtocol(client=False, extensions=[]))


def _wsproto_frames_receive(state: Any, chunk: bytes) -> int:
    state.decoder.receive_bytes(chunk)
    return len(list(state.decoder.received_frames()))


def _websockets() -> Any:
    from websockets.server import ServerProtocol

    protocol = ServerProtocol(max_size=64 * 1024)
    protocol.receive_data(UPGRADE)
    [request] = protocol.events_received()
    protocol.send_response(protocol.accept(request))
    protocol.data_to_send()
    return _socket(protocol)


def _websockets_protocol() -> Any:
    from websockets.protocol import Protocol, Side, State

    return _socket(Protocol(Side.SERVER, state=State.OPEN, max_size=64 * 1024))


def _websockets_receive(state: Any, chunk: bytes) -> int:
    state.decoder.receive_data(chunk)
    return len(state.decoder.events_received())


VARIANTS: dict[str, tuple[Callable[[], Any], Callable[[Any, bytes], int]]] = {
    "eddy": (_eddy, _eddy_receive),
    "wsproto": (_wsproto, _wsproto_receive),
    "wsproto-frames": (_wsproto_frames, _wsproto_frames_receive),
    "websockets": (_websockets, _websockets_receive),
    "websockets-protocol": (_websockets_protocol, _websockets_receive),
}


def _idle(variant: str) -> Any:
    """One connection as an idle dashboard leaves it: upgraded, its token message received."""
    build, receive = VARIANTS[variant]
    state = build()
    if receive(state, _frame()) != 1:
        raise AssertionError(f"{variant} did not decode the token message")
    return state


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _decode_us(variant: str, frames: int) -> float:
    """Microseconds to decode one masked text frame handed over alone."""
    state = _idle(variant)
    receive = VARIANTS[variant][1]
    data = [_frame() for _ in range(frames)]
    started = time.perf_counter()
    for chunk in data:
        receive(state, chunk)
    return (time.perf_counter() - started) / frames * 1e6


def measure(variant: str, count: int) -> dict[str, Any]:
    """One variant in this interpreter: bytes per connection (tracemalloc, then RSS) and decode time."""
    _idle(variant)  # imports and caches first
    gc.collect()
    rss_before = _rss_kib()
    kept = [_idle(variant) for _ in range(count)]
    gc.collect()
    rss_after = _rss_kib()
    del kept
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = [_idle(variant) for _ in range(count)]
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - base - sys.getsizeof(kept)
    tracemalloc.stop()
    del kept
    return {
        "variant": variant,
        "connections": count,
        "bytes_per_connection": round(traced / count),
        "rss_kib_per_connection": round((rss_after - rss_before) / count, 2),
        "decode_us_per_frame": round(_decode_us(variant, 20_000), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--variant", choices=list(VARIANTS), help="measure one variant here")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args.count)))
        return
    rows = []
    for variant in VARIANTS:
        done = subprocess.run(
            [sys.executable, "-m", "bench.ws_codec_memory", "--variant", variant, "--count", str(args.count)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            rows.append({"variant": variant, "skipped": done.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(done.stdout))
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
