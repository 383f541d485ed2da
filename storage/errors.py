"""Typed storage errors shared by every implementation."""

from typing import TypeVar

T = TypeVar("T")


class StorageError(Exception):
    """Base class for storage failures the domain may handle."""


class DuplicateKeyError(StorageError):
    """A write would violate a unique index (e.g. an email already registered)."""

    def __init__(self, collection: str, fields: tuple[str, ...] = ()) -> None:
        self.collection = collection
        self.fields = fields
        super().__init__(f"duplicate key in {collection}: {', '.join(fields) or '?'}")


class StoreUnavailableError(StorageError):
    """The backing store cannot be reached or refused the write; the caller may retry later."""


class QueryTooSlowError(StoreUnavailableError):
    """An analytics question ran past its time budget, or its caller went away, and was stopped."""


def opened(handle: T | None, store: str) -> T:
    """The handle of an open store (a runner, a database); StoreUnavailableError naming `store` while it is
    not open (None)."""
    if handle is None:
        raise StoreUnavailableError(f"{store} is not open")
    return handle
