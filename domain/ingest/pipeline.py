"""The ingest pipeline: key → origin → rate limits → decode → enrich → group-commit writer.

Both collect transports call it: HTTP (`ingest_body`) and websocket (`authorize` once at connect, then
`ingest` per message). Refusals raise domain errors (401/403/413/422/429/503) and count a drop reason.

Origins: a public key (tracker in browsers) is honoured only from one of its site's `allowed_origins`
(or, when that list is empty, http(s)://<site domain>); a request without an Origin is refused. Secret keys
are for servers and need no Origin. Sites are cached in process for SITE_CACHE_S.

Rate limits: fixed one-second windows per key and per site in the key-value store (`hit`), shared by
every process on Redis. When the key-value store is down the check fails open (events keep flowing, which
matters more than the limit during an outage) and each unchecked request is counted in
eddy_ingest_rate_limit_skipped_total.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.accounts.keys import KeyAuthenticator
from domain.accounts.principals import KeyPrincipal
from domain.accounts.site_docs import StoredSite, stored_site
from domain.errors import DomainError, Forbidden, RateLimited, Unauthorized
from domain.ingest.clients import ClientClassifier
from domain.ingest.decode import RawEvent, decode_payload
from domain.ingest.enrich import Enricher, Sender
from domain.ingest.installation import InstallationLog
from domain.ingest.visitor import SaltBook, Sessions
from domain.ingest.writer import GroupCommitWriter
from runtime.metrics import DropReason, Metrics
from storage.ports import DocumentStore, KeyValue
from storage.records import Event

SITE_CACHE_S = 30.0
SITE_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class IngestLimits:
    """Requests (HTTP bodies or websocket messages) allowed per second per key and per site, and
    messages per second on one websocket (a burst of twice that is allowed)."""

    per_key: int = 5000
    per_site: int = 10000
    per_connection: float = 100.0


@dataclass(frozen=True, slots=True)
class _Site:
    origins: frozenset[str]
    cached_until: float


def normalize_origin(origin: str) -> str:
    """`HTTPS://Example.com/` → `https://example.com`."""
    return origin.strip().rstrip("/").lower()


def site_origins(site: StoredSite) -> list[str]:
    """The origins a site's public keys are honoured from: its `allowed_origins`, or when that list is
    empty http(s)://<domain>."""
    listed = [normalize_origin(o) for o in site.allowed_origins]
    domain = site.domain.strip().lower()
    if not listed and domain:
        listed = [f"https://{domain}", f"http://{domain}"]
    return listed


@dataclass(eq=False)
class IngestPipeline:
    """Accepts events for one process: authenticates, checks, enriches and commits them."""

    keys: KeyAuthenticator
    docs: DocumentStore
    kv: KeyValue
    writer: GroupCommitWriter
    metrics: Metrics
    limits: IngestLimits = field(default_factory=IngestLimits)

    def __post_init__(self) -> None:
        self.enricher = Enricher(ClientClassifier(), SaltBook(self.docs), Sessions(self.kv))
        # The installation check's records: last accepted request and recent refusals per site.
        self.installation = InstallationLog(self.kv)
        self._sites: dict[str, _Site] = {}

    async def start(self) -> None:
        """Compile the user-agent patterns off the IOLoop before traffic arrives."""
        await self.enricher.clients.load()

    async def stop(self) -> None:
        """Write the installation check's pending records and wait for them (the writer flushes itself)."""
        await self.installation.close()

    def drop(self, reason: DropReason | str, count: int = 1) -> None:
        """Count refused or dropped events (ValueError for a reason not in DropReason: no new series)."""
        if count > 0:
            self.metrics.ingest_dropped.labels(DropReason(reason)).inc(count)

    def count_accepted(self, count: int) -> None:
        """Count events that are now durable."""
        self.metrics.ingest_accepted.inc(count)

    async def authorize(
        self, raw_key: str | None, origin: str | None, *, in_url_or_body: bool
    ) -> KeyPrincipal:
        """The key's principal, if it may ingest from this origin. 401 unknown/revoked/expired key;
        403 bad origin, or a secret key used like a public one (sent from a browser, with an Origin, or
        in a body/query field where it would end up in page source and logs: only X-Api-Key carries it)."""
        principal = await self.keys.authenticate(raw_key.strip()) if raw_key else None
        if principal is None:
            raise Unauthorized("invalid, revoked or expired API key", code="invalid_key")
        if principal.kind == "secret" and (in_url_or_body or origin is not None):
            self.installation.refused(principal.site_id, "wrong_key_kind", origin)
            raise Forbidden("secret keys are for servers: send them in X-Api-Key", code="wrong_key_kind")
        if principal.kind == "public":
            allowed = await self._allowed_origins(principal.site_id)
            if origin is None or normalize_origin(origin) not in allowed:
                self.installation.refused(principal.site_id, "bad_origin", origin)
                raise Forbidden("this origin may not send events for the site", code="bad_origin")
        return principal

    async def check_rate(self, principal: KeyPrincipal) -> None:
        """Raise RateLimited when the key or its site is over its per-second budget."""
        try:
            key_hits, key_reset = await self.kv.hit(f"rl:ingest:k:{principal.key_id}", 1.0)
            site_hits, site_reset = await self.kv.hit(f"rl:ingest:s:{principal.site_id}", 1.0)
        except Exception:  # noqa: BLE001 - documented: fail open while the key-value store is down
            self.metrics.ingest_rate_limit_skipped.inc()
            return
        if key_hits > self.limits.per_key:
            raise RateLimited(key_reset, "too many requests for this key")
        if site_hits > self.limits.per_site:
            raise RateLimited(site_reset, "too many requests for this site")

    async def ingest_body(self, body: bytes, header_key: str | None, sender: Sender) -> int:
        """An HTTP collect body: returns how many events were accepted (durable)."""
        try:
            raw_events, body_key = decode_payload(body)
        except DomainError:
            self.drop(DropReason.INVALID)
            raise
        try:
            principal = await self.authorize(
                header_key or body_key, sender.origin, in_url_or_body=not header_key
            )
        except Forbidden as error:
            if error.code == "bad_origin":
                self.drop(DropReason.BAD_ORIGIN, len(raw_events))
            raise
        return await self.ingest(principal, raw_events, sender)

    async def ingest(self, principal: KeyPrincipal, raw_events: list[RawEvent], sender: Sender) -> int:
        """Rate-limit, enrich and durably store events for an authorised key; returns how many were
        accepted. Bots (for public keys, whose user agent is the visitor's) and spam are dropped."""
        pending = await self.enqueue(principal, raw_events, sender)
        return await pending.durable()

    async def enqueue(self, principal: KeyPrincipal, raw_events: list[RawEvent], sender: Sender) -> Pending:
        """`ingest` up to the hand-off to the group commit: rate limits, bot and spam drops and enrichment
        are done and the events queued when this returns; `Pending.durable()` waits for their commit. A
        stream that pipelines its messages calls this in order and waits for several commits at once."""
        try:
            await self.check_rate(principal)
        except RateLimited:
            self.drop(DropReason.RATE_LIMITED, len(raw_events))
            self.installation.refused(principal.site_id, "rate_limited", sender.origin)
            raise
        client = self.enricher.client(sender)
        # A secret key's user agent is the sending server's, not a visitor's: no bot verdict from it.
        if client.bot and principal.kind == "public":
            self.drop(DropReason.BOT, len(raw_events))
            self.installation.refused(principal.site_id, "bot", sender.origin, client.browser)
            return Pending(self, [])
        try:
            enriched = await self.enricher.enrich(principal.site_id, raw_events, sender, client)
        except DomainError as error:
            self.drop(DropReason.INVALID, len(raw_events))
            self.installation.refused(principal.site_id, "invalid", sender.origin, error.message)
            raise
        for reason, count in enriched.dropped.items():
            self.drop(reason, count)
            self.installation.refused(principal.site_id, reason, sender.origin)
        if enriched.events:
            self.installation.seen(principal.site_id, principal.key_id, sender.origin)
        return Pending(self, enriched.events)

    async def _allowed_origins(self, site_id: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._sites.get(site_id)
        if cached is not None and cached.cached_until > now:
            return cached.origins
        doc = await self.docs.get("sites", site_id)
        origins: frozenset[str] = frozenset()
        if doc is not None:
            origins = frozenset(site_origins(stored_site(doc)))
        if len(self._sites) >= SITE_CACHE_ENTRIES:
            self._sites.clear()
        self._sites[site_id] = _Site(origins, now + SITE_CACHE_S)
        return origins


class Pending:
    """Events queued for the group commit by `IngestPipeline.enqueue`."""

    def __init__(self, pipeline: IngestPipeline, events: list[Event]) -> None:
        self._pipeline = pipeline
        self._count = len(events)
        try:
            self._done = pipeline.writer.enqueue(events)
        except DomainError:
            pipeline.drop(DropReason.UNAVAILABLE, len(events))
            raise

    async def durable(self) -> int:
        """Wait until the events are durable; returns how many were accepted. Raises Unavailable when
        the store stayed down through the writer's retries."""
        # A cancelled caller (client gone) must not cancel a commit other requests share; its own
        # cancellation still ends the wait. The commit's outcome is read below, whatever it was.
        with contextlib.suppress(Exception):
            await asyncio.shield(self._done)
        outcome = self._outcome(self._done)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    def when_durable(self, callback: Callable[[int | DomainError], None]) -> None:
        """Call `callback` once the events are durable, with how many were accepted, or with the error
        (Unavailable) when the store stayed down: `durable()` without a task per waiter, for a stream
        that acknowledges many messages at once."""
        self._done.add_done_callback(lambda done: callback(self._outcome(done)))

    def _outcome(self, done: asyncio.Future[None]) -> int | DomainError:
        error = done.exception()
        if error is None:
            self._pipeline.count_accepted(self._count)
            return self._count
        if not isinstance(error, DomainError):
            raise error  # not expected: the writer fails a batch with Unavailable only
        self._pipeline.drop(DropReason.UNAVAILABLE, self._count)
        return error
