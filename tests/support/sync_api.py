"""A blocking JSON client for tests that cannot use the IOLoop (Playwright sync tests against a real Eddy
process): one request, answered as the same `Answer` the async helper returns, never raising on 4xx/5xx."""

from __future__ import annotations

import json as jsonlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.support.api import Answer


class SyncApi:
    """Requests against `base_url` (http://127.0.0.1:PORT) with urllib."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        """Send one request; 4xx/5xx come back as answers, connection failures raise."""
        headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is None and method in {"POST", "PUT", "PATCH"}:
            body = b""
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return _answer(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            return _answer(error.code, error.headers, error.read())

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Answer:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.request("DELETE", path, **kwargs)


def _answer(status: int, headers: Any, body: bytes) -> Answer:
    data = None
    if headers.get("Content-Type", "").startswith("application/json") and body:
        data = jsonlib.loads(body)
    return Answer(status, headers, body, data)


@dataclass(frozen=True)
class SignedUpSite:
    """A new account's access token, its site and that site's key values by kind."""

    token: str
    site_id: str
    keys: dict[str, str]


def sign_up_with_site(
    api: SyncApi, email: str, password: str, site: dict[str, Any], key_kinds: tuple[str, ...] = ("public",)
) -> SignedUpSite:
    """Register `email`, create `site` (the body of POST /api/v1/sites) and one key of each kind, through
    the API; every step must succeed."""
    answer = api.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert answer.status == 201, answer.json
    token = answer.json["access_token"]
    made = api.post("/api/v1/sites", json=site, token=token)
    assert made.status == 201, made.json
    site_id = made.json["site"]["id"]
    keys: dict[str, str] = {}
    for kind in key_kinds:
        key = api.post(f"/api/v1/sites/{site_id}/keys", json={"name": kind, "kind": kind}, token=token)
        assert key.status == 201, key.json
        keys[kind] = key.json["key"]["key"]
    return SignedUpSite(token, site_id, keys)
