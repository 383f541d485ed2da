"""DocumentStore on MongoDB: one collection per Eddy collection, `_id` = the document id, unique indexes
created at start-up.

Writes addressed to one document (`where` names its id) use `update_one` / `delete_one`, which PyMongo
retries once after a network error or a failover (retryable writes); multi-document writes are never
retried by the driver. The refresh-token swap is a compare-and-set on one id: a lost reply to a plain
`update_many` would surface as an error, the caller's retry would then match nothing, and the family
would be revoked as a reuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError as MongoDuplicateKeyError

from storage.errors import DuplicateKeyError, opened
from storage.mongo.client import MongoConnection, connection_for, ping
from storage.mongo.errors import mapped
from storage.mongo.schema import drop_index_if_present
from storage.ports import (
    COLLECTION_NAMES,
    COLLECTIONS,
    CollectionSpec,
    Document,
    Scalar,
    check_document,
    check_filter,
)


def _query(where: Mapping[str, Scalar]) -> dict[str, Any]:
    check_filter(where)
    return {("_id" if key == "id" else key): value for key, value in where.items()}


def _out(doc: Mapping[str, Any]) -> Document:
    out = dict(doc)
    out.pop("_id", None)
    return out


def index_plan(spec: CollectionSpec) -> tuple[list[tuple[str, tuple[str, ...], bool]], list[str]]:
    """([(name, fields, unique), ...] to create, [names of redundant indexes to drop]). A plain index on a
    field that a unique index already leads with is redundant: the unique index serves its queries."""
    create: list[tuple[str, tuple[str, ...], bool]] = []
    drop: list[str] = []
    leading = {fields[0] for fields in spec.unique}
    for field in spec.indexed:
        if field in leading:
            drop.append(f"ix_{field}")
        else:
            create.append((f"ix_{field}", (field,), False))
    for fields in spec.unique:
        create.append((f"ux_{'_'.join(fields)}", fields, True))
    return create, drop


class MongoDocumentStore:
    """Documents in the database named by the URI (default `eddy`), collection names prefixed."""

    def __init__(self, uri: str | MongoConnection, prefix: str = "") -> None:
        self._connection = connection_for(uri)
        self._prefix = prefix
        self._db: Any = None

    def _coll(self, collection: str) -> Any:
        if collection not in COLLECTION_NAMES:
            raise ValueError(f"unknown collection {collection!r}")
        return opened(self._db, "mongo document store")[f"{self._prefix}{collection}"]

    async def open(self) -> None:
        """Connect and create the indexes (identical concurrent index builds are no-ops on the server)."""
        self._db = await self._connection.acquire()
        async with mapped("open"):
            for spec in COLLECTIONS:
                coll = self._coll(spec.name)
                create, drop = index_plan(spec)
                for name, fields, unique in create:
                    options = {"unique": True} if unique else {}
                    await coll.create_index([(f, ASCENDING) for f in fields], name=name, **options)
                for name in drop:
                    await drop_index_if_present(coll, name)

    async def close(self) -> None:
        if self._db is not None:
            self._db = None
            await self._connection.release()

    async def ping(self) -> None:
        await ping(self._db, "mongo document store")

    @staticmethod
    def _duplicate(collection: str, error: MongoDuplicateKeyError) -> DuplicateKeyError:
        pattern = (error.details or {}).get("keyPattern") or {}
        fields = tuple("id" if key == "_id" else key for key in pattern) or ("id",)
        return DuplicateKeyError(collection, fields)

    async def insert(self, collection: str, doc: Document) -> None:
        coll = self._coll(collection)
        check_document(doc)
        doc_id = doc.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("document needs a string id")
        try:
            async with mapped("insert"):
                await coll.insert_one({"_id": doc_id, **doc})
        except MongoDuplicateKeyError as error:
            raise self._duplicate(collection, error) from None

    async def get(self, collection: str, doc_id: str) -> Document | None:
        coll = self._coll(collection)
        async with mapped("get"):
            doc = await coll.find_one({"_id": doc_id})
        return _out(doc) if doc else None

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar],
        *,
        sort: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        cursor = self._coll(collection).find(_query(where))
        if sort is not None:
            check_filter({sort: None})
            direction = DESCENDING if descending else ASCENDING
            if sort == "id":
                cursor = cursor.sort([("_id", direction)])
            else:
                # Ties by id ascending in both directions, as the embedded store orders them.
                cursor = cursor.sort([(sort, direction), ("_id", ASCENDING)])
        if limit is not None:
            cursor = cursor.limit(int(limit))
        async with mapped("find"):
            return [_out(doc) async for doc in cursor]

    async def count(self, collection: str, where: Mapping[str, Scalar]) -> int:
        coll = self._coll(collection)
        async with mapped("count"):
            return int(await coll.count_documents(_query(where)))

    async def update(self, collection: str, where: Mapping[str, Scalar], changes: Mapping[str, Any]) -> int:
        if not changes:
            return await self.count(collection, where)
        check_document(changes)
        if "id" in changes:
            raise ValueError("id cannot change")
        coll = self._coll(collection)
        query = _query(where)
        try:
            async with mapped("update"):
                if "_id" in query:  # at most one document: retryable
                    result = await coll.update_one(query, {"$set": dict(changes)})
                else:
                    result = await coll.update_many(query, {"$set": dict(changes)})
        except MongoDuplicateKeyError as error:
            raise self._duplicate(collection, error) from None
        return int(result.matched_count)

    async def delete(self, collection: str, where: Mapping[str, Scalar]) -> int:
        coll = self._coll(collection)
        query = _query(where)
        async with mapped("delete"):
            if "_id" in query:
                result = await coll.delete_one(query)
            else:
                result = await coll.delete_many(query)
        return int(result.deleted_count)
