"""Turn validated raw events into stored Events: client (browser, OS, device, bot), country, visitor and
session, page parts, source, utm_* and click ids.

Everything that depends on the sender (user agent, IP, visitor, session) is worked out once per request;
per event there is only the URL and referrer work (cached within the request, since a batch usually
repeats its pages) and building the record. No store round trip happens per event.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field

import iptocc
from msgspec.structs import replace

from domain.ingest.clients import ClientClassifier, ClientInfo
from domain.ingest.decode import RawEvent, Traits, event_time, web_url
from domain.ingest.sources import PageUrl, host_of, is_spam, parse_page_url, source_name
from domain.ingest.visitor import (
    ACQUISITION_FIELDS,
    SESSION_TIMEOUT_S,
    Acquisition,
    SaltBook,
    Sessions,
    visitor_hash,
)
from storage.records import Event

log = logging.getLogger("eddy.ingest")
_DAY_S = 86400
URL_CACHE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a request: used in memory only (the IP is never stored)."""

    ip: str
    user_agent: str
    origin: str | None = None


@dataclass
class Enriched:
    """The events to store and how many were dropped, by reason."""

    events: list[Event]
    dropped: dict[str, int] = field(default_factory=dict)


def country_of(ip: str) -> str:
    """ISO country code of a public IP from the bundled database, or "" (private, unknown, invalid)."""
    try:
        return iptocc.country_code(ip) or ""
    except ValueError:
        return ""


class RandomIds:
    """Ids for events sent without one: 11 hex digits of the epoch millisecond, then 14 hex digits (56 bits)
    from the OS's CSPRNG. Unguessable, so a sender cannot pre-empt another event's id; time-ordered like
    the tracker's own ids, so the store's dedupe index takes them near its end instead of dirtying a page
    at random for each (2-3x cheaper appends once the index is large). The random bytes are read 4 KiB at
    a time: one `urandom` call per request was a system call on every beacon."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._pool = b""
        self._at = 0

    def take(self, count: int, now_ms: int) -> list[str]:
        """`count` distinct ids for events received at `now_ms`."""
        need = 7 * count
        if self._at + need > len(self._pool):
            self._pool = secrets.token_bytes(max(self._chunk, need))
            self._at = 0
        start = self._at
        self._at += need
        pool, prefix = self._pool, f"{now_ms:011x}"
        return [prefix + pool[at : at + 7].hex() for at in range(start, self._at, 7)]


class Enricher:
    """Builds stored Events from raw ones for one site and sender."""

    def __init__(self, clients: ClientClassifier, salts: SaltBook, sessions: Sessions) -> None:
        self.clients = clients
        self._salts = salts
        self._sessions = sessions
        self.session_fallbacks = 0
        self._pages: dict[str, tuple[str, PageUrl]] = {}
        self._referrers: dict[str, tuple[str, str, bool]] = {}
        self._ids = RandomIds()

    def client(self, sender: Sender) -> ClientInfo:
        """The client the sender's user agent describes (cached)."""
        return self.clients.classify(sender.user_agent)

    async def enrich(
        self, site_id: str, raw_events: list[RawEvent], sender: Sender, client: ClientInfo
    ) -> Enriched:
        """Stored Events for `raw_events` (all validated first: an Invalid timestamp rejects the whole
        request before anything is stored). Spam referrers are dropped and counted."""
        now = time.time()
        now_ms = int(now * 1000)
        times = [
            now_ms if raw.ts is None else event_time(raw.ts, now_ms, f"events[{i}].ts")
            for i, raw in enumerate(raw_events)
        ]
        today, yesterday = await self._salts.salts(now)
        visitor_id = visitor_hash(today, site_id, sender.ip, sender.user_agent)
        session_id = ""
        visit: dict[str, str] | None = None  # the server-kept session's acquisition, for its events
        if any(raw.session_id is None for raw in raw_events):
            previous = None
            if yesterday is not None and now % _DAY_S < SESSION_TIMEOUT_S:
                previous = visitor_hash(yesterday, site_id, sender.ip, sender.user_agent)
            first = next(raw for raw in raw_events if raw.session_id is None)
            session_id, visitor_id, acquisition = await self._session(
                site_id, visitor_id, previous, now, self._acquisition(first.url, first.referrer)
            )
            visit = dict(zip(ACQUISITION_FIELDS, acquisition, strict=True))
        country = country_of(sender.ip)
        # What is the same for every event of the request goes into a template; each event is a copy
        # with its own fields (msgspec's replace is ~10x cheaper than building a 25-field Event).
        template = Event(
            id="",
            site_id=site_id,
            ts=now_ms,
            name="",
            country=country,
            browser=client.browser,
            os=client.os,
            device=client.device,
            visitor_id=visitor_id,
        )
        events: list[Event] = []
        dropped: dict[str, int] = {}
        ids = self._ids.take(len(raw_events), now_ms) if any(raw.id is None for raw in raw_events) else []
        # Events of a request mostly share their page and referrer: each distinct pair becomes a page
        # template once (None for a spam referrer), so an event is a copy with its own 9 fields (msgspec's
        # replace costs ~4x more with all 20 fields).
        pages: dict[tuple[str, str], Event | None] = {}
        visit_pages: dict[tuple[str, str], Event] = {}
        for index, raw in enumerate(raw_events):
            key = (raw.url, raw.referrer)
            page = pages[key] if key in pages else pages.setdefault(key, self._page_event(template, *key))
            if page is None:
                dropped["spam_referrer"] = dropped.get("spam_referrer", 0) + 1
                continue
            if visit is not None and raw.session_id is None:
                # Sessions are first-class: every event of a visit carries where the visit came from.
                stamped = visit_pages.get(key)
                if stamped is None:
                    stamped = visit_pages[key] = replace(page, **visit)
                page = stamped
            traits = raw.traits
            events.append(
                replace(
                    page,
                    id=raw.id or ids[index],
                    ts=times[index],
                    name=raw.name or "",
                    title=raw.title,
                    screen=raw.screen,
                    session_id=raw.session_id or session_id,
                    user_id=raw.user_id,
                    props=raw.props,
                    traits=_traits(traits) if traits is not None else {},
                )
            )
        return Enriched(events, dropped)

    def _page_event(self, template: Event, raw_url: str, raw_referrer: str) -> Event | None:
        """The template with the page, referrer, source and utm_* fields of one (url, referrer) pair,
        or None when the referrer is spam."""
        referrer, ref_host, spam = self._referrer(raw_referrer)
        if spam:
            return None
        url, page = self._page(raw_url)
        utm = page.utm
        if utm[0]:
            source = utm[0]
        elif page.click_source:
            source = page.click_source
        elif ref_host and ref_host != page.hostname:
            source = source_name(ref_host)
        else:
            source = ""  # direct, or navigation inside the site
        return replace(
            template,
            url=url,
            path=page.path,
            hostname=page.hostname,
            referrer=referrer,
            source=source,
            utm_source=utm[0],
            utm_medium=utm[1],
            utm_campaign=utm[2],
            utm_term=utm[3],
            utm_content=utm[4],
        )

    def _acquisition(self, raw_url: str, raw_referrer: str) -> Acquisition:
        """Where a visit starting with this page came from (referrer, source, utm_*)."""
        page = self._page_event(_BLANK, raw_url, raw_referrer)
        if page is None:  # a spam referrer: the event is dropped, the visit keeps no referrer
            return ("",) * len(ACQUISITION_FIELDS)
        return tuple(getattr(page, name) for name in ACQUISITION_FIELDS)

    def _page(self, raw_url: str) -> tuple[str, PageUrl]:
        # Pages repeat across requests and within batches: parse each distinct URL once (bounded cache).
        cached = self._pages.get(raw_url)
        if cached is None:
            url = web_url(raw_url)
            cached = (url, parse_page_url(url) if url else _NO_PAGE)
            if len(self._pages) >= URL_CACHE_ENTRIES:
                self._pages.clear()
            self._pages[raw_url] = cached
        return cached

    def _referrer(self, raw_referrer: str) -> tuple[str, str, bool]:
        cached = self._referrers.get(raw_referrer)
        if cached is None:
            referrer = web_url(raw_referrer)
            host = host_of(referrer) if referrer else ""
            cached = (referrer, host, bool(host) and is_spam(host))
            if len(self._referrers) >= URL_CACHE_ENTRIES:
                self._referrers.clear()
            self._referrers[raw_referrer] = cached
        return cached

    async def _session(
        self, site_id: str, visitor_id: str, previous: str | None, now: float, acquisition: Acquisition
    ) -> tuple[str, str, Acquisition]:
        try:
            return await self._sessions.visit_for(site_id, visitor_id, previous, acquisition)
        except Exception as error:  # noqa: BLE001 - key-value store down: degrade, never refuse events
            # Without the store, a visitor's session is their hour: sessions split more, nothing is lost.
            self.session_fallbacks += 1
            log.warning("session store unavailable, using hourly sessions: %s", error)
            hour = int(now // 3600)
            digest = hashlib.blake2b(f"{visitor_id}:{hour}".encode(), digest_size=8).hexdigest()
            return digest, visitor_id, acquisition


_NO_PAGE = PageUrl("", "", ("", "", "", "", ""), "")
_BLANK = Event(id="", site_id="", ts=0, name="")


def _traits(traits: Traits) -> dict[str, str]:
    values = {"age_band": traits.age_band, "gender": traits.gender, "plan": traits.plan}
    return {name: value for name, value in values.items() if value}
