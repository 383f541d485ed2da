"""An in-memory stand-in for PyMongo's async database and collections, with faults injected at chosen
calls, for the MongoDB stores' unit tests (no server can run here).

It keeps documents, enforces unique indexes, and evaluates the query subset the stores send from their
write paths (equality on dotted paths, $in, $lt/$lte/$gt/$gte, $ne, $exists, $or, $and). Aggregations
are not evaluated. It follows PyMongo 4's contract where the tests depend on it:

- unordered `insert_many` stores every document it can and raises `BulkWriteError` whose details list
  each failed index with code 11000 (and `writeConcernErrors` when a fault says so);
- a reply lost after the server applied a write (`Fault(lost_reply=True)`) is retried by the driver
  only for retryable writes (`insert_one`, `insert_many`, `update_one`, `delete_one`,
  `find_one_and_update`: single-document or insert; pymongo/asynchronous/collection.py passes
  `acknowledged and not multi` as retryable), and the server answers the retry from its record, so the
  caller sees success; `update_many` and `delete_many` raise `AutoReconnect` to the caller instead.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    CollectionInvalid,
    DuplicateKeyError,
    OperationFailure,
)
from pymongo.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

from storage.mongo.client import MongoConnection

RETRYABLE = frozenset({"insert_one", "insert_many", "update_one", "delete_one", "find_one_and_update"})


@dataclass
class Fault:
    """Raise `error` at the `nth` (1-based) call of `method` on collection `collection` (or on the
    database when `collection` is "db"). `lost_reply`: the write is applied before the failure.
    `write_concern_error`: for insert_many, the documents are applied and a BulkWriteError with
    writeConcernErrors is raised. `times`: how many consecutive calls fail."""

    method: str
    collection: str = ""
    nth: int = 1
    error: BaseException | None = None
    lost_reply: bool = False
    write_concern_error: bool = False
    times: int = 1
    seen: int = 0
    fired: int = 0

    def hits(self, method: str, collection: str) -> bool:
        if method != self.method or (self.collection and collection != self.collection):
            return False
        self.seen += 1
        if self.seen >= self.nth and self.fired < self.times:
            self.fired += 1
            return True
        return False


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


_MISSING = object()


def _cmp_ok(value: Any, op: str, arg: Any) -> bool:
    if value is _MISSING:
        return op in ("$ne",) and arg is not None
    if op == "$in":
        return value in arg
    if op == "$ne":
        return value != arg
    if op == "$exists":
        return bool(arg)
    try:
        if op == "$lt":
            return value < arg
        if op == "$lte":
            return value <= arg
        if op == "$gt":
            return value > arg
        if op == "$gte":
            return value >= arg
    except TypeError:
        return False
    raise NotImplementedError(op)


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    """Whether `doc` matches a query in the supported subset."""
    for key, cond in query.items():
        if key == "$or":
            if not any(matches(doc, sub) for sub in cond):
                return False
            continue
        if key == "$and":
            if not all(matches(doc, sub) for sub in cond):
                return False
            continue
        if key.startswith("$"):
            raise NotImplementedError(key)
        value = _get(doc, key)
        if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
            if "$exists" in cond and (value is not _MISSING) != bool(cond["$exists"]):
                return False
            if not all(_cmp_ok(value, op, arg) for op, arg in cond.items() if op != "$exists"):
                return False
        elif value is _MISSING or value != cond:
            return False
    return True


class FakeCursor:
    """find()'s cursor: sort, limit, batch_size, hint, async iteration."""

    def __init__(self, coll: FakeCollection, query: dict[str, Any], projection: Any) -> None:
        self._coll = coll
        self._query = query
        self._projection = projection
        self._sort: list[tuple[str, int]] = []
        self._limit = 0
        self.hinted: Any = None
        self.closed = False

    def sort(self, keys: list[tuple[str, int]]) -> FakeCursor:
        self._sort = list(keys)
        return self

    def limit(self, n: int) -> FakeCursor:
        self._limit = n
        return self

    def batch_size(self, n: int) -> FakeCursor:
        return self

    async def close(self) -> None:
        self.closed = True

    def hint(self, index: Any) -> FakeCursor:
        self.hinted = index
        return self

    def _results(self) -> list[dict[str, Any]]:
        self._coll.db.call(self._coll.name, "find")
        docs = [copy.deepcopy(d) for d in self._coll.docs if matches(d, self._query)]
        for key, direction in reversed(self._sort):
            docs.sort(key=lambda d, k=key: _sort_key(_get(d, k)), reverse=direction < 0)
        if self._limit:
            docs = docs[: self._limit]
        if self._projection:
            keep = [k for k, v in self._projection.items() if v]
            docs = [{k: d[k] for k in ["_id", *keep] if k in d} for d in docs]
        return docs

    def __aiter__(self) -> Any:
        async def gen() -> Any:
            for doc in self._results():
                yield doc

        return gen()


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is _MISSING or value is None:
        return (0, 0)
    if isinstance(value, dt.datetime):
        return (2, value.timestamp())
    if isinstance(value, int | float):
        return (1, value)
    return (3, str(value))


@dataclass
class Index:
    name: str
    keys: list[tuple[str, int]]
    unique: bool = False
    options: dict[str, Any] = field(default_factory=dict)


class FakeCollection:
    """One collection: documents, indexes and the write and read methods the stores call."""

    def __init__(self, db: FakeDatabase, name: str) -> None:
        self.db = db
        self.name = name
        self.docs: list[dict[str, Any]] = []
        self.indexes: dict[str, Index] = {}
        self._next_id = 0
        self.version = 0  # bumped by every write: the mongomock copy is rebuilt after one

    # -- helpers
    def _duplicate(self, doc: dict[str, Any]) -> str | None:
        for other in self.docs:
            if "_id" in doc and other.get("_id") == doc["_id"]:
                return "_id_"
            for index in self.indexes.values():
                if index.unique and all(_get(other, k) == _get(doc, k) for k, _ in index.keys):
                    return index.name
        return None

    def _store(self, doc: dict[str, Any]) -> None:
        doc = copy.deepcopy(doc)
        if "_id" not in doc:
            self._next_id += 1
            doc["_id"] = f"{self.name}:{self._next_id}"
        self.docs.append(doc)

    async def _write(self, method: str, apply: Callable[[], Any]) -> Any:
        self.version += 1
        fault = self.db.fault_for(self.name, method)
        if fault is None:
            return apply()
        if fault.lost_reply:
            result = apply()
            if method in RETRYABLE:
                return result  # the driver retried; the server answered from its record
            raise fault.error or AutoReconnect("connection closed before the reply")
        raise fault.error or AutoReconnect("connection refused")

    # -- writes
    async def insert_one(self, doc: dict[str, Any]) -> InsertOneResult:
        def apply() -> InsertOneResult:
            index = self._duplicate(doc)
            if index:
                raise DuplicateKeyError(
                    f"E11000 duplicate key error index: {index}", 11000, {"keyPattern": self._pattern(index)}
                )
            self._store(doc)
            return InsertOneResult(doc.get("_id"), True)

        return await self._write("insert_one", apply)

    def _pattern(self, index: str) -> dict[str, int]:
        if index == "_id_":
            return {"_id": 1}
        return dict(self.indexes[index].keys)

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> InsertManyResult:
        self.version += 1
        fault = self.db.fault_for(self.name, "insert_many")

        def apply() -> InsertManyResult:
            errors = []
            for i, doc in enumerate(docs):
                if self._duplicate(doc):
                    errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key error"})
                    if ordered:
                        break
                    continue
                self._store(doc)
            wce = (
                [{"code": 64, "errmsg": "waiting for replication timed out"}]
                if fault and fault.write_concern_error
                else []
            )
            if errors or wce:
                raise BulkWriteError(
                    {"writeErrors": errors, "writeConcernErrors": wce, "nInserted": len(docs) - len(errors)}
                )
            return InsertManyResult([d.get("_id") for d in docs], True)

        if fault is None or fault.write_concern_error:
            return apply()
        if fault.lost_reply:
            result = apply()
            return result  # insert_many is a retryable write: the driver's retry is answered from the record
        raise fault.error or AutoReconnect("connection refused")

    def _update(self, query: dict[str, Any], update: dict[str, Any], multi: bool) -> UpdateResult:
        matched = 0
        for doc in self.docs:
            if matches(doc, query):
                matched += 1
                for key, value in update.get("$set", {}).items():
                    doc[key] = copy.deepcopy(value)
                if not multi:
                    break
        return UpdateResult({"n": matched, "nModified": matched}, True)

    async def update_one(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False
    ) -> UpdateResult:
        def apply() -> UpdateResult:
            result = self._update(query, update, False)
            if upsert and not result.matched_count:
                self._store(
                    {**{k: v for k, v in query.items() if not k.startswith("$")}, **update.get("$set", {})}
                )
            return result

        return await self._write("update_one", apply)

    async def update_many(self, query: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        return await self._write("update_many", lambda: self._update(query, update, True))

    def _delete(self, query: dict[str, Any], multi: bool) -> DeleteResult:
        gone = [d for d in self.docs if matches(d, query)]
        if not multi:
            gone = gone[:1]
        self.docs = [d for d in self.docs if not any(d is g for g in gone)]
        return DeleteResult({"n": len(gone)}, True)

    async def delete_one(self, query: dict[str, Any]) -> DeleteResult:
        return await self._write("delete_one", lambda: self._delete(query, False))

    async def delete_many(self, query: dict[str, Any]) -> DeleteResult:
        self.db.deletes.append((self.name, query))
        return await self._write("delete_many", lambda: self._delete(query, True))

    # -- reads
    def find(self, query: dict[str, Any] | None = None, projection: Any = None) -> FakeCursor:
        cursor = FakeCursor(self, query or {}, projection)
        self.db.cursors.append(cursor)
        return cursor

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        self.db.call(self.name, "find_one")
        for doc in self.docs:
            if matches(doc, query):
                return copy.deepcopy(doc)
        return None

    async def count_documents(self, query: dict[str, Any]) -> int:
        self.db.call(self.name, "count_documents")
        return sum(1 for d in self.docs if matches(d, query))

    async def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Records the pipeline. The next canned answer queued for this collection in `db.answers` is
        returned when there is one; else, with `db.evaluate`, mongomock evaluates the pipeline (a final
        `$merge` is applied here, by `_id`); else a pipeline ending in `$merge` yields nothing and any
        other raises NotImplementedError."""
        self.db.call(self.name, "aggregate")
        self.db.pipelines.append((self.name, pipeline))
        queued = self.db.answers.get(self.name)
        if queued:
            return _ListCursor(copy.deepcopy(queued.pop(0)))
        merge = pipeline[-1].get("$merge") if pipeline else None
        if self.db.evaluate:
            rows = list(self._mock().aggregate(pipeline[:-1] if merge else pipeline))
            if merge:
                self.db[merge["into"]].merge(rows, merge)
                return _ListCursor([])
            return _ListCursor(rows)
        if merge:
            return _ListCursor([])
        raise NotImplementedError("the fake evaluates no aggregation unless db.evaluate is set")

    def _mock(self) -> Any:
        """A mongomock collection holding these documents (rebuilt after writes)."""
        import mongomock

        key = (len(self.docs), self.version)
        if getattr(self, "_mock_key", None) != key:
            coll = mongomock.MongoClient(tz_aware=True).db[self.name]
            if self.docs:
                coll.insert_many(copy.deepcopy(self.docs))
            self._mock_coll, self._mock_key = coll, key
        return self._mock_coll

    def merge(self, rows: list[dict[str, Any]], spec: dict[str, Any]) -> None:
        """$merge on `_id`: whenMatched replace|merge, whenNotMatched insert|discard."""
        self.version += 1
        for row in rows:
            existing = next((d for d in self.docs if d.get("_id") == row["_id"]), None)
            if existing is None:
                if spec.get("whenNotMatched", "insert") == "insert":
                    self._store(row)
            elif spec.get("whenMatched", "merge") == "replace":
                existing.clear()
                existing.update(copy.deepcopy(row))
            else:
                existing.update(copy.deepcopy(row))

    async def find_one_and_update(
        self, query: dict[str, Any], update: dict[str, Any], upsert: bool = False, **kwargs: Any
    ) -> dict[str, Any] | None:
        def apply() -> dict[str, Any] | None:
            for doc in self.docs:
                if matches(doc, query):
                    doc.update(copy.deepcopy(update.get("$set", {})))
                    return copy.deepcopy(doc)
            if not upsert:
                return None
            new = {k: v for k, v in query.items() if not k.startswith("$")}
            new.update(copy.deepcopy(update.get("$set", {})))
            if self._duplicate(new):
                raise DuplicateKeyError("E11000 duplicate key error", 11000, {"keyPattern": {"_id": 1}})
            self._store(new)
            return copy.deepcopy(new)

        return await self._write("find_one_and_update", apply)

    # -- indexes
    async def create_index(
        self, keys: list[tuple[str, int]], name: str, unique: bool = False, **options: Any
    ) -> str:
        self.db.call(self.name, "create_index")
        self.indexes[name] = Index(name, list(keys), unique, options)
        return name

    async def drop_index(self, name: str) -> None:
        self.db.call(self.name, "drop_index")
        if name not in self.indexes:
            raise OperationFailure(f"index not found with name [{name}]", 27)
        del self.indexes[name]


class _ListCursor:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self._items = items

    def __aiter__(self) -> Any:
        async def gen() -> Any:
            for item in self._items:
                yield item

        return gen()


class FakeDatabase:
    """The database: collections by name, create_collection, command, list_collections, faults."""

    def __init__(self, version: str = "7.0.14") -> None:
        self.collections: dict[str, FakeCollection] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.commands: list[tuple[Any, ...]] = []
        self.deletes: list[tuple[str, dict[str, Any]]] = []
        self.pipelines: list[tuple[str, list[dict[str, Any]]]] = []
        self.answers: dict[str, list[list[dict[str, Any]]]] = {}
        self.evaluate = False  # evaluate aggregations with mongomock
        self.cursors: list[FakeCursor] = []
        self.version = version
        self.name = "eddy"

    def __getitem__(self, name: str) -> FakeCollection:
        if name not in self.collections:
            self.collections[name] = FakeCollection(self, name)
        return self.collections[name]

    def fault_for(self, collection: str, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.hits(method, collection):
                return fault
        return None

    def call(self, collection: str, method: str) -> None:
        """A read or admin call: raise if a fault is set for it."""
        fault = self.fault_for(collection, method)
        if fault is not None:
            raise fault.error or AutoReconnect("connection refused")

    async def create_collection(self, name: str, **options: Any) -> FakeCollection:
        self.call("db", "create_collection")
        if name in self.options:
            raise CollectionInvalid(f"collection {name} already exists")
        self.options[name] = options
        return self[name]

    async def list_collections(self, filter: dict[str, Any] | None = None) -> _ListCursor:
        self.call("db", "list_collections")
        items = [
            {"name": n, "options": o} for n, o in self.options.items() if matches({"name": n}, filter or {})
        ]
        return _ListCursor(items)

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.call("db", name)
        self.commands.append((name, *args, kwargs))
        if name == "buildInfo":
            return {"version": self.version, "versionArray": [int(p) for p in self.version.split(".")] + [0]}
        if name == "collMod":
            self.options[args[0]].update(kwargs)
        return {"ok": 1}


class FakeConnection(MongoConnection):
    """A MongoConnection handing out one FakeDatabase."""

    def __init__(self, db: FakeDatabase) -> None:
        super().__init__("mongodb://fake.invalid/eddy")
        self.db = db
        self.users = 0
        self.closed = 0

    async def acquire(self) -> Any:
        self.users += 1
        return self.db

    async def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.closed += 1
