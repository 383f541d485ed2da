"""Stats answers as the API sends them: the Structs of domain/stats/answers.py as plain JSON values."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import msgspec


async def as_json(answer: Awaitable[msgspec.Struct]) -> Any:
    """The awaited answer as JSON values (keys spelled as sent, unset keys left out)."""
    return msgspec.to_builtins(await answer)
