"""Test helpers that set up accounts through the real API: a user with a token, a site, keys.

token = await signup(api)
site = await make_site(api, token, allowed_origins=["https://shop.example"])
key = await make_key(api, token, site["id"], "public")   # key["key"] is the value
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api import Api

PASSWORD = "correct horse battery staple"


def unique_email(prefix: str = "user") -> str:
    """An email no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


async def register(api: Api, email: str | None = None, password: str = PASSWORD, name: str = "") -> dict:
    """Register a user; returns the whole answer (user, access_token, refresh_token...)."""
    answer = await api.post(
        "/api/v1/auth/register", json={"email": email or unique_email(), "password": password, "name": name}
    )
    assert answer.status == 201, answer.json
    return answer.json


async def signup(api: Api, email: str | None = None, password: str = PASSWORD) -> str:
    """Register a user and return their access token."""
    return (await register(api, email, password))["access_token"]


async def make_site(
    api: Api,
    token: str,
    *,
    name: str = "Shop",
    domain: str = "shop.example",
    allowed_origins: list[str] | None = None,
    timezone: str = "UTC",
) -> dict[str, Any]:
    """Create a site; returns the site object."""
    origins = allowed_origins if allowed_origins is not None else [f"https://{domain}"]
    answer = await api.post(
        "/api/v1/sites",
        json={"name": name, "domain": domain, "allowed_origins": origins, "timezone": timezone},
        token=token,
    )
    assert answer.status == 201, answer.json
    return answer.json["site"]


async def make_key(
    api: Api, token: str, site_id: str, kind: str = "public", *, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Create a key of `kind` (public or secret); returns the key object, its value in `key`."""
    body = {"name": name or f"{kind} key", "kind": kind, **extra}
    answer = await api.post(f"/api/v1/sites/{site_id}/keys", json=body, token=token)
    assert answer.status == 201, answer.json
    return answer.json["key"]


async def invite(api: Api, token: str, site_id: str, email: str, role: str = "viewer") -> str:
    """Invite an address to a site (on a server without mail); returns the invitation link's token."""
    answer = await api.post(
        f"/api/v1/sites/{site_id}/invitations", json={"email": email, "role": role}, token=token
    )
    assert answer.status == 201, answer.json
    return str(answer.json["link"]).split("#token=", 1)[1]


async def add_member(
    api: Api, token: str, site_id: str, email: str, role: str = "viewer", password: str = PASSWORD
) -> dict[str, Any]:
    """Put an existing user (whose password is `password`) on a site's team the only way there is: the
    owner invites, the user accepts. Returns the member object."""
    accepted = await api.post(
        "/api/v1/invitations/accept",
        json={"token": await invite(api, token, site_id, email, role), "password": password},
    )
    assert accepted.status == 200, accepted.json
    members = await api.get(f"/api/v1/sites/{site_id}/members", token=token)
    return next(m for m in members.json["members"] if m["user_id"] == accepted.json["user"]["id"])
