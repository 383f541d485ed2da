"""Delivery delay of the SQLite bus (storage/embedded/sqlite_bus.py) between two processes on one data
dir: one publishes a timestamped message every `--gap-ms`, the other measures publish-to-callback time.

Usage: python bench/bus_delay.py [--messages 500] [--gap-ms 5]
Prints one JSON object (milliseconds). Not part of `python -m bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.embedded.sqlite_bus import SqliteBus


def _receiver(data_dir: str, count: int, ready: object, out: object) -> None:
    async def main() -> list[float]:
        bus = SqliteBus(Path(data_dir))
        await bus.open()
        delays: list[float] = []
        done = asyncio.Event()

        def on_message(_channel: str, data: bytes) -> None:
            delays.append((time.time() - struct.unpack("!d", data)[0]) * 1000)
            if len(delays) >= count:
                done.set()

        await bus.subscribe("bench", on_message)
        ready.set()  # type: ignore[attr-defined]
        await asyncio.wait_for(done.wait(), 120)
        await bus.close()
        return delays

    out.put(asyncio.run(main()))  # type: ignore[attr-defined]


async def _publish(data_dir: str, count: int, gap_s: float) -> None:
    bus = SqliteBus(Path(data_dir))
    await bus.open()
    for _ in range(count):
        await bus.publish("bench", struct.pack("!d", time.time()))
        await asyncio.sleep(gap_s)
    await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        context = multiprocessing.get_context("spawn")
        ready, out = context.Event(), context.Queue()
        receiver = context.Process(target=_receiver, args=(data_dir, args.messages, ready, out))
        receiver.start()
        ready.wait(30)
        asyncio.run(_publish(data_dir, args.messages, args.gap_ms / 1000))
        delays = sorted(out.get(timeout=120))
        receiver.join(10)

    def pick(q: float) -> float:
        return round(delays[min(len(delays) - 1, int(q * len(delays)))], 2)

    print(
        json.dumps(
            {
                "messages": len(delays),
                "p50_ms": pick(0.5),
                "p90_ms": pick(0.9),
                "p99_ms": pick(0.99),
                "max_ms": round(delays[-1], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
