"""One request helper for the API tests: every answer is checked for the invariants that hold on every
response (security headers; JSON content type and the error shape on API paths)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


@dataclass
class Answer:
    """A response with its decoded JSON body (None when the body is not JSON)."""

    status: int
    headers: Any
    body: bytes
    json: Any

    @property
    def error_code(self) -> str | None:
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None


def check_invariants(response: HTTPResponse, *, expect_json: bool = True) -> Answer:
    """Assert what every Eddy answer must carry and decode it."""
    for name in SECURITY_HEADERS:
        assert response.headers.get(name), f"missing {name} on {response.effective_url}"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    data = None
    if expect_json:
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers.get(
            "Content-Type"
        )
        if response.body:
            data = orjson.loads(response.body)
        if response.code >= 400:
            assert isinstance(data, dict) and "error" in data, data
            assert isinstance(data["error"]["code"], str) and data["error"]["message"]
    return Answer(response.code, response.headers, response.body or b"", data)


class Api:
    """Requests against a running test server (`base_url` like http://127.0.0.1:PORT)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = AsyncHTTPClient()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        expect_json: bool = True,
        source: str | None = None,
    ) -> Answer:
        """Send one request and check its invariants; never raises on 4xx/5xx. `source`: the local
        address to send from (any 127.0.0.x is this machine on Linux: distinct client addresses)."""
        headers = dict(headers or {})
        if json is not None:
            body = orjson.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is None and method in {"POST", "PUT", "PATCH"}:
            body = b""
        response = await self.client.fetch(
            self.base_url + path,
            method=method,
            body=body,
            headers=headers,
            raise_error=False,
            allow_nonstandard_methods=True,
            request_timeout=30,
            network_interface=source,
        )
        return check_invariants(response, expect_json=expect_json)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("DELETE", path, **kwargs)
