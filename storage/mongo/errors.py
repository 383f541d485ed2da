"""Which PyMongo errors mean "the store is unavailable, retry later" and which are bugs.

Unavailable (StoreUnavailableError: 503 with Retry-After, the ingest writer retries): no server could be
selected, the connection failed or timed out, the node stepped down or is shutting down, the operation ran
out of its time limit, or the write concern could not be satisfied (the write may not be durable).
Everything else (an invalid pipeline, an unknown timezone, a document too large, a bad index option)
propagates unchanged, so it surfaces as a 500 with its traceback in the log rather than hiding as an outage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from storage.errors import StoreUnavailableError

# Server codes of transient conditions (pymongo/helpers_shared.py `_RETRYABLE_ERROR_CODES` and the
# retryable-reads/writes specifications), plus time limits and a pool/primary not yet available.
TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        50,  # MaxTimeMSExpired
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        133,  # FailedToSatisfyReadPreference
        134,  # ReadConcernMajorityNotAvailableYet
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10058,  # LegacyNotPrimary
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
        64,  # WriteConcernFailed (wtimeout)
        100,  # UnsatisfiableWriteConcern
        43,  # CursorNotFound (a read cursor lost in a failover): the export is retried
        175,  # QueryPlanKilled
        237,  # CursorKilled
    }
)
_LABELS = ("RetryableWriteError", "TransientTransactionError", "SystemOverloadedError")


def is_transient(error: BaseException) -> bool:
    """True when `error` means the store cannot answer now (a retry later may succeed)."""
    if not isinstance(error, PyMongoError):
        return False
    if isinstance(error, ConnectionFailure | WriteConcernError) or error.timeout:
        return True
    if any(error.has_error_label(label) for label in _LABELS):
        return True
    if isinstance(error, BulkWriteError):
        details = error.details or {}
        if details.get("writeConcernErrors"):
            return True
        return any(err.get("code") in TRANSIENT_CODES for err in details.get("writeErrors", []))
    return isinstance(error, OperationFailure) and error.code in TRANSIENT_CODES


def unavailable(operation: str, error: PyMongoError) -> StoreUnavailableError:
    """The StoreUnavailableError for a transient failure of `operation`."""
    return StoreUnavailableError(f"mongo {operation}: {type(error).__name__}: {error}")


@asynccontextmanager
async def mapped(operation: str) -> AsyncIterator[None]:
    """Run a block, turning transient PyMongo errors into StoreUnavailableError; others pass through."""
    try:
        yield
    except PyMongoError as error:
        if is_transient(error):
            raise unavailable(operation, error) from error
        raise
