"""RFC 6455 framing, sans-I/O: bytes in → frames and messages out; frames → bytes. The one websocket
codec of Eddy: the server (`web/websocket.py`) and every client that speaks websocket by hand (the
test clients in tests/support/live.py, the load clients of bench/) use it; none reads or writes a socket
here.

Reading: a `Decoder` per connection and direction is fed whatever bytes arrived (`feed`); `next_frame`
returns whole frames and checks what a frame header alone decides (reserved bits, masking, opcodes,
control frames short and whole, the message size limit announced by a header before its payload is
buffered); `next_event` adds the message rules on top (fragments assembled, at most MAX_FRAGMENTS per
message, a continuation only inside a message, text decoded as UTF-8, close codes and reasons as RFC 6455
7.4 allows). A broken rule raises `ProtocolError` with the close code to send. Every frame is one event
(a data frame that does not end its message is a FRAGMENT), so a caller can bound frames per second.

Writing: `encode_frame` (server frames unmasked, client frames with a mask), `text_frame` (the server's,
cached for fan-out), `close_payload`; the handshake's values: `check_upgrade` (server), `upgrade_request`
and `upgrade_accepted` (client).

Why not a library codec (issue 19; figures in BENCHMARKS.md, "Websocket codec"): measured with
`python -m bench.ws_codec_memory`, 10,000 connections in the state of an idle dashboard, each the server's
`WebSocket` holding its codec: with this `Decoder` 288 bytes per connection; websockets' `ServerProtocol`
adds 3.9 KiB to that and wsproto's `WSConnection` 4.4 KiB, 2.2x the 3.4 KiB an idle dashboard socket
costs in all on the real server (10,000 of them: +38-44 MB). The bare frame layers add less (websockets'
`Protocol` 1.3 KiB, wsproto's `FrameProtocol` 0.7 KiB) but decode slower (1.4x and 5x the server's whole
path per frame), wsproto's with no message size limit, and either would still need the fragment cap and
frame budget built around it. So the hand framing stays, in this one module.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import struct
from collections.abc import Mapping
from typing import Any

from web.tornado_private import websocket_mask

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FRAGMENT = -1  # event kind: a data frame that does not end its message
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
MAX_CONTROL_PAYLOAD = 125
MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, two of them the code
MAX_FRAGMENTS = 128  # frames of one message (browsers send one; chunking clients a few per message)
# Close codes a peer may send (RFC 6455 7.4 and the IANA registry): 1004-1006 and 1015 are reserved,
# 1016-2999 unassigned, under 1000 and from 5000 not used.
SENDABLE_CLOSE_CODES = frozenset((*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)))
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")

Frame = tuple[bool, int, bytes]  # (fin, opcode, unmasked payload)
Event = tuple[int, Any]  # (OP_TEXT, str), (OP_BINARY | OP_PING | OP_PONG, bytes), (OP_CLOSE, (code, reason))


class ProtocolError(Exception):
    """The peer broke RFC 6455 (or a bound): close the connection with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class HandshakeError(Exception):
    """The request is no acceptable websocket upgrade; answer it with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# writing --------------------------------------------------------------------------------------------------
def frame_header(opcode: int, length: int, *, fin: bool = True, masked: bool = False, rsv: int = 0) -> bytes:
    """The header of a frame of `length` payload bytes (the mask key, if any, follows it)."""
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 65536:
        return bytes((first, mask_bit | 126)) + _U16.pack(length)
    return bytes((first, mask_bit | 127)) + _U64.pack(length)


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame: unmasked (a server's) without `mask`, else masked with that 4-byte key (a client's)."""
    header = frame_header(opcode, len(payload), fin=fin, masked=mask is not None)
    if mask is None:
        return header + payload
    return header + mask + websocket_mask(mask, payload)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One client frame, masked with a fresh random key as RFC 6455 asks."""
    return encode_frame(opcode, payload, fin=fin, mask=os.urandom(4))


@functools.lru_cache(maxsize=32)
def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked server text frame. Cached: a tick fanned out to many sockets is the
    same string object, framed once."""
    return encode_frame(OP_TEXT, text.encode())


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the status code and a reason cut to fit (at a character boundary)."""
    encoded = reason.encode()[:MAX_REASON_BYTES]
    return _U16.pack(code) + encoded.decode(errors="ignore").encode()


def close_frame(code: int, reason: str = "") -> bytes:
    """A server close frame."""
    return encode_frame(OP_CLOSE, close_payload(code, reason))


PING_FRAME = encode_frame(OP_PING, b"")


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """(code, reason) of a close frame's payload, (None, "") when it has none; ProtocolError when RFC
    6455 forbids it (one byte, a code a peer may not send, a reason that is not UTF-8)."""
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "malformed close frame")
    code = _U16.unpack_from(payload)[0]
    if code not in SENDABLE_CLOSE_CODES:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a close code a peer may not send")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_DATA, "close reasons must be UTF-8") from None


# the handshake ----------------------------------------------------------------------------------------------
def accept_key(key: str) -> str:
    """The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID, usedforsecurity=False).digest()).decode()


def check_upgrade(headers: Mapping[str, str]) -> str:
    """The `Sec-WebSocket-Accept` for a valid upgrade request's headers; HandshakeError otherwise."""
    if headers.get("Upgrade", "").lower() != "websocket":
        raise HandshakeError(400, 'Can "Upgrade" only to "WebSocket".')
    if "upgrade" not in {part.strip().lower() for part in headers.get("Connection", "").split(",")}:
        raise HandshakeError(400, '"Connection" must be "Upgrade".')
    if headers.get("Sec-WebSocket-Version") != "13":
        raise HandshakeError(426, "Only websocket version 13 is supported.")
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HandshakeError(400, "Missing or invalid Sec-WebSocket-Key.")
    return accept_key(key)


def new_key() -> str:
    """A fresh `Sec-WebSocket-Key`."""
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_request(host: str, target: str, key: str, headers: Mapping[str, str] | None = None) -> bytes:
    """A client's upgrade request for `target` (path and query) on `host`."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def upgrade_accepted(head: bytes, key: str) -> bool:
    """Whether a response head (through its blank line) accepts the upgrade made with `key`: status 101
    and the matching `Sec-WebSocket-Accept`."""
    lines = head.decode("latin1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        return False
    wanted = accept_key(key)
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-accept":
            return value.strip() == wanted
    return False


# reading ----------------------------------------------------------------------------------------------------
class Decoder:
    """The frames of one direction of one connection: bytes in (`feed`), frames (`next_frame`) or events
    (`next_event`) out. `masked`: frames must carry a mask (a server reading a client) or must not (a
    client reading a server). Holds no bytes between whole frames, so an idle connection costs only the
    object itself."""

    __slots__ = ("_buffer", "_fragment_bytes", "_fragment_op", "_fragments", "_pos", "masked", "max_message")

    def __init__(self, *, masked: bool, max_message: int = 64 * 1024) -> None:
        self.masked = masked
        self.max_message = max_message
        self._buffer: bytes | bytearray = b""
        self._pos = 0
        self._fragments: list[bytes] | None = None
        self._fragment_op = 0
        self._fragment_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as frames."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        """Bytes as they arrived."""
        buffer, pos = self._buffer, self._pos
        if pos >= len(buffer):
            self._buffer, self._pos = data, 0
        elif isinstance(buffer, bytearray):
            # A frame in many pieces: appending is amortised, so a trickle costs linear time.
            if pos:
                del buffer[:pos]
                self._pos = 0
            buffer += data
        else:
            grown = bytearray(buffer[pos:])
            grown += data
            self._buffer, self._pos = grown, 0

    def clear(self) -> None:
        """Drop what is buffered and any message in progress."""
        self._buffer, self._pos = b"", 0
        self._fragments = None
        self._fragment_bytes = 0

    def next_frame(self) -> Frame | None:
        """The next whole frame, None until one has arrived. Raises ProtocolError on what its header
        alone breaks, as soon as the header is there (an oversized message before its payload)."""
        buf, pos = self._buffer, self._pos
        available = len(buf) - pos
        if available < 2:
            return None
        first, second = buf[pos], buf[pos + 1]
        opcode, length, head = first & 0x0F, second & 0x7F, 2
        if first & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if bool(second & 0x80) != self.masked:
            who = "client frames must be masked" if self.masked else "server frames must not be masked"
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, who)
        if length == 126:
            if available < 4:
                return None
            (length,) = _U16.unpack_from(buf, pos + 2)
            head = 4
        elif length == 127:
            if available < 10:
                return None
            (length,) = _U64.unpack_from(buf, pos + 2)
            head = 10
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "unknown opcode")
            if not first & 0x80 or length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frames are short and whole")
        elif opcode > OP_BINARY:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "unknown opcode")
        elif self._fragment_bytes + length > self.max_message:
            raise ProtocolError(CLOSE_TOO_BIG, "message too big")
        start = pos + head + 4 if self.masked else pos + head
        end = start + length
        if len(buf) < end:
            return None
        payload = buf[start:end]
        if self.masked:
            mask = buf[start - 4 : start]
            if isinstance(buf, bytearray):  # the C masking takes read-only bytes only
                mask, payload = bytes(mask), bytes(payload)
            payload = websocket_mask(mask, payload)
        elif isinstance(buf, bytearray):
            payload = bytes(payload)
        if end == len(buf):
            self._buffer, self._pos = b"", 0  # release the chunk: an idle connection holds no bytes
        else:
            self._pos = end
        return bool(first & 0x80), opcode, payload

    def next_event(self) -> Event | None:
        """The next frame as an event (see `Event`; FRAGMENT for a data frame that does not end its
        message), None until a whole frame has arrived. Raises ProtocolError on a broken rule."""
        frame = self.next_frame()
        if frame is None:
            return None
        fin, opcode, payload = frame
        if opcode >= OP_CLOSE:
            return (OP_CLOSE, parse_close(payload)) if opcode == OP_CLOSE else (opcode, payload)
        fragments = self._fragments
        if opcode == OP_CONTINUATION:
            if fragments is None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
            if len(fragments) >= MAX_FRAGMENTS:
                raise ProtocolError(CLOSE_TOO_BIG, "message in too many fragments")
            fragments.append(payload)
            # a running sum: a message costs time linear in its frames, however many there are
            self._fragment_bytes += len(payload)
            if not fin:
                return FRAGMENT, None
            opcode, payload = self._fragment_op, b"".join(fragments)
            self._fragments, self._fragment_bytes = None, 0
        elif fragments is not None:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one")
        elif not fin:
            self._fragments, self._fragment_bytes, self._fragment_op = [payload], len(payload), opcode
            return FRAGMENT, None
        if opcode == OP_TEXT:
            try:
                return OP_TEXT, payload.decode()
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "text messages must be UTF-8") from None
        return OP_BINARY, payload
