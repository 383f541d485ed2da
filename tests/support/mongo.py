"""The MongoDB legs of the tests: the server they use (MONGODB_URI), the skip when there is none, and
per-test collection prefixes dropped afterwards."""

from __future__ import annotations

import os
from typing import Any

import pytest

MONGODB_URI = os.environ.get("MONGODB_URI")
MONGO_SKIP_REASON = (
    "MONGODB_URI is not set: the MongoDB legs need a real MongoDB server, and none can be installed on "
    "this machine (no registry here carries one). Set MONGODB_URI=mongodb://... to run them."
)
needs_mongo = pytest.mark.skipif(not MONGODB_URI, reason=MONGO_SKIP_REASON)
# The fixtures are dated 2025 and the events collection expires documents `retention_days` after their ts
# (its TTL index): the MongoDB legs keep ten years so the TTL monitor cannot delete fixtures mid-run.
MONGO_RETENTION_DAYS = 3650


def mongo_prefix(prefix: str) -> str:
    """A test's unique key prefix as a collection-name prefix."""
    return prefix.replace(":", "_")


async def drop_mongo_prefix(prefix: str) -> None:
    """Drop every collection whose name starts with `prefix`."""
    from storage.mongo.client import database, make_client

    client = make_client(MONGODB_URI or "")
    db = database(client)
    for name in await db.list_collection_names():
        if name.startswith(prefix):
            await db.drop_collection(name)
    await client.close()


# Every stage and expression operator the pipelines may use (all present in MongoDB 6.0).
MONGO_60 = {
    "$match", "$project", "$group", "$set", "$unwind", "$sort", "$limit", "$sum", "$min", "$max",
    "$addToSet", "$cond", "$eq", "$ne", "$concat", "$literal", "$subtract", "$add", "$multiply",
    "$dateTrunc", "$dateToString", "$minute", "$second", "$millisecond", "$ifNull", "$gte", "$lt",
    "$expr", "$and", "$or", "$in", "$substrCP",
}  # fmt: skip


def operators(value: Any) -> set[str]:
    """Every `$` stage and operator name used anywhere in a pipeline (or part of one)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$"):
                found.add(key)
            found |= operators(item)
    elif isinstance(value, list):
        for item in value:
            found |= operators(item)
    return found
