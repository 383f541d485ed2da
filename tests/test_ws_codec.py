"""The websocket codec (web/ws_codec.py) without a socket: bytes in, frames and events out, in any
split of the bytes; the header rules; the message rules and bounds (fragments, size, UTF-8, close codes);
and the handshake values against RFC 6455's own example. The same rules over real sockets against the
server are tests/live/test_websocket_framing.py and test_websocket_floods.py."""

from __future__ import annotations

import pytest

from web import ws_codec
from web.ws_codec import (
    FRAGMENT,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Decoder,
    ProtocolError,
    client_frame,
    encode_frame,
)


def _events(decoder: Decoder) -> list[ws_codec.Event]:
    out = []
    while (event := decoder.next_event()) is not None:
        out.append(event)
    return out


def _server() -> Decoder:
    return Decoder(masked=True, max_message=1000)


def test_any_split_of_the_bytes_gives_the_same_events() -> None:
    stream = (
        client_frame(OP_TEXT, "héllo".encode())
        + client_frame(OP_PING, b"p")
        + client_frame(OP_TEXT, b"x" * 300)  # a 16-bit length
        + client_frame(OP_BINARY, b"ab", fin=False)
        + client_frame(OP_CONTINUATION, b"cd")
        + client_frame(OP_CLOSE, ws_codec.close_payload(1000, "bye"))
    )
    expected = [
        (OP_TEXT, "héllo"),
        (OP_PING, b"p"),
        (OP_TEXT, "x" * 300),
        (FRAGMENT, None),
        (OP_BINARY, b"abcd"),
        (OP_CLOSE, (1000, "bye")),
    ]
    whole = _server()
    whole.feed(stream)
    assert _events(whole) == expected
    for size in (1, 2, 3, 7, 64):
        decoder, seen = _server(), []
        for start in range(0, len(stream), size):
            decoder.feed(stream[start : start + size])
            seen.extend(_events(decoder))
        assert seen == expected, size
        assert decoder.buffered == 0


def test_an_idle_decoder_holds_no_bytes() -> None:
    second = client_frame(OP_TEXT, b"[]")
    decoder = _server()
    decoder.feed(client_frame(OP_TEXT, b"{}") + second[:3])
    assert _events(decoder) == [(OP_TEXT, "{}")]
    assert decoder.buffered == 3  # half a frame waits
    decoder.feed(second[3:])
    assert _events(decoder) == [(OP_TEXT, "[]")]
    assert decoder.buffered == 0 and decoder._buffer == b""


def test_a_client_reads_unmasked_server_frames() -> None:
    decoder = Decoder(masked=False)
    decoder.feed(ws_codec.text_frame("tick") + ws_codec.PING_FRAME + ws_codec.close_frame(4401, "no"))
    assert [decoder.next_frame() for _ in range(3)] == [
        (True, OP_TEXT, b"tick"),
        (True, OP_PING, b""),
        (True, OP_CLOSE, ws_codec.close_payload(4401, "no")),
    ]
    with pytest.raises(ProtocolError, match="must not be masked"):
        decoder.feed(client_frame(OP_TEXT, b"x"))
        decoder.next_frame()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (encode_frame(OP_TEXT, b"{}"), 1002),  # unmasked
        (ws_codec.frame_header(OP_TEXT, 0, masked=True, rsv=0x40) + b"\0\0\0\0", 1002),
        (client_frame(0x3, b""), 1002),
        (client_frame(0xB, b""), 1002),
        (client_frame(OP_PING, b"", fin=False), 1002),
        (client_frame(OP_PONG, b"x" * 126), 1002),
        (client_frame(OP_CONTINUATION, b"stray"), 1002),
        (client_frame(OP_CLOSE, b"\x03"), 1002),
        (client_frame(OP_CLOSE, (1005).to_bytes(2, "big")), 1002),
        (client_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"\xff"), 1007),
        (client_frame(OP_TEXT, b"\xff\xfe"), 1007),
        (client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"), 1002),
    ],
    ids=[
        "unmasked",
        "reserved-bits",
        "reserved-data-opcode",
        "reserved-control-opcode",
        "fragmented-ping",
        "long-pong",
        "stray-continuation",
        "one-byte-close",
        "close-1005",
        "close-reason-not-utf8",
        "text-not-utf8",
        "new-message-inside-one",
    ],
)
def test_broken_frames_raise_their_close_code(data: bytes, code: int) -> None:
    decoder = _server()
    decoder.feed(data)
    with pytest.raises(ProtocolError) as raised:
        _events(decoder)
    assert raised.value.code == code


def test_an_oversized_message_is_refused_on_its_header_alone() -> None:
    decoder = _server()
    decoder.feed(ws_codec.frame_header(OP_TEXT, 10 * 1024 * 1024, masked=True))  # no payload yet
    with pytest.raises(ProtocolError) as raised:
        decoder.next_event()
    assert raised.value.code == 1009
    # the limit covers a message's fragments together
    decoder = _server()
    decoder.feed(client_frame(OP_TEXT, b"x" * 600, fin=False))
    assert decoder.next_event() == (FRAGMENT, None)
    decoder.feed(ws_codec.frame_header(OP_CONTINUATION, 600, masked=True))
    with pytest.raises(ProtocolError) as raised:
        decoder.next_event()
    assert raised.value.code == 1009


def test_h1_fragments_per_message_are_capped() -> None:
    # MAX_FRAGMENTS frames make a message; one more is refused with 1009 before it is kept.
    empty = client_frame(OP_CONTINUATION, b"", fin=False)
    decoder = _server()
    decoder.feed(
        client_frame(OP_TEXT, b"[", fin=False)
        + empty * (ws_codec.MAX_FRAGMENTS - 2)
        + client_frame(OP_CONTINUATION, b"]")
    )
    events = _events(decoder)
    assert len(events) == ws_codec.MAX_FRAGMENTS and events[-1] == (OP_TEXT, "[]")
    decoder.feed(client_frame(OP_TEXT, b"[", fin=False) + empty * ws_codec.MAX_FRAGMENTS)
    with pytest.raises(ProtocolError) as raised:
        _events(decoder)
    assert raised.value.code == 1009


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1014, 3000, 4999])
def test_close_codes_a_peer_may_send(code: int) -> None:
    assert ws_codec.parse_close(ws_codec.close_payload(code, "ok ✓")) == (code, "ok ✓")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_close_codes_a_peer_may_not_send(code: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        ws_codec.parse_close(code.to_bytes(2, "big"))
    assert raised.value.code == 1002


def test_a_close_reason_is_cut_to_fit_at_a_character_boundary() -> None:
    payload = ws_codec.close_payload(1000, "é" * 100)  # 200 bytes of reason
    assert len(payload) <= 125
    assert ws_codec.parse_close(payload) == (1000, "é" * 61)


def test_frame_lengths_in_each_header_form() -> None:
    for size in (0, 125, 126, 65535, 65536):
        decoder = Decoder(masked=True, max_message=1 << 20)
        decoder.feed(client_frame(OP_BINARY, b"z" * size))
        assert decoder.next_event() == (OP_BINARY, b"z" * size)


def test_the_handshake_values_of_rfc_6455() -> None:
    # The example of RFC 6455 section 1.3.
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert ws_codec.accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    headers = {
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }
    assert ws_codec.check_upgrade(headers) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    for name, value, status in [
        ("Sec-WebSocket-Version", "8", 426),
        ("Sec-WebSocket-Key", "c2hvcnQ=", 400),
        ("Upgrade", "h2c", 400),
        ("Connection", "keep-alive", 400),
    ]:
        with pytest.raises(ws_codec.HandshakeError) as raised:
            ws_codec.check_upgrade({**headers, name: value})
        assert raised.value.status == status
    request = ws_codec.upgrade_request("example.com", "/ws/live?site_id=a", key, {"Origin": "https://a.b"})
    assert (
        request.startswith(b"GET /ws/live?site_id=a HTTP/1.1\r\n") and b"Origin: https://a.b\r\n" in request
    )
    answer = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    assert ws_codec.upgrade_accepted(answer, key)
    assert not ws_codec.upgrade_accepted(answer, ws_codec.new_key())
    assert not ws_codec.upgrade_accepted(b"HTTP/1.1 403 Forbidden\r\n\r\n", key)
