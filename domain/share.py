"""Share links: read-only access to one site's dashboard (stats and live stream) for whoever holds the link.

A link's token is 256 random bits (url-safe base64, 43 characters). At rest a link is only its
`token_hash` (HMAC-SHA256 under the server's hash key, like API keys), so a dump of the store opens
nothing; the token is shown once, when the link is made. Documents in `share_links`:
{id, site_id, token_hash, created_at, revoked}. A revoked link stops working at once: every request
looks the link up (there is no cache to expire), and `on_revoked` (the sign-in session revocation
broadcast, with the link's `share_session` id) closes the live streams it opened, in every process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from domain.accounts.site_docs import StoredSite, stored_site
from domain.errors import Conflict, NotFound
from storage.ports import DocumentStore

MAX_ACTIVE_LINKS = 20
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class ShareLinkOut(msgspec.Struct, omit_defaults=True):
    """A share link as the API shows it; `token` only in the answer that created it."""

    id: str
    site_id: str
    created_at: float
    revoked: bool
    token: str | None = None


def token_hash(hash_key: bytes, token: str) -> str:
    """The stored, non-reversible identifier of a share token."""
    return hmac.new(hash_key, b"share:" + token.encode(), hashlib.sha256).hexdigest()


def link_out(doc: dict[str, Any], token: str | None = None) -> ShareLinkOut:
    """The public view of a share link document."""
    return ShareLinkOut(
        id=doc["id"],
        site_id=doc["site_id"],
        created_at=doc["created_at"],
        revoked=bool(doc.get("revoked")),
        token=token,
    )


class ShareLinks:
    """Create, list, revoke and resolve share links."""

    def __init__(
        self,
        docs: DocumentStore,
        hash_key: bytes,
        on_revoked: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._docs = docs
        self._hash_key = hash_key
        self._on_revoked = on_revoked  # called with the revoked link's share_session id

    async def create(self, site: StoredSite) -> ShareLinkOut:
        """A new link for `site`; its token appears only in this answer."""
        active = await self._docs.count("share_links", {"site_id": site.id, "revoked": False})
        if active >= MAX_ACTIVE_LINKS:
            raise Conflict(f"a site may have at most {MAX_ACTIVE_LINKS} active share links; revoke one first")
        token = secrets.token_urlsafe(32)
        doc = {
            "id": uuid.uuid4().hex,
            "site_id": site.id,
            "token_hash": token_hash(self._hash_key, token),
            "created_at": round(time.time(), 3),
            "revoked": False,
        }
        await self._docs.insert("share_links", doc)
        return link_out(doc, token)

    async def list(self, site: StoredSite) -> list[ShareLinkOut]:
        """The site's links, newest first."""
        rows = await self._docs.find(
            "share_links", {"site_id": site.id}, sort="created_at", descending=True, limit=500
        )
        return [link_out(doc) for doc in rows]

    async def revoke(self, site: StoredSite, link_id: str) -> None:
        """Revoke one of the site's links (404 for another site's link or an unknown id)."""
        changed = await self._docs.update(
            "share_links", {"id": link_id, "site_id": site.id}, {"revoked": True}
        )
        if not changed:
            raise NotFound("no such share link")
        if self._on_revoked is not None:
            await self._on_revoked(share_session(link_id))

    async def site_for_token(self, token: str | None) -> StoredSite | None:
        """The site a live, unrevoked link opens, or None (never raises for bad input)."""
        opened = await self.open(token)
        return opened[1] if opened is not None else None

    async def open(self, token: str | None) -> tuple[str, StoredSite] | None:
        """(the link's `share_session` id, the site) for a live, unrevoked link, or None (never raises
        for bad input)."""
        if not token or not _TOKEN_SHAPE.fullmatch(token):
            return None
        wanted = token_hash(self._hash_key, token)
        rows = await self._docs.find("share_links", {"token_hash": wanted}, limit=1)
        if not rows or rows[0].get("revoked") or not hmac.compare_digest(rows[0]["token_hash"], wanted):
            return None
        doc = await self._docs.get("sites", rows[0]["site_id"])
        return (share_session(rows[0]["id"]), stored_site(doc)) if doc is not None else None


def share_session(link_id: str) -> str:
    """The id a share link's live streams carry as their session: revoking the link ends it."""
    return f"share:{link_id}"
