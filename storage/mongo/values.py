"""Prop values as the text the embedded store compares and groups them by.

Every store filters and groups a prop by one canonical text (`storage.records.prop_text`): strings as they
are, booleans as "true"/"false", integers as written and reals as Python's shortest round-trip repr
("2.0", "1e-05", "0.30000000000000004"), so two different doubles never share a text. MongoDB's `$toString`
renders doubles differently ("2", "1e-05"), so the MongoDB store writes the text of every non-string prop
next to the value (`pt.<name>`) when it stores the event, and filters and groups on that text.
"""

from __future__ import annotations

from typing import Any

from storage.records import prop_text

__all__ = ["prop_text", "prop_texts"]


def prop_texts(props: dict[str, Any]) -> dict[str, str]:
    """Texts of the props that are not strings (strings are their own text)."""
    return {name: prop_text(value) for name, value in props.items() if not isinstance(value, str)}
