"""Websocket load client, run in its own process: CONNECTIONS streams each sending `{id, events}`
messages of EVENTS events, keeping WINDOW messages awaiting their ack (the tracker, too, sends without
waiting; the server reads at most its MAX_IN_FLIGHT ahead). Prints one JSON line: messages, events,
seconds, the client's CPU seconds, and ack latencies in ms (sampled).

Usage: python -m bench.ingest_support.ws_client URL KEY CONNECTIONS EVENTS SECONDS PREFIX [WINDOW]"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import orjson
import uvloop
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


async def stream(url: str, key: str, events: int, until: float, prefix: str, out: dict, window: int) -> None:
    """One connection sending messages until `until`, then waiting for the last acks."""
    conn = await websocket_connect(HTTPRequest(url, headers={"X-Api-Key": key, "User-Agent": UA}))
    number = 0
    sent_at: dict[int, float] = {}
    template = [{"name": "pageview", "url": "https://load.example/p", "id": ""} for _ in range(events)]

    async def send_next() -> None:
        nonlocal number
        for i, event in enumerate(template):
            event["id"] = f"{prefix}-{number}-{i}"
        sent_at[number] = time.perf_counter()
        await conn.write_message(orjson.dumps({"id": number, "events": template}).decode())
        number += 1

    for _ in range(window):
        await send_next()
    while sent_at:
        answer = await conn.read_message()
        if answer is None:
            break
        data = orjson.loads(answer)
        if "ack" in data:
            started = sent_at.pop(data["ack"])
            out["messages"] += 1
            out["events"] += events
            if data["ack"] % 4 == 0:
                out["latencies"].append((time.perf_counter() - started) * 1000)
        else:
            out["nacks"] += 1
            sent_at.pop(data.get("nack"), None)
        if time.monotonic() < until:
            await send_next()
    conn.close()


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
