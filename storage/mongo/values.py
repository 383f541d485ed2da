"""Prop values as the text the embedded store compares and groups them by.

The SQLite store reads a prop as `CAST(json_extract(props, '$.x') AS TEXT)`: integers as written, reals as
SQLite prints them (15 significant digits, always a decimal point: "2.0", "1.0e-05", "0.333333333333333"),
booleans as "true"/"false". MongoDB's `$toString` renders doubles differently ("2", "1e-05"), so the
MongoDB store writes the text of every non-string prop next to the value (`pt.<name>`) when it stores the
event, and filters and groups on that text. Reals are printed by SQLite itself (an in-memory connection,
microseconds a value): its digit generation rounds differently from an exact conversion at large
exponents, so no Python formatting reproduces it for every double.
"""

from __future__ import annotations

import sqlite3
from typing import Any

_PRINTER = sqlite3.connect(":memory:", check_same_thread=False)


def real_text(value: float) -> str:
    """SQLite's text for a REAL."""
    return str(_PRINTER.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0])


def prop_text(value: Any) -> str:
    """The canonical text of one prop value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return real_text(value)
    return str(value)


def prop_texts(props: dict[str, Any]) -> dict[str, str]:
    """Texts of the props that are not strings (strings are their own text)."""
    return {name: prop_text(value) for name, value in props.items() if not isinstance(value, str)}
