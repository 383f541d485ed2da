"""Translate an EventFilter into a SQL WHERE clause for row-shaped event tables (SQLite)."""

from __future__ import annotations

import re
from typing import Any

from storage.ports import EventFilter
from storage.records import EVENT_TEXT_FIELDS

_FILTERABLE = frozenset(EVENT_TEXT_FIELDS) - {"site_id"}
_KEY_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def check_key_name(name: str) -> str:
    """Prop and trait names are restricted to [A-Za-z0-9_-]{1,64}; raise ValueError otherwise."""
    if not _KEY_NAME.fullmatch(name):
        raise ValueError(f"invalid property name {name!r}")
    return name


def event_where(flt: EventFilter) -> tuple[str, list[Any]]:
    """A `WHERE ...` clause (with placeholders) and its parameters."""
    clauses = ["site_id = ?", "ts >= ?", "ts < ?"]
    params: list[Any] = [flt.site_id, flt.start, flt.end]
    for field, value in flt.equals.items():
        if field not in _FILTERABLE:
            raise ValueError(f"cannot filter on {field!r}")
        clauses.append(f"{field} = ?")
        params.append(value)
    for column, mapping in (("props", flt.props), ("traits", flt.traits)):
        for name, value in mapping.items():
            # Values compare as their canonical text: strings as-is, numbers as written, true/false.
            path = f'$."{check_key_name(name)}"'
            clauses.append(
                f"(CASE json_type({column}, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
                f" ELSE CAST(json_extract({column}, ?) AS TEXT) END) = ?"
            )
            params.extend((path, path, value))
    if flt.path_prefix:
        # substr comparison instead of LIKE: no wildcard escaping to get wrong.
        clauses.append("substr(path, 1, ?) = ?")
        params.extend((len(flt.path_prefix), flt.path_prefix))
    return " WHERE " + " AND ".join(clauses), params
