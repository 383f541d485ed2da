"""Create the AsyncMongoClient and database handle with Eddy's write concern."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.write_concern import WriteConcern

# Acknowledged means durable: a majority of the replica set has journaled the write.
DURABLE = WriteConcern(w="majority", j=True)


def make_client(uri: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client created inside the running loop (after any fork), failing fast when the server is away."""
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        retryWrites=True,
        tz_aware=True,
        appname="eddy",
    )


def database(client: AsyncMongoClient[dict[str, Any]]) -> AsyncDatabase[dict[str, Any]]:
    """The database named in the URI, or `eddy`, with the durable write concern."""
    default = client.get_default_database(default="eddy")
    return client.get_database(default.name, write_concern=DURABLE)
