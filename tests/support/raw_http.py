"""HTTP spoken over a plain socket, for requests an HTTP client would not send (or would fix)."""

from __future__ import annotations

import asyncio
import contextlib


async def raw_exchange(port: int, request: bytes, body_chunks: int = 0) -> bytes:
    """Send raw bytes, then read the answer until the server closes or 5 s pass."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=5)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                    break
        return data
    finally:
        writer.close()
