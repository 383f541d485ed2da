"""Websocket load client, run in its own process: CONNECTIONS streams each sending `{id, events}`
messages of EVENTS events, keeping WINDOW messages awaiting their ack (the tracker, too, sends without
waiting; the server reads at most its MAX_IN_FLIGHT ahead). Prints one JSON line: messages, events,
seconds, the client's CPU seconds, and ack latencies in ms (sampled).

The client speaks RFC 6455 on an asyncio Protocol with Eddy's own sans-I/O codec (web/ws_codec.py:
masked frames with a fresh random key each, the server's unmasked answers decoded from the bytes as they
arrive): it shares the machine with the server it measures, so it should cost as little CPU as wrk does
for the HTTP rows. A general websocket client spent ~5 µs of CPU per event here, a quarter of a core at
the rates measured.

Usage: python -m bench.ingest_support.ws_client URL KEY CONNECTIONS EVENTS SECONDS PREFIX [WINDOW]"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import uvloop

from web import ws_codec

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@dataclass(eq=False)
class Stream(asyncio.Protocol):
    """One connection: upgrade, then keep `window` messages awaiting their ack until `until`."""

    request: bytes
    key: str
    events: int
    until: float
    prefix: str
    out: dict
    window: int

    def __post_init__(self) -> None:
        self.buffer = bytearray()  # the upgrade answer, until its blank line
        self.decoder: ws_codec.Decoder | None = None  # once upgraded
        self.number = 0
        self.sent_at: dict[int, float] = {}
        self.template = [
            {"name": "pageview", "url": "https://load.example/p", "id": ""} for _ in range(self.events)
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
        payload = orjson.dumps({"id": number, "events": self.template})
        self.transport.write(ws_codec.client_frame(ws_codec.OP_TEXT, payload))
        self.number += 1

    def data_received(self, data: bytes) -> None:
        decoder = self.decoder
        if decoder is None:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not ws_codec.upgrade_accepted(bytes(self.buffer[: end + 4]), self.key):
                raise SystemExit(f"upgrade refused: {bytes(self.buffer[:200])!r}")
            decoder = self.decoder = ws_codec.Decoder(masked=False, max_message=1 << 20)
            data = bytes(self.buffer[end + 4 :])
            self.buffer.clear()
            for _ in range(self.window):
                self.send_next()
        decoder.feed(data)
        while (frame := decoder.next_frame()) is not None:
            opcode, payload = frame[1], frame[2]
            if opcode == ws_codec.OP_TEXT:
                self.on_answer(orjson.loads(payload))
            elif opcode == ws_codec.OP_CLOSE:
                self.transport.close()

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
            self.transport.write(ws_codec.client_frame(ws_codec.OP_CLOSE, ws_codec.close_payload(1000)))
            self.transport.close()


async def stream(url: str, key: str, events: int, until: float, prefix: str, out: dict, window: int) -> None:
    """One connection sending messages until `until`, then waiting for the last acks."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    ws_key = ws_codec.new_key()
    request = ws_codec.upgrade_request(parts.netloc, target, ws_key, {"X-Api-Key": key, "User-Agent": UA})
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: Stream(request, ws_key, events, until, prefix, out, window), parts.hostname, parts.port
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
