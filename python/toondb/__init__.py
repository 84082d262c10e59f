"""ToonDB: a log-structured key-value store for LLM context retrieval.

Embedded mode runs the engine inside this process::

    from toondb import Database

    with Database.open("./my_database") as db:
        db.put(b"users/alice/email", b"alice@example.com")
        with db.transaction() as txn:
            txn.put_path("users/alice/name", b"Alice")
        for key, value in db.scan_prefix(b"users/alice/"):
            print(key, value)
"""

from ._collection import Collection, SearchResult
from .database import Database, Transaction
from .ipc import IpcClient, IpcTransaction
from .query import Query
from .errors import (
    CollectionError,
    CollectionExistsError,
    CollectionNotFoundError,
    ConnectionError,
    DatabaseError,
    ErrorCode,
    ProtocolError,
    ToonDBError,
    TransactionConflictError,
    TransactionError,
)

__version__ = "0.3.0"

__all__ = [
    "Database",
    "Transaction",
    "IpcClient",
    "IpcTransaction",
    "Query",
    "Collection",
    "SearchResult",
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
    "__version__",
]
