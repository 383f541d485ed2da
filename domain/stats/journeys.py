"""One user's journey: recent events and sessions (their page paths), from a time-ordered event stream."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from storage.records import Event

RECENT_EVENTS = 50
RECENT_SESSIONS = 20
PATH_STEPS = 50


def event_view(event: Event) -> dict[str, Any]:
    """The public fields of one event in a journey."""
    return {
        "id": event.id,
        "ts": event.ts,
        "name": event.name,
        "path": event.path,
        "title": event.title,
        "source": event.source,
        "session_id": event.session_id,
        "props": dict(event.props),
    }


class JourneyBuilder:
    """Feed events in time order with `add`; keeps only the newest events and sessions (bounded)."""

    def __init__(self) -> None:
        self.recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.sessions: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def add(self, events: Iterable[Event]) -> None:
        """Take the next events (ascending time)."""
        for event in events:
            self.recent.append(event)
            key = event.session_id or f"ev:{event.id}"
            session = self.sessions.get(key)
            if session is None:
                session = {
                    "session_id": event.session_id,
                    "start": event.ts,
                    "end": event.ts,
                    "events": 0,
                    "pages": [],
                }
                self.sessions[key] = session
                while len(self.sessions) > RECENT_SESSIONS:
                    self.sessions.popitem(last=False)
            session["end"] = max(session["end"], event.ts)
            session["events"] += 1
            if event.name == "pageview" and len(session["pages"]) < PATH_STEPS:
                session["pages"].append(event.path)

    def result(self) -> dict[str, Any]:
        """Recent events and sessions, newest first."""
        return {
            "recent_events": [
                event_view(e) for e in sorted(self.recent, key=lambda e: (e.ts, e.id), reverse=True)
            ],
            "sessions": list(reversed(self.sessions.values())),
        }
