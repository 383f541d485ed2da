"""Websocket load client, run in its own process: CONNECTIONS streams each sending `{id, events}`
messages of EVENTS events, keeping WINDOW messages awaiting their ack (the tracker, too, sends without
waiting; the server reads at most its MAX_IN_FLIGHT ahead). Prints one JSON line: messages, events,
seconds, the client's CPU seconds, and ack latencies in ms (sampled).

The client speaks RFC 6455 itself on an asyncio Protocol (masked frames with a fresh random key each,
unmasked answers read straight from the buffer): it shares the machine with the server it measures, so
it should cost as little CPU as wrk does for the HTTP rows. A general websocket client spent ~5 µs of
CPU per event here, a quarter of a core at the rates measured.

Usage: python -m bench.ingest_support.ws_client URL KEY CONNECTIONS EVENTS SECONDS PREFIX [WINDOW]"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from urllib.parse import urlsplit

import orjson
import uvloop
from tornado.speedups import websocket_mask

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def text_frame(payload: bytes) -> bytes:
    """One final, masked text frame."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    elif size < 65536:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return header + mask + websocket_mask(mask, payload)


class Stream(asyncio.Protocol):
    """One connection: upgrade, then keep `window` messages awaiting their ack until `until`."""

    def __init__(self, request: bytes, events: int, until: float, prefix: str, out: dict, window: int):
        self.request = request
        self.events = events
        self.until = until
        self.prefix = prefix
        self.out = out
        self.window = window
        self.buffer = bytearray()
        self.upgraded = False
        self.number = 0
        self.sent_at: dict[int, float] = {}
        self.template = [
            {"name": "pageview", "url": "https://load.example/p", "id": ""} for _ in range(events)
        ]
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def send_next(self) -> None:
        number = self.number
        for i, event in enumerate(self.template):
            event["id"] = f"{self.prefix}-{number}-{i}"
        self.sent_at[number] = time.perf_counter()
        self.transport.write(text_frame(orjson.dumps({"id": number, "events": self.template})))
        self.number += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                raise SystemExit(f"upgrade refused: {bytes(self.buffer[:200])!r}")
            del self.buffer[: end + 4]
            self.upgraded = True
            for _ in range(self.window):
                self.send_next()
        self.read_frames()

    def read_frames(self) -> None:
        buffer = self.buffer
        start = 0
        while len(buffer) - start >= 2:
            opcode, size = buffer[start] & 0x0F, buffer[start + 1] & 0x7F
            offset = start + 2
            if size == 126:
                if len(buffer) - offset < 2:
                    break
                size, offset = int.from_bytes(buffer[offset : offset + 2], "big"), offset + 2
            elif size == 127:
                if len(buffer) - offset < 8:
                    break
                size, offset = int.from_bytes(buffer[offset : offset + 8], "big"), offset + 8
            if len(buffer) - offset < size:
                break
            payload = bytes(buffer[offset : offset + size])
            start = offset + size
            if opcode == 0x1:
                self.on_answer(orjson.loads(payload))
            elif opcode == 0x8:
                self.transport.close()
        del buffer[:start]

    def on_answer(self, data: dict) -> None:
        out = self.out
        if "ack" in data:
            started = self.sent_at.pop(data["ack"])
            out["messages"] += 1
            out["events"] += self.events
            if data["ack"] % 4 == 0:
                out["latencies"].append((time.perf_counter() - started) * 1000)
        else:
            out["nacks"] += 1
            self.sent_at.pop(data.get("nack"), None)
        if time.monotonic() < self.until:
            self.send_next()
        elif not self.sent_at:
            self.transport.write(bytes((0x88, 0x82)) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
            self.transport.close()


async def stream(url: str, key: str, events: int, until: float, prefix: str, out: dict, window: int) -> None:
    """One connection sending messages until `until`, then waiting for the last acks."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
        f"X-Api-Key: {key}\r\nUser-Agent: {UA}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: Stream(request, events, until, prefix, out, window), parts.hostname, parts.port
    )
    await protocol.done


async def main(
    url: str, key: str, connections: int, events: int, seconds: float, prefix: str, window: int
) -> None:
    """Run the streams and print the totals."""
    out: dict = {"messages": 0, "events": 0, "nacks": 0, "latencies": []}
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(
        *(stream(url, key, events, until, f"{prefix}{n}", out, window) for n in range(connections))
    )
    out["seconds"] = time.monotonic() - started
    out["cpu_s"] = time.process_time()  # the client's own CPU: it shares the machine with the server
    print(json.dumps(out))


if __name__ == "__main__":
    url, key, connections, events, seconds, prefix = sys.argv[1:7]
    window = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    uvloop.run(main(url, key, int(connections), int(events), float(seconds), prefix, window))
