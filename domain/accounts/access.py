"""Authentication of people (bearer access tokens, with their session checked so logout and password
changes end sessions at once) and authorisation on sites (owner, or member with a role)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from domain.accounts.principals import ROLE_RANK, KeyPrincipal, Role, UserPrincipal
from domain.accounts.site_docs import StoredSite, stored_site
from domain.accounts.tokens import InvalidToken, TokenService
from domain.errors import Forbidden, NotFound, Unauthorized
from storage.ports import Bus, DocumentStore

SESSION_REVOKED_CHANNEL = "sessions:revoked"
SESSION_CACHE_TTL_S = 30.0


log = logging.getLogger("eddy.accounts")


class BearerAuthenticator:
    """Verifies access tokens and that their session (refresh family) is still alive.

    Refresh families live in `refresh_families`: {id, user_id, current_jti, revoked (bool), created_at,
    expires_at}. Revoking one must call `session_revoked(family_id)` so every process forgets it.
    """

    def __init__(self, tokens: TokenService, docs: DocumentStore, bus: Bus | None = None) -> None:
        self.tokens = tokens
        self._docs = docs
        self._bus = bus
        # (family id, user id) -> cached until (monotonic): a token naming another user with the same
        # session id never rides on the check made for the session's own user.
        self._alive: dict[tuple[str, str], float] = {}
        # Called with the families revoked in any process (e.g. to close their open dashboards).
        self.revocation_listeners: list[Callable[[Sequence[str]], None]] = []

    async def start(self) -> None:
        """Listen for session revocations from every process."""
        if self._bus is not None:
            await self._bus.subscribe(SESSION_REVOKED_CHANNEL, self._on_revoked)

    async def stop(self) -> None:
        """Nothing to flush."""

    def _forget(self, families: Sequence[str]) -> None:
        ended = set(families)
        for key in [key for key in self._alive if key[0] in ended]:
            del self._alive[key]

    def _on_revoked(self, _channel: str, data: bytes) -> None:
        families = data.decode().split(",")
        self._forget(families)
        self._notify(families)

    def _notify(self, families: Sequence[str]) -> None:
        for listener in self.revocation_listeners:
            try:
                listener(families)
            except Exception:
                log.exception("a session revocation listener failed")

    async def session_revoked(self, *families: str) -> None:
        """Forget these sessions in every process now."""
        self._forget(families)
        # here too, not only from the bus: this process acts even while the bus is down
        self._notify(families)
        if self._bus is not None and families:
            try:
                await self._bus.publish(SESSION_REVOKED_CHANNEL, ",".join(families).encode())
            except Exception as error:  # noqa: BLE001 - others forget within SESSION_CACHE_TTL_S
                log.warning("could not broadcast a session revocation: %s", error)

    async def authenticate(self, authorization: str | None) -> UserPrincipal:
        """The user behind an `Authorization: Bearer <token>` header; raises Unauthorized."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("a bearer access token is required")
        try:
            user_id, session = self.tokens.verify_access(authorization[7:].strip())
        except InvalidToken:
            raise Unauthorized("invalid or expired access token", code="invalid_token") from None
        now = time.monotonic()
        if self._alive.get((session, user_id), 0.0) <= now:
            family = await self._docs.get("refresh_families", session)
            if (
                family is None
                or family.get("revoked")
                or family.get("user_id") != user_id
                or float(family.get("expires_at", 0)) <= time.time()
            ):
                raise Unauthorized("this session has ended", code="invalid_token")
            self._alive[(session, user_id)] = now + SESSION_CACHE_TTL_S
        return UserPrincipal(user_id=user_id, session=session)


class SiteAccess:
    """Who may see or change a site: its owner, and its members ({id, site_id, user_id, role})."""

    def __init__(self, docs: DocumentStore) -> None:
        self._docs = docs

    async def role_of(self, user_id: str, site: StoredSite) -> Role | None:
        """owner, the member's role, or None."""
        if site.owner_id == user_id:
            return "owner"
        rows = await self._docs.find("members", {"site_id": site.id, "user_id": user_id}, limit=1)
        return rows[0]["role"] if rows else None

    async def site_for_user(
        self, principal: UserPrincipal, site_id: str, need: Role = "viewer"
    ) -> StoredSite:
        """The site if this user holds at least `need` on it. Sites they cannot see answer 404 (never
        revealing that the id exists); visible sites where the role is too low answer 403."""
        doc = await self._docs.get("sites", site_id) if isinstance(site_id, str) else None
        if doc is None:
            raise NotFound("no such site")
        site = stored_site(doc)
        role = await self.role_of(principal.user_id, site)
        if role is None:
            raise NotFound("no such site")
        if ROLE_RANK[role] < ROLE_RANK[need]:
            raise Forbidden(f"this needs the {need} role on the site")
        return site

    async def site_for_key(self, principal: KeyPrincipal, site_id: str) -> StoredSite:
        """The site when a secret key of that very site asks; 404 otherwise."""
        if principal.kind != "secret" or principal.site_id != site_id:
            raise NotFound("no such site")
        doc = await self._docs.get("sites", site_id)
        if doc is None:
            raise NotFound("no such site")
        return stored_site(doc)
