"""Creating collections and indexes at start-up, safely when several workers start at once.

Every worker of `--processes N` (and every host) runs the same start-up against a possibly empty database:
`create_collection` races are expected (the loser sees `CollectionInvalid` from PyMongo's existence check
or the server's NamespaceExists), identical `createIndexes` calls are no-ops on the server, and a retention
change is applied to an existing time-series collection with `collMod`.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import CollectionInvalid, OperationFailure

NAMESPACE_EXISTS = 48
INDEX_NOT_FOUND = 27
NAMESPACE_NOT_FOUND = 26


async def ensure_collection(db: Any, name: str, **options: Any) -> bool:
    """Create a collection unless it exists; True if this call created it."""
    try:
        await db.create_collection(name, **options)
    except CollectionInvalid:
        return False
    except OperationFailure as error:
        if error.code == NAMESPACE_EXISTS:
            return False  # another worker created it between PyMongo's check and our create
        raise
    return True


async def collection_options(db: Any, name: str) -> dict[str, Any]:
    """The options of an existing collection ({} when it is absent)."""
    cursor = await db.list_collections(filter={"name": name})
    async for info in cursor:
        return dict(info.get("options") or {})
    return {}


async def drop_index_if_present(coll: Any, name: str) -> None:
    """Drop an index left by an older release; absent is fine."""
    try:
        await coll.drop_index(name)
    except OperationFailure as error:
        if error.code not in (INDEX_NOT_FOUND, NAMESPACE_NOT_FOUND):
            raise
