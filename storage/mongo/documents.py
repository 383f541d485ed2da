"""DocumentStore on MongoDB: one collection per Eddy collection, `_id` = the document id, unique indexes
created at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError as MongoDuplicateKeyError
from pymongo.errors import PyMongoError

from storage.errors import DuplicateKeyError, StoreUnavailableError
from storage.mongo.client import database, make_client
from storage.ports import (
    COLLECTION_NAMES,
    COLLECTIONS,
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


class MongoDocumentStore:
    """Documents in the database named by the URI (default `eddy`), collections prefixed `docs_`."""

    def __init__(self, uri: str, prefix: str = "") -> None:
        self._uri = uri
        self._prefix = prefix
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._db: Any = None

    def _coll(self, collection: str) -> Any:
        if collection not in COLLECTION_NAMES:
            raise ValueError(f"unknown collection {collection!r}")
        if self._db is None:
            raise StoreUnavailableError("mongo document store is not open")
        return self._db[f"{self._prefix}{collection}"]

    async def open(self) -> None:
        self._client = make_client(self._uri)
        self._db = database(self._client)
        try:
            for spec in COLLECTIONS:
                coll = self._coll(spec.name)
                for field in spec.indexed:
                    await coll.create_index([(field, ASCENDING)], name=f"ix_{field}")
                for fields in spec.unique:
                    await coll.create_index(
                        [(f, ASCENDING) for f in fields],
                        name=f"ux_{'_'.join(fields)}",
                        unique=True,
                    )
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo: {error}") from error

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._db = None

    async def ping(self) -> None:
        if self._db is None:
            raise StoreUnavailableError("mongo document store is not open")
        try:
            await self._db.command("ping")
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo: {error}") from error

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
            await coll.insert_one({"_id": doc_id, **doc})
        except MongoDuplicateKeyError as error:
            raise self._duplicate(collection, error) from None

    async def get(self, collection: str, doc_id: str) -> Document | None:
        doc = await self._coll(collection).find_one({"_id": doc_id})
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
            cursor = cursor.sort([("_id" if sort == "id" else sort, direction), ("_id", direction)])
        if limit is not None:
            cursor = cursor.limit(int(limit))
        return [_out(doc) async for doc in cursor]

    async def count(self, collection: str, where: Mapping[str, Scalar]) -> int:
        return int(await self._coll(collection).count_documents(_query(where)))

    async def update(self, collection: str, where: Mapping[str, Scalar], changes: Mapping[str, Any]) -> int:
        if not changes:
            return await self.count(collection, where)
        check_document(changes)
        if "id" in changes:
            raise ValueError("id cannot change")
        try:
            result = await self._coll(collection).update_many(_query(where), {"$set": dict(changes)})
        except MongoDuplicateKeyError as error:
            raise self._duplicate(collection, error) from None
        return int(result.matched_count)

    async def delete(self, collection: str, where: Mapping[str, Scalar]) -> int:
        result = await self._coll(collection).delete_many(_query(where))
        return int(result.deleted_count)
