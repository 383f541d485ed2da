"""One user's journey: recent events and sessions (their page paths), from a time-ordered event stream."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

from domain.stats.answers import JourneyEvent, JourneySession
from storage.records import Event

RECENT_EVENTS = 50
RECENT_SESSIONS = 20
PATH_STEPS = 50


def event_view(event: Event) -> JourneyEvent:
    """The public fields of one event in a journey."""
    return JourneyEvent(
        id=event.id,
        ts=event.ts,
        name=event.name,
        path=event.path,
        title=event.title,
        source=event.source,
        session_id=event.session_id,
        props=dict(event.props),
    )


class JourneyBuilder:
    """Feed events in time order with `add`; keeps only the newest events and sessions (bounded)."""

    def __init__(self) -> None:
        self.recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.sessions: OrderedDict[str, JourneySession] = OrderedDict()

    def add(self, events: Iterable[Event]) -> None:
        """Take the next events (ascending time)."""
        for event in events:
            self.recent.append(event)
            key = event.session_id or f"ev:{event.id}"
            session = self.sessions.get(key)
            if session is None:
                session = JourneySession(
                    session_id=event.session_id, start=event.ts, end=event.ts, events=0, pages=[]
                )
                self.sessions[key] = session
                while len(self.sessions) > RECENT_SESSIONS:
                    self.sessions.popitem(last=False)
            session.end = max(session.end, event.ts)
            session.events += 1
            if event.name == "pageview" and len(session.pages) < PATH_STEPS:
                session.pages.append(event.path)

    def recent_events(self) -> list[JourneyEvent]:
        """The recent events, newest first."""
        return [event_view(e) for e in sorted(self.recent, key=lambda e: (e.ts, e.id), reverse=True)]

    def recent_sessions(self) -> list[JourneySession]:
        """The recent sessions, newest first."""
        return list(reversed(self.sessions.values()))
