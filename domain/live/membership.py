"""Open live streams end when their viewer loses the site: a removed member's websocket (close 4403) or
SSE stream stops at once, in every process.

Two paths, so neither a lost broadcast nor a process that missed it leaves a stream running:
- `member_removed` (called by MemberService.remove) closes this process's streams of that (site, user)
  and announces it on the bus channel MEMBERS_REMOVED_CHANNEL, which every process acts on;
- every `recheck_s` (EDDY_LIVE_MEMBERSHIP_RECHECK_S, default 60) each distinct (site, user) of the open
  streams has its role read again (one read per pair, not per stream); no role, or no site, ends them.
Streams opened through share links have no user and are ended by revoking the link instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from domain.accounts.access import SiteAccess
from domain.accounts.site_docs import stored_site
from runtime.periodic import Periodic
from runtime.sockets import SocketRegistry
from storage.ports import Bus, DocumentStore

log = logging.getLogger("eddy.live")

MEMBERS_REMOVED_CHANNEL = "members:removed"
RECHECK_S = 60.0
CLOSE_FORBIDDEN = 4403
REASON = "no longer a member of this site"


@dataclass(eq=False)
class MembershipWatch:
    """Ends live streams whose user is no longer on their site (a context component)."""

    sockets: SocketRegistry
    docs: DocumentStore
    access: SiteAccess
    bus: Bus | None
    recheck_s: float = RECHECK_S

    def __post_init__(self) -> None:
        self._rounds = Periodic("live membership recheck", self.recheck, lambda: self.recheck_s, log)

    async def start(self) -> None:
        """Listen for removals in every process and start the periodic recheck."""
        if self.bus is not None:
            await self.bus.subscribe(MEMBERS_REMOVED_CHANNEL, self._on_removed)
        self._rounds.start()

    async def stop(self) -> None:
        """Stop the recheck."""
        await self._rounds.stop()

    def _on_removed(self, _channel: str, data: bytes) -> None:
        site_id, _, user_id = data.decode().partition(":")
        self.end(site_id, user_id)

    def end(self, site_id: str, user_id: str) -> int:
        """Close this process's streams of `user_id` on `site_id`; how many."""
        return self._close(s for s in self.sockets if _owner(s) == (site_id, user_id) and user_id and site_id)

    async def member_removed(self, site_id: str, user_id: str) -> None:
        """A member left the site: end their streams here and in every other process."""
        self.end(site_id, user_id)
        if self.bus is not None:
            try:
                await self.bus.publish(MEMBERS_REMOVED_CHANNEL, f"{site_id}:{user_id}".encode())
            except Exception as error:  # noqa: BLE001 - the periodic recheck ends them elsewhere
                log.warning("could not broadcast a member removal: %s", error)

    async def recheck(self) -> None:
        """Read the role of every (site, user) with an open stream; end the streams of those without."""
        pairs = {_owner(s) for s in self.sockets} - {None}
        for site_id, user_id in pairs:  # type: ignore[misc]
            if not site_id or not user_id:
                continue
            doc = await self.docs.get("sites", site_id)
            if doc is None or await self.access.role_of(user_id, stored_site(doc)) is None:
                self.end(site_id, user_id)

    def _close(self, sockets: Iterable[object]) -> int:
        closed = 0
        for socket in list(sockets):
            try:
                socket.close(CLOSE_FORBIDDEN, REASON)  # type: ignore[attr-defined]
                closed += 1
            except Exception:
                log.exception("could not close a live stream")
        return closed


def _owner(socket: object) -> tuple[str, str] | None:
    """(site id, user id) of a signed-in live stream, None for anything else."""
    site_id = getattr(socket, "site_id", "")
    user_id = getattr(socket, "user_id", "")
    return (site_id, user_id) if site_id and user_id else None
