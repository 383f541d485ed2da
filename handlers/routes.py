"""Routes written as the OpenAPI document writes their paths (`/api/v1/sites/{site_id}/keys/{key_id}`), so a
module names each path once for its routes and its `openapi_operations`: every `{name}` segment becomes a
regex group of one id (letters, digits, `_` and `-`, at most 64), passed to the method as an argument."""

from __future__ import annotations

import re
from typing import Any

ID = r"([A-Za-z0-9_-]{1,64})"
_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def route(path: str, handler: type, *options: Any, **patterns: str) -> tuple[Any, ...]:
    """The Tornado route of `path` (an OpenAPI path template with no other regex characters) served by
    `handler` (with `options`, its `initialize` arguments); `patterns` give a segment another regex group
    than ID, by name."""
    regex = _SEGMENT.sub(lambda segment: patterns.get(segment[1], ID), path)
    return (regex, handler, *options)
