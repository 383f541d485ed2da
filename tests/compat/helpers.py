"""Shared bits of the compatibility tests: a site with a switch on, and its stored events."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import make_site, signup

DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/89.0.4389.90 Safari/537.36 OPR/71.0.3770.284"
)


async def compat_site(api: Any, *, domain: str = "dummy.site", **compat: bool) -> tuple[str, dict[str, Any]]:
    """A new user's token and a site of theirs with the given compatibility switches on."""
    token = await signup(api)
    site = await make_site(api, token, domain=domain)
    answer = await api.patch(f"/api/v1/sites/{site['id']}", json={"compat": compat}, token=token)
    assert answer.status == 200, answer.json
    return token, answer.json["site"]
