"""Records stored by the event store: one enriched analytics event.

The ingest pipeline builds these; every EventStore implementation stores and returns them unchanged.
Unknown text fields are empty strings (not None) so grouping and filtering need no null handling.
"""

from __future__ import annotations

import msgspec

PropValue = str | int | float | bool


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One stored event. `ts` is milliseconds since the Unix epoch, UTC."""

    id: str
    site_id: str
    ts: int
    name: str
    url: str = ""
    path: str = ""
    hostname: str = ""
    title: str = ""
    referrer: str = ""
    source: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    country: str = ""
    browser: str = ""
    os: str = ""
    device: str = ""
    screen: str = ""
    visitor_id: str = ""
    session_id: str = ""
    user_id: str = ""
    props: dict[str, PropValue] = {}
    traits: dict[str, str] = {}


# Columns in storage order; stores that keep events as rows use this single definition.
# The Event's text fields, in its own order (derived, so a new field cannot be forgotten here).
EVENT_TEXT_FIELDS: tuple[str, ...] = tuple(
    info.name for info in msgspec.structs.fields(Event) if info.type is str
)


def step_mask(event: Event, steps: object) -> int:
    """Bit i set when the event completes funnel step i (("event", name) or ("page", path[*]))."""
    mask = 0
    for index, (kind, value) in enumerate(steps):  # type: ignore[attr-defined]
        if kind == "event":
            hit = event.name == value
        else:
            hit = event.name == "pageview" and (
                event.path.startswith(value[:-1]) if value.endswith("*") else event.path == value
            )
        if hit:
            mask |= 1 << index
    return mask


def prop_text(value: PropValue) -> str:
    """The canonical text of a prop value, the same in every store: strings as they are, true/false, and
    numbers as Python writes them (a real's shortest round-trip repr: "2.0", "1e-05")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)
