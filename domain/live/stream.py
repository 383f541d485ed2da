"""One dashboard's stream: its event-tail filters and a bounded queue of messages to send.

A transport (a websocket or an SSE response) sends one message at a time; the next leaves when the previous
one has been flushed to the socket. Messages that pile up behind a slow client wait in a queue of at most
`limit` messages; one more and the client is dropped (the transport closes it with a clear code), so a slow
dashboard never makes the server buffer without bound. No task per stream: sending is driven by callbacks.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from domain.errors import Invalid

log = logging.getLogger("eddy.live")
QUEUE_LIMIT = 32
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
MAX_FILTER_TEXT = 200


class Transport(Protocol):
    """Where a stream's messages go."""

    def send(self, text: str) -> Awaitable[None] | None:
        """Send one message; the awaitable resolves when it has been flushed (None: done already)."""

    def drop(self, reason: str) -> None:
        """Close the connection because its client cannot keep up."""


# The tail's filter keys are the history's (domain/stats/query.py, the dashboard's filter bar): `event`,
# `page` (a trailing `*` matches a prefix, as in `page==/blog/*`), `country`, `source`, `browser`, `os`,
# `device`, each an exact value. `name` and `path_prefix` are the older spellings of `event` and of
# `page` with a `*`, still accepted.
FILTER_KEYS = ("event", "page", "country", "source", "browser", "os", "device")
_ALIASES = {"name": "event", "path_prefix": "page"}


@dataclass(frozen=True)
class Filters:
    """Which events the tail shows: every set key must match (see FILTER_KEYS)."""

    event: str = ""
    page: str = ""
    country: str = ""
    source: str = ""
    browser: str = ""
    os: str = ""
    device: str = ""

    @property
    def active(self) -> bool:
        return any(getattr(self, key) for key in FILTER_KEYS)

    def matches(self, event: dict[str, Any]) -> bool:
        """True when a recent event passes every set filter."""
        if self.event and event.get("name") != self.event:
            return False
        if self.page:
            path = str(event.get("path", ""))
            if self.page.endswith("*"):
                if not path.startswith(self.page[:-1]):
                    return False
            elif path != self.page:
                return False
        for key in ("country", "source", "browser", "os", "device"):
            wanted = getattr(self, key)
            if wanted and event.get(key) != wanted:
                return False
        return True

    def as_dict(self) -> dict[str, str]:
        """The set filters under their names."""
        return {key: value for key in FILTER_KEYS if (value := getattr(self, key))}


def parse_filters(raw: Any) -> Filters:
    """Filters from a client message or query arguments; raises Invalid with per-field reasons."""
    if raw is None:
        return Filters()
    if not isinstance(raw, dict):
        raise Invalid("filter must be an object", fields={"filter": "expected an object"})
    problems: dict[str, str] = {}
    values: dict[str, str] = {}
    for key, value in raw.items():
        name = _ALIASES.get(key, key)
        if name not in FILTER_KEYS:
            problems[str(key)[:50]] = "unknown filter"
            continue
        if value is None:
            value = ""
        if not isinstance(value, str):
            problems[key] = "expected a string"
        elif len(value) > MAX_FILTER_TEXT:
            problems[key] = f"at most {MAX_FILTER_TEXT} characters"
        elif name == "country" and value and not _COUNTRY.fullmatch(value):
            problems[key] = "a two-letter country code"
        elif values.get(name):
            problems[key] = "given twice"
        else:
            if key == "path_prefix" and value:
                value += "*"
            values[name] = value.upper() if name == "country" else value
    if problems:
        raise Invalid("invalid filter", code="invalid_filter", fields=problems)
    return Filters(**values)


_NO_FILTERS = Filters()


class LiveStream:
    """A dashboard's subscription to one site. Slots and a queue made only when something waits keep
    an idle dashboard small (thousands of them may be open)."""

    __slots__ = ("_queue", "_sending", "closed", "filters", "limit", "on_drop", "site_id", "transport")

    def __init__(self, site_id: str, transport: Transport, filters: Filters | None = None) -> None:
        self.site_id = site_id
        self.transport = transport
        self.filters = filters or _NO_FILTERS
        self.limit = QUEUE_LIMIT
        self._queue: deque[str] | None = None
        self._sending = False
        self.closed = False
        self.on_drop: Callable[[], None] | None = None

    @property
    def queued(self) -> int:
        """Messages waiting behind the one being sent."""
        return len(self._queue) if self._queue else 0

    def offer(self, text: str) -> bool:
        """Queue one message; False (and the client dropped) when the queue is full."""
        if self.closed:
            return False
        if self._queue is None:
            self._queue = deque()
        if len(self._queue) >= self.limit:
            self.close()
            if self.on_drop is not None:
                self.on_drop()
            self.transport.drop("too slow: messages piled up")
            return False
        self._queue.append(text)
        if not self._sending:
            self._pump()
        return True

    def close(self) -> None:
        """Stop sending and forget queued messages."""
        self.closed = True
        self._queue = None

    def _pump(self) -> None:
        while self._queue and not self.closed:
            text = self._queue.popleft()
            if not self._queue:
                self._queue = None  # an idle stream holds no queue
            try:
                pending = self.transport.send(text)
            except Exception as error:  # noqa: BLE001 - a closed socket: its close handler cleans up
                log.debug("live send failed: %s", error)
                self.close()
                return
            if pending is None:
                continue
            future: Any = pending
            if hasattr(future, "done") and future.done():
                if future.exception() is not None:
                    self.close()
                    return
                continue
            self._sending = True
            future.add_done_callback(self._sent)
            return

    def _sent(self, future: Any) -> None:
        self._sending = False
        if future.cancelled() or future.exception() is not None:
            self.close()
            return
        self._pump()
