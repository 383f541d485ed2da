"""The one rule every store applies to prop and trait names before they become part of a query."""

from __future__ import annotations

import re

_KEY_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def check_key_name(name: str) -> str:
    """Prop and trait names are restricted to [A-Za-z0-9_-]{1,64}; raise ValueError otherwise."""
    if not _KEY_NAME.fullmatch(name):
        raise ValueError(f"invalid property name {name!r}")
    return name
