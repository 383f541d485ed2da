"""The plain-Python reference of which events an EventFilter keeps: what the differential, conformance and
mongomock tests compare every store with. Written from the documented meaning (storage/ports.py), not
from any store's translation."""

from __future__ import annotations

from typing import Any

from storage.ports import Condition, EventFilter
from storage.records import Event


def prop_text(value: Any) -> str | None:
    """A prop's text as every store compares it (None when the event lacks the prop)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def lower_ascii(text: str) -> str:
    """A-Z lowered, everything else kept (`contains` ignores the case of ASCII letters only)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def condition_holds(e: Event, condition: Condition) -> bool:
    """Whether one condition keeps the event; a missing prop or trait fails every positive test."""
    if condition.kind == "field":
        text: str | None = getattr(e, condition.name)
    elif condition.kind == "prop":
        text = prop_text(e.props.get(condition.name))
    else:
        text = e.traits.get(condition.name)
    if text is None:
        hit = False
    elif condition.op == "is":
        hit = text in condition.values
    elif condition.op == "contains":
        hit = any(lower_ascii(v) in lower_ascii(text) for v in condition.values)
    else:
        hit = any(text.startswith(v) for v in condition.values)
    return hit != condition.negate


def matches(e: Event, flt: EventFilter) -> bool:
    """Whether the filter keeps the event."""
    if e.site_id != flt.site_id or not flt.start <= e.ts < flt.end:
        return False
    if any(getattr(e, field) != value for field, value in flt.equals.items()):
        return False
    if any(prop_text(e.props.get(name)) != value for name, value in flt.props.items()):
        return False
    if any(e.traits.get(name) != value for name, value in flt.traits.items()):
        return False
    if not all(condition_holds(e, c) for c in flt.conditions):
        return False
    return e.path.startswith(flt.path_prefix)
