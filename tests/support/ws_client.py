"""A minimal websocket client over a plain socket, on Eddy's own codec (web/ws_codec.py): the tests'
raw client (it reads only when asked, so it can play a slow consumer or vanish mid-message) and the
dashboards of bench/live.py. Imports nothing of the server but the codec, so client processes start fast."""

from __future__ import annotations

import asyncio
import socket
import struct

from web import ws_codec

MAX_SERVER_MESSAGE = 16 * 1024 * 1024  # a snapshot of a busy site is far below this
READ_CHUNK = 4096  # small reads: what is not asked for stays in the socket (a slow consumer stays slow)


class RawWebSocket:
    """A minimal websocket client over a plain socket, on Eddy's own codec (web/ws_codec.py): it
    reads only when asked, so it can play a slow consumer or vanish mid-message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wrap an upgraded connection (`connect` makes one)."""
        self.reader = reader
        self.writer = writer
        self.decoder = ws_codec.Decoder(masked=False, max_message=MAX_SERVER_MESSAGE)

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str,
        *,
        receive_buffer: int | None = None,
        headers: dict[str, str] | None = None,
        local_address: str | None = None,
        stream_limit: int = 1024,
    ) -> RawWebSocket:
        """Upgrade a new connection to `path` on 127.0.0.1:`port`; `receive_buffer` shrinks the socket's
        receive buffer (so the server's writes back up soon), `local_address` binds the client's end,
        `stream_limit` is the StreamReader's (reading from the socket pauses past twice that)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connect, so the advertised window stays small and the server's writes back up.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        if local_address is not None:
            sock.bind((local_address, 0))
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock, limit=stream_limit)
        key = ws_codec.new_key()
        writer.write(ws_codec.upgrade_request(f"127.0.0.1:{port}", path, key, headers))
        head = await reader.readuntil(b"\r\n\r\n")
        if not ws_codec.upgrade_accepted(head, key):
            writer.close()
            status = head.split(b"\r\n", 1)[0].decode("latin1")
            raise ConnectionError(f"upgrade refused: {status}")
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        """One masked text frame, flushed."""
        self.writer.write(ws_codec.client_frame(ws_codec.OP_TEXT, text.encode()))
        await self.writer.drain()

    async def read_frame(self, timeout: float | None = 5.0) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (the server never fragments these small messages);
        IncompleteReadError when the connection ends first. `timeout` None: wait as long as it takes."""

        async def read() -> tuple[int, bytes]:
            while (frame := self.decoder.next_frame()) is None:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
                self.decoder.feed(data)
            return frame[1], frame[2]

        if timeout is None:
            return await read()  # no wait_for: it would start a task per frame
        return await asyncio.wait_for(read(), timeout)

    async def read_close_code(self, timeout: float = 10.0) -> int:
        """Skip data frames up to the close frame; its status code."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            opcode, payload = await self.read_frame(deadline - asyncio.get_running_loop().time())
            if opcode == ws_codec.OP_CLOSE:
                return int.from_bytes(payload[:2], "big")

    def abort(self) -> None:
        """Vanish: reset the connection without a closing handshake."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
