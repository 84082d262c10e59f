"""Exceptions raised by the ToonDB SDK.

Every error is a :class:`ToonDBError`. Errors that come from the engine carry its stable error
``code`` (the ``TOONDB_E_*`` values of ``toondb.h``) and its own message, which names the key,
path, file or limit involved.
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
    "ToonDBError",
    "DatabaseError",
    "TransactionError",
    "TransactionConflictError",
    "ConnectionError",
    "ProtocolError",
    "CollectionError",
    "CollectionNotFoundError",
    "CollectionExistsError",
    "ErrorCode",
]


class ErrorCode:
    """The engine's error codes (stable; part of the C ABI)."""

    INVALID_ARGUMENT = 1
    KEY_TOO_LARGE = 2
    VALUE_TOO_LARGE = 3
    CONFLICT = 4
    TRANSACTION_CLOSED = 5
    DATABASE_CLOSED = 6
    LOCKED = 7
    CORRUPTION = 8
    IO = 9
    DISK_FULL = 10
    WRITES_STOPPED = 11
    INTERNAL = 12
    # Vector collections (CollectionError.Code in ToonDBCollections).
    COLLECTION_INVALID_ARGUMENT = 20
    COLLECTION_NOT_FOUND = 21
    COLLECTION_EXISTS = 22
    WRONG_DIMENSION = 23
    INVALID_VECTOR = 24
    INVALID_METADATA = 25
    CORRUPT_RECORD = 26


class ToonDBError(Exception):
    """Base class of every ToonDB error.

    Attributes:
        message: the reason, as the engine or server stated it.
        code: the engine's error code (see :class:`ErrorCode`), or None when the error did not
            come from the engine.
    """

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class DatabaseError(ToonDBError):
    """A database operation failed: bad arguments, a closed database, I/O, corruption."""


class TransactionError(ToonDBError):
    """A transaction could not be used or committed (already finished, unknown id)."""


class TransactionConflictError(TransactionError):
    """Commit lost a write-write conflict: another transaction committed one of the same keys
    after this one began (first committer wins). Nothing was written; retry the transaction."""


class ConnectionError(ToonDBError, builtins.ConnectionError):  # noqa: A001 - ToonDB's name
    """The IPC client could not reach or lost the server (also a builtin ConnectionError)."""


class ProtocolError(ToonDBError):
    """The server sent something the client could not understand, or refused a frame."""


class CollectionError(DatabaseError):
    """A vector collection operation failed: a wrong dimension, an invalid vector (NaN, or all
    zeros under cosine), metadata that is not a JSON object, a bad filter."""


class CollectionNotFoundError(CollectionError):
    """No collection has that name (or it was dropped)."""


class CollectionExistsError(CollectionError):
    """``create_collection`` with a name that is taken."""


def collection_error(message: str, code: int) -> Optional[ToonDBError]:
    """The exception for a collection error code (20-26), or None for any other code."""
    if code == ErrorCode.COLLECTION_NOT_FOUND:
        return CollectionNotFoundError(message, code)
    if code == ErrorCode.COLLECTION_EXISTS:
        return CollectionExistsError(message, code)
    if 20 <= code <= 26:
        return CollectionError(message, code)
    return None
