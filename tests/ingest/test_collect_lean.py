"""The collect path's two adapters: POST and OPTIONS go to the lean message delegate
(`handlers.collect.CollectRequest`, routed by `handlers/lean_http.py`), every other method to the
Application's `CollectHandler`. Both must answer alike (headers, error shape), record the same latency
metric and access log, and survive what a RequestHandler survives."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import orjson
import pytest

from handlers.base import SECURITY_HEADERS
from handlers.context import AppContext
from tests.ingest.helpers import stored_count, until_stored
from tests.support.api import Api
from tests.support.ingest_sites import BROWSER_UA, ORIGIN, SiteKey, api_site_keys
from tests.support.raw_http import raw_exchange

PATH = "/api/v1/collect"
SHARED = [name for name, _ in SECURITY_HEADERS] + [
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
    "Cache-Control",
    "Content-Type",
]


async def public_key(api: Api) -> SiteKey:
    site = await api_site_keys(api)
    return SiteKey(site.site_id, site.public["id"], site.public["key"])


def raw_beacon(key: SiteKey, url: str) -> bytes:
    """One whole beacon request, as a browser's sendBeacon sends it, in raw HTTP/1.1."""
    body = orjson.dumps({"name": "pageview", "url": url})
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Api-Key: {key.value}\r\n"
        f"Origin: {ORIGIN}\r\nUser-Agent: {BROWSER_UA}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def duration_count(ctx: AppContext, status: str) -> float:
    """How many collect requests the latency histogram has seen with this status class."""
    for metric in ctx.metrics.request_duration.collect():
        for sample in metric.samples:
            if (
                sample.name.endswith("_count")
                and sample.labels.get("handler") == "CollectHandler"
                and sample.labels.get("status") == status
            ):
                return sample.value
    return 0.0


async def test_lean_answers_carry_the_application_headers(api: Api) -> None:
    lean = await api.post(PATH, body=b"{}", headers={"Content-Type": "image/png"})  # 415 from the delegate
    routed = await api.request("DELETE", PATH)  # 405 from CollectHandler in the Application
    assert (lean.status, lean.error_code) == (415, "unsupported_media_type")
    assert (routed.status, routed.error_code) == (405, "method_not_allowed")
    for name in SHARED:
        assert lean.headers.get(name) == routed.headers.get(name), name
    assert "Server" not in lean.headers and lean.headers["Date"]


async def test_lean_route_records_latency_and_access_log(
    api: Api, ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    key = await public_key(api)
    before_ok, before_client = duration_count(ctx, "2xx"), duration_count(ctx, "4xx")
    with caplog.at_level(logging.INFO, logger="eddy.access"):
        ok = await api.post(
            PATH + "?k=" + key.value,
            json={"name": "pageview", "url": "https://shop.example/"},
            headers={"Origin": ORIGIN, "User-Agent": BROWSER_UA, "X-Api-Key": key.value},
        )
        refused = await api.post(PATH, json={"name": "pageview"}, headers={"Origin": ORIGIN})
    assert ok.status == 202 and refused.status == 401
    assert duration_count(ctx, "2xx") == before_ok + 1
    assert duration_count(ctx, "4xx") == before_client + 1
    lines = [r.getMessage() for r in caplog.records if r.name == "eddy.access"]
    assert any(line.startswith("202 POST /api/v1/collect") for line in lines), lines
    assert any(line.startswith("401 POST /api/v1/collect") for line in lines), lines
    assert not any(key.value in line for line in lines)  # a key in the query string is scrubbed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name != "eddy.access"]


async def test_preflight_is_answered_by_the_lean_route(api: Api) -> None:
    answer = await api.request(
        "OPTIONS",
        PATH,
        headers={"Origin": "https://any.example", "Access-Control-Request-Method": "POST"},
        expect_json=False,
    )
    assert answer.status == 204 and answer.body == b""
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "X-Api-Key" in answer.headers["Access-Control-Allow-Headers"]
    assert "Content-Type" not in answer.headers


@pytest.mark.expect_errors("eddy.api", "eddy.access")
async def test_an_unexpected_failure_is_a_json_500_and_the_server_stays_up(
    api: Api, ctx: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = await public_key(api)

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(ctx.ingest, "ingest_body", broken)
    with caplog.at_level(logging.ERROR):
        answer = await api.post(PATH, json={"name": "pageview"}, headers={"X-Api-Key": key.value})
    assert (answer.status, answer.error_code) == (500, "internal_error")
    assert "boom" not in answer.body.decode()  # no internals leak to the sender
    assert any("Uncaught exception POST /api/v1/collect" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    again = await api.post(
        PATH,
        json={"name": "pageview", "url": "https://shop.example/"},
        headers={"Origin": ORIGIN, "User-Agent": BROWSER_UA, "X-Api-Key": key.value},
    )
    assert again.status == 202 and await stored_count(ctx, key.site_id) == 1


async def test_keep_alive_serves_the_next_request_after_a_lean_answer(
    http_server: Any, http_server_port: Any, api: Api, ctx: AppContext
) -> None:
    key = await public_key(api)
    beacon = raw_beacon(key, "https://shop.example/a")
    health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", http_server_port[1])
    try:
        # Pipelined on one connection: two beacons, then a request for the Application.
        writer.write(beacon + beacon + health)
        await writer.drain()
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.rstrip().endswith(b"}"):
            data += await asyncio.wait_for(reader.read(65536), timeout=5)
    finally:
        writer.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"202", b"202", b"200"], data[:600]
    assert await stored_count(ctx, key.site_id) == 2


async def test_a_sender_that_leaves_mid_body_stores_nothing(
    http_server: Any, http_server_port: Any, api: Api, ctx: AppContext
) -> None:
    key = await public_key(api)
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Api-Key: {key.value}\r\n"
        f"Content-Length: 400\r\n\r\n"
    ).encode() + b'{"name":"pageview","url":"https://shop.example/"'
    reader, writer = await asyncio.open_connection("127.0.0.1", http_server_port[1])
    writer.write(request)
    await writer.drain()
    writer.write_eof()  # gone, 350 bytes short
    # the server drops the half-sent request and hangs up without an answer
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()
    assert (await api.get("/healthz")).status == 200
    assert await stored_count(ctx, key.site_id) == 0


async def test_declared_oversize_beacon_is_413_json(http_server: Any, http_server_port: Any) -> None:
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {20 * 1024 * 1024}"
        "\r\n\r\n"
    ).encode()
    data = await raw_exchange(http_server_port[1], request)
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b'"payload_too_large"' in data and b"Access-Control-Allow-Origin: *" in data


async def test_a_sender_that_leaves_before_its_answer_leaves_no_error(
    http_server: Any, http_server_port: Any, api: Api, ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    key = await public_key(api)
    request = raw_beacon(key, "https://shop.example/gone")
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            _reader, writer = await asyncio.open_connection("127.0.0.1", http_server_port[1])
            writer.write(request)
            await writer.drain()
            writer.transport.abort()  # gone before the commit, so before the answer
        # Their events were complete: they are stored, and answering nobody logged no error.
        await until_stored(ctx, key.site_id, 5)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]
    assert (await api.get("/healthz")).status == 200
