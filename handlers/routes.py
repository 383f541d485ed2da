"""Routes written as the OpenAPI document writes their paths (`/api/v1/sites/{site_id}/keys/{key_id}`), so a
module names each path once: every `{name}` segment becomes a regex group of one id (letters, digits, `_`
and `-`, at most 64), passed to the method as an argument, and the route keeps the path it was written as
(its documented methods are described under that path, see handlers/operations.py)."""

from __future__ import annotations

import re
from typing import Any

ID = r"([A-Za-z0-9_-]{1,64})"
_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Route(tuple[Any, ...]):
    """A Tornado route `(regex, handler, *options)` that also knows its OpenAPI path (`path`)."""

    path: str

    def __new__(cls, path: str, regex: str, handler: type, *options: Any) -> Route:
        entry = super().__new__(cls, (regex, handler, *options))
        entry.path = path
        return entry

    def __getnewargs__(self) -> tuple[Any, ...]:  # copy and pickle build it again from these
        return (self.path, *self)


def route(path: str, handler: type, *options: Any, **patterns: str) -> Route:
    """The Tornado route of `path` (an OpenAPI path template with no regex characters: a `.` is a dot)
    served by `handler` (with `options`, its `initialize` arguments); `patterns` give a segment another
    regex group than ID, by name."""
    regex = _SEGMENT.sub(lambda segment: patterns.get(segment[1], ID), path.replace(".", r"\."))
    return Route(path, regex, handler, *options)
