"""Sites and API keys for ingestion tests.

`api_site_keys` goes through the management API (tests/support/accounts.py): use it where the account
side matters (origins from site settings, revocation through PATCH). The direct helpers write the same
document shapes straight into the store with the account module's key functions: they are for the many
payload-shape tests (no bcrypt sign-up per case) and for a key that is already expired, which the API
cannot create."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from domain.accounts.keys import display_prefix, generate_key, key_lookup
from handlers.context import AppContext
from tests.support.accounts import make_key as api_make_key
from tests.support.accounts import make_site as api_make_site
from tests.support.accounts import signup
from tests.support.api import Api

ORIGIN = "https://shop.example"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@dataclass
class SiteKey:
    """A site and one of its keys."""

    site_id: str
    key_id: str
    value: str


async def make_site(ctx: AppContext, origins: tuple[str, ...] = (ORIGIN,)) -> str:
    """A new site allowing `origins`; returns its id."""
    site_id = uuid.uuid4().hex
    now = time.time()
    await ctx.stores.docs.insert(
        "sites",
        {
            "id": site_id,
            "owner_id": "owner",
            "name": "Shop",
            "domain": "shop.example",
            "allowed_origins": list(origins),
            "timezone": "UTC",
            "retention_days": 400,
            "created_at": now,
            "updated_at": now,
        },
    )
    return site_id


async def make_key(
    ctx: AppContext,
    site_id: str,
    kind: str = "public",
    *,
    active: bool = True,
    expires_at: float | None = None,
) -> SiteKey:
    """A key of `kind` for the site."""
    value = generate_key(kind)  # type: ignore[arg-type]
    key_id = uuid.uuid4().hex
    await ctx.stores.docs.insert(
        "api_keys",
        {
            "id": key_id,
            "site_id": site_id,
            "name": kind,
            "kind": kind,
            "lookup": key_lookup(ctx.secrets.hash_key, value),
            "prefix": display_prefix(value),
            "active": active,
            "expires_at": expires_at,
            "last_used_at": None,
            "created_at": time.time(),
            **({"value": value} if kind == "public" else {}),
        },
    )
    return SiteKey(site_id, key_id, value)


async def make_site_key(ctx: AppContext, kind: str = "public") -> SiteKey:
    """A new site with one key of `kind`."""
    return await make_key(ctx, await make_site(ctx), kind)


@dataclass
class ApiSite:
    """A user's site with one public and one secret key, all made through the management API."""

    token: str
    site_id: str
    public: dict
    secret: dict


async def api_site_keys(api: Api) -> ApiSite:
    """Sign up, create a site allowing ORIGIN, and a public and a secret key."""
    token = await signup(api)
    site = await api_make_site(api, token, allowed_origins=[ORIGIN])
    public = await api_make_key(api, token, site["id"], "public")
    secret = await api_make_key(api, token, site["id"], "secret")
    return ApiSite(token, site["id"], public, secret)
