"""Row queries over an IPC connection (QUERY, opcode 0x07).

The server groups the keys under a prefix into rows: a key ``a/b/c…`` with at least three
``/``-separated segments belongs to row ``a/b``, column ``c…``. The reply is a TOON document
whose one key, ``result``, holds the rows as a tabular array::

    rows = client.query("users/").select(["email", "name"]).limit(10).to_list()
    # [{"email": "alice@example.com", "name": "Alice"}, ...]; a missing cell is None
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Union

from . import toon
from ._wire import U16, U16_MAX, u16_bytes, u32_arg
from .errors import ProtocolError

if TYPE_CHECKING:  # pragma: no cover
    from .ipc import IpcClient

__all__ = ["Query"]

_LIMITS = struct.Struct("<II")


class Query:
    """A row query over the keys starting with a prefix; build it with :meth:`IpcClient.query`.

    :meth:`limit`, :meth:`offset` and :meth:`select` return the query itself, so calls chain.
    Rows are ordered by row key (byte order); ``offset`` skips rows, ``limit`` caps them
    (0 = all). Columns are the :meth:`select` list in its order, or, without one, every column
    seen in the returned rows, sorted.
    """

    def __init__(self, client: "IpcClient", prefix: Union[str, bytes, bytearray, memoryview]) -> None:
        if isinstance(prefix, str):
            data = prefix.encode("utf-8")
        elif isinstance(prefix, (bytes, bytearray, memoryview)):
            data = bytes(prefix)
        else:
            raise TypeError(f"prefix must be str or bytes, not {type(prefix).__name__}")
        u16_bytes(data, "prefix")
        self._client = client
        self._prefix = data
        self._limit = 0
        self._offset = 0
        self._columns: List[str] = []

    @property
    def prefix(self) -> bytes:
        """The key prefix the query reads."""
        return self._prefix

    def limit(self, n: int) -> "Query":
        """Returns at most ``n`` rows (0: no limit). Raises ``ValueError`` for a negative ``n``."""
        self._limit = u32_arg(n, "limit")
        return self

    def offset(self, n: int) -> "Query":
        """Skips the first ``n`` rows. Raises ``ValueError`` for a negative ``n``."""
        self._offset = u32_arg(n, "offset")
        return self

    def select(self, columns: Union[str, Sequence[str]], *more: str) -> "Query":
        """Returns only these columns, in this order: ``select(["email", "name"])`` or
        ``select("email", "name")``. An empty list selects every column. Names must be
        non-empty ``str``."""
        names = [columns, *more] if isinstance(columns, str) else [*columns, *more]
        if len(names) > U16_MAX:
            raise ValueError(f"{len(names)} columns; the protocol allows at most {U16_MAX}")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"column names must be str, not {type(name).__name__}")
            if not name:
                raise ValueError("column names must not be empty")
            u16_bytes(name.encode("utf-8"), "column name")
        self._columns = names
        return self

    def _payload(self) -> bytes:
        """``path_len u16, path, limit u32, offset u32, ncols u16, {col_len u16, col}*``."""
        parts = [u16_bytes(self._prefix, "prefix"), _LIMITS.pack(self._limit, self._offset),
                 U16.pack(len(self._columns))]
        parts.extend(u16_bytes(name.encode("utf-8"), "column name") for name in self._columns)
        return b"".join(parts)

    def execute(self) -> str:
        """Runs the query and returns the server's TOON text (a document with one key,
        ``result``, holding a tabular array)."""
        return self._client._query(self._payload())

    def to_list(self) -> List[Dict[str, Optional[str]]]:
        """Runs the query and decodes the reply: one dict per row, column → value (``None`` for
        a missing cell). Raises :class:`ProtocolError` when the reply is not a TOON document
        holding a ``result`` array."""
        text = self.execute()
        try:
            document = toon.decode(text)
        except toon.ToonDecodeError as error:
            raise ProtocolError(f"QUERY reply is not valid TOON: {error}") from None
        if not isinstance(document, dict) or "result" not in document:
            raise ProtocolError("QUERY reply has no 'result' key")
        rows = document["result"]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ProtocolError("QUERY reply's 'result' is not an array of rows")
        return rows

    def __repr__(self) -> str:
        return (f"<toondb.Query prefix={self._prefix!r} limit={self._limit} offset={self._offset} "
                f"columns={self._columns!r}>")
