"""The AsyncMongoClient, its timeouts and write concern, shared by the document and event stores.

Timeouts (PyMongo's client-side operation timeout, `timeoutMS`): every operation, server selection and
retries included, ends within `OPERATION_TIMEOUT_MS`; the driver sends the remaining time as `maxTimeMS`
and drops `wtimeout` from the write concern (pymongo/_csot.py `apply_write_concern`), so a majority write
that cannot be acknowledged fails instead of blocking. Server selection waits `SERVER_SELECTION_MS`,
longer than a replica-set election (~10-12 s with the default `electionTimeoutMillis`), so a retryable
write or read issued during a failover reaches the new primary instead of failing. `wtimeout` is kept in
the write concern for operations run without a client timeout.
"""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.write_concern import WriteConcern

from storage.errors import opened
from storage.mongo.errors import mapped

OPERATION_TIMEOUT_MS = 20_000
SERVER_SELECTION_MS = 15_000
CONNECT_TIMEOUT_MS = 5_000
PING_TIMEOUT_S = 2.0

# Acknowledged means durable: a majority of the replica set has journaled the write.
DURABLE = WriteConcern(w="majority", j=True, wtimeout=OPERATION_TIMEOUT_MS)


def client_options() -> dict[str, Any]:
    """The options every Eddy client is created with."""
    return {
        "timeoutMS": OPERATION_TIMEOUT_MS,
        "serverSelectionTimeoutMS": SERVER_SELECTION_MS,
        "connectTimeoutMS": CONNECT_TIMEOUT_MS,
        "retryWrites": True,
        "retryReads": True,
        "tz_aware": True,
        "appname": "eddy",
    }


def make_client(uri: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client created inside the running loop (after any fork)."""
    return AsyncMongoClient(uri, **client_options())


def database(client: Any) -> AsyncDatabase[dict[str, Any]]:
    """The database named in the URI, or `eddy`, with the durable write concern."""
    default = client.get_default_database(default="eddy")
    return client.get_database(default.name, write_concern=DURABLE)


class MongoConnection:
    """One client per process, shared by the stores that use it: opened by the first `acquire`, closed by
    the last `release`. Tests give the stores a subclass whose `connect` returns a fake database."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._client: Any = None
        self._db: Any = None
        self._users = 0

    def connect(self) -> tuple[Any, Any]:
        """(client, database) for this URI."""
        client = make_client(self.uri)
        return client, database(client)

    async def acquire(self) -> Any:
        """The database handle, connecting on first use."""
        if self._db is None:
            self._client, self._db = self.connect()
        self._users += 1
        return self._db

    async def release(self) -> None:
        """Drop one user; the client closes with the last."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._client is not None:
            client, self._client, self._db = self._client, None, None
            await client.close()


def connection_for(target: str | MongoConnection) -> MongoConnection:
    """A store's connection: the shared one it was given, or its own for a plain URI."""
    return target if isinstance(target, MongoConnection) else MongoConnection(target)


async def ping(db: Any, store: str) -> None:
    """Ask the server behind a store's database handle for a ping (within PING_TIMEOUT_S); `store` names
    the store in the error raised when it is not open."""
    handle = opened(db, store)
    async with mapped("ping"):
        with pymongo.timeout(PING_TIMEOUT_S):
            await handle.command("ping")
