"""The ingest step shared by the compatibility endpoints: their events go through the collect pipeline's
own parts (per-site rate limit, bot verdict, enrichment, spam drop, group commit, live panel, stats).

There is no API key: a site that switched a compatibility on takes that traffic from anyone, as Plausible
and Umami do, under a rate limit of its own per site and kind (`rl:ingest:k:<kind>:<site>`) besides the
site's. The user agent is always read as the visitor's (their server-side APIs pass it through).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from domain.accounts.principals import KeyPrincipal
from domain.errors import DomainError, RateLimited
from domain.ingest.decode import RawEvent
from domain.ingest.enrich import Sender
from domain.ingest.pipeline import IngestPipeline, Pending
from runtime.metrics import DropReason
from storage.records import Event


@dataclass
class Outcome:
    """What became of a request's events: how many are durable, and why the rest were dropped."""

    accepted: int
    dropped: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def dropped_count(self) -> int:
        """How many events were not stored."""
        return sum(self.dropped.values())


async def ingest_compat(
    pipeline: IngestPipeline,
    kind: str,
    site_id: str,
    raw_events: list[RawEvent],
    sender: Sender,
    fix: Callable[[Event], Event] | None = None,
) -> Outcome:
    """Store `raw_events` for `site_id` as traffic of `kind` (plausible, umami); `fix` may adjust each
    enriched event before it is queued (e.g. a path that keeps its #fragment). Raises RateLimited,
    Invalid or Unavailable like the collect pipeline."""
    count = len(raw_events)
    principal = KeyPrincipal(key_id=f"{kind}:{site_id}", site_id=site_id, kind="public")
    try:
        await pipeline.check_rate(principal)
    except RateLimited:
        pipeline.drop(DropReason.RATE_LIMITED, count)
        raise
    client = pipeline.enricher.client(sender)
    if client.bot:
        pipeline.drop(DropReason.BOT, count)
        return Outcome(0, {"bot": count})
    try:
        enriched = await pipeline.enricher.enrich(site_id, raw_events, sender, client)
    except DomainError:
        pipeline.drop(DropReason.INVALID, count)
        raise
    for reason, dropped in enriched.dropped.items():
        pipeline.drop(reason, dropped)
    events = [fix(event) for event in enriched.events] if fix is not None else enriched.events
    accepted = await Pending(pipeline, events).durable() if events else 0
    return Outcome(accepted, dict(enriched.dropped), events)
