"""IPC mode: a client of a ToonDB server (``toondb serve`` / ``toondb-server``) over its Unix
domain socket, speaking the binary protocol of ``docs/ipc-protocol.md``.

::

    from toondb import IpcClient

    with IpcClient.connect("./my_database/toondb.sock") as client:
        client.put(b"users/alice/email", b"alice@example.com")
        print(client.get(b"users/alice/email"))
        with client.transaction() as txn:          # commits on success, aborts on exception
            txn.put_path(["users", "alice", "name"], b"Alice")
        print(client.query("users/").select(["email", "name"]).to_list())
        docs = client.create_collection("docs", dimension=384)   # vector collections
        docs.insert(1, embedding, {"title": "Intro"})
        print(docs.search(query_embedding, k=5))

Threads: an :class:`IpcClient` may be shared by any number of threads. One lock per client
serializes the requests, so every request stays paired with its reply (a streamed scan that is
being iterated does not hold the lock between batches: a request made meanwhile first reads the
rest of the stream into that scan's buffer). Requests from threads sharing a client therefore run
one at a time; open one client per thread for parallelism.

Errors: the server's ERROR replies (``<code>: <text>``) raise the exception the protocol
document names for ``code`` (``conflict`` → :class:`TransactionConflictError`;
``unknown_transaction``, ``transaction``, ``too_many_transactions`` →
:class:`TransactionError`; ``malformed``, ``unknown_opcode``, ``frame_too_large`` →
:class:`ProtocolError`; any other code → :class:`DatabaseError`), with the server's whole text
as the message and the code in the exception's ``server_code`` attribute. The collection codes
raise :class:`CollectionNotFoundError` (``collection_not_found``), :class:`CollectionExistsError`
(``collection_exists``) or :class:`CollectionError` (the others, and ``invalid_argument``
answering a collection request), with the C ABI's :class:`ErrorCode` (20-26) in ``code``. A lost
connection (refused, reset, end of stream, timeout) raises :class:`toondb.ConnectionError` naming
the socket path; a reply that does not parse raises :class:`ProtocolError`. After either of those,
and after ``frame_too_large`` or ``busy``, the client is closed. A request larger than
``max_frame_size`` raises :class:`ProtocolError` (``frame_too_large``) before anything is sent,
and the client stays open. Arguments the protocol cannot
carry (a segment longer than 65,535 bytes, a negative limit) raise ``ValueError`` or
``TypeError`` before anything is sent.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import struct
import threading
import time
from types import TracebackType
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from ._collection import ENCODINGS, Collection, check_create_arguments
from ._transaction import TransactionContext
from .errors import (
    CollectionError,
    ConnectionError,
    DatabaseError,
    ErrorCode,
    ProtocolError,
    ToonDBError,
    TransactionConflictError,
    TransactionError,
    collection_error,
)
from ._wire import U16, U16_MAX, u16_bytes, u32_arg
from .query import Query

__all__ = ["IpcClient", "IpcTransaction", "DEFAULT_MAX_FRAME_SIZE", "COLUMN_TYPES"]

BytesLike = Union[bytes, bytearray, memoryview]
Path = Union[str, Sequence[str]]
Pair = Tuple[bytes, bytes]
T = TypeVar("T")

#: The server's default ``max_frame_size``: 16 MiB + 64 KiB (a 16 MiB value with its key).
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024 + 64 * 1024

#: CREATE_TABLE column types, in wire order (type byte 0 to 5).
COLUMN_TYPES = ("Int64", "UInt64", "Float64", "Text", "Binary", "Bool")
_TYPE_CODES = {name.lower(): code for code, name in enumerate(COLUMN_TYPES)}

# Requests (docs/ipc-protocol.md).
PUT, GET, DELETE = 0x01, 0x02, 0x03
BEGIN_TXN, COMMIT_TXN, ABORT_TXN = 0x04, 0x05, 0x06
QUERY, CREATE_TABLE, PUT_PATH, GET_PATH, SCAN = 0x07, 0x08, 0x09, 0x0A, 0x0B
CHECKPOINT, STATS, PING, EXECUTE_SQL = 0x0C, 0x0D, 0x0E, 0x0F
KV_PUT, KV_GET, KV_DELETE = 0x10, 0x11, 0x12
PATH_PUT, PATH_GET, PATH_DELETE = 0x13, 0x14, 0x15
SCAN_STREAM, WRITE_BATCH, DESCRIBE_TABLE = 0x16, 0x17, 0x18
COLLECTION_CREATE, COLLECTION_DROP, COLLECTION_LIST, COLLECTION_INFO = 0x19, 0x1A, 0x1B, 0x1C
COLLECTION_INSERT, COLLECTION_DELETE, COLLECTION_GET, COLLECTION_SEARCH = 0x1D, 0x1E, 0x1F, 0x20
# Replies.
OK, ERROR, VALUE, TXN_ID, ROW, END_STREAM, STATS_REPLY, PONG = 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87
_REPLIES = frozenset((OK, ERROR, VALUE, TXN_ID, ROW, END_STREAM, STATS_REPLY, PONG))
_REPLY_NAMES = {OK: "OK", ERROR: "ERROR", VALUE: "VALUE", TXN_ID: "TXN_ID", ROW: "ROW",
                END_STREAM: "END_STREAM", STATS_REPLY: "STATS", PONG: "PONG"}

_HEADER = struct.Struct("<BI")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TXN_KEYLEN = struct.Struct("<QI")
_SCAN_HEAD = struct.Struct("<QBII")  # txn_id, mode, limit, a_len
_BATCH_HEAD = struct.Struct("<QI")  # txn_id, n
_BATCH_PUT = struct.Struct("<BI")  # op, key_len
_COLUMN_TAIL = struct.Struct("<BB")  # type, nullable
_CREATE_TAIL = struct.Struct("<IBIII")  # dimension, metric, m, ef_construction, ef_search
_INSERT_HEAD = struct.Struct("<IIB")  # count, dimension, has_metadata
_SEARCH_HEAD = struct.Struct("<IIBI")  # k, ef_search, format, filter_len
_HIT_HEAD = struct.Struct("<QfI")  # id, distance, meta_len
#: COLLECTION_CREATE's metric byte.
_METRIC_CODES = {"cosine": 0, "ip": 1, "l2": 2}

# Pipelined requests go out in windows of at most this many bytes (the socket buffer holds a
# window even while the server is not reading, so sending never waits on unread replies).
_PIPELINE_BYTES = 64 * 1024
_PIPELINE_REQUESTS = 1024
# Frames whose payload is larger are sent as header, then payload (no concatenation copy).
_COPY_LIMIT = 64 * 1024
_READ_BUFFER = 256 * 1024

_ERROR_CLASSES: Dict[str, Type[ToonDBError]] = {
    "conflict": TransactionConflictError,
    "unknown_transaction": TransactionError,
    "transaction": TransactionError,
    "too_many_transactions": TransactionError,
    "malformed": ProtocolError,
    "unknown_opcode": ProtocolError,
    "frame_too_large": ProtocolError,
}
_ENGINE_CODES = {
    "invalid_argument": ErrorCode.INVALID_ARGUMENT,
    "key_too_large": ErrorCode.KEY_TOO_LARGE,
    "value_too_large": ErrorCode.VALUE_TOO_LARGE,
    "conflict": ErrorCode.CONFLICT,
    "transaction": ErrorCode.TRANSACTION_CLOSED,
}
# Collection ERROR codes and the C ABI's numbers for them (toondb.errors.collection_error).
_COLLECTION_CODES = {
    "collection_not_found": ErrorCode.COLLECTION_NOT_FOUND,
    "collection_exists": ErrorCode.COLLECTION_EXISTS,
    "wrong_dimension": ErrorCode.WRONG_DIMENSION,
    "invalid_vector": ErrorCode.INVALID_VECTOR,
    "invalid_metadata": ErrorCode.INVALID_METADATA,
    "corrupt_record": ErrorCode.CORRUPT_RECORD,
}
# ERROR codes after which the server closes the connection.
_CLOSING_CODES = frozenset(("frame_too_large", "busy"))


def _bytes(value: Any, what: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(value).__name__}")


def _text_or_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return _bytes(value, what)


def _u16_text(text: Any, what: str) -> bytes:
    """``len u16, UTF-8 text``."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, not {type(text).__name__}")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{what} {text!r} is not valid Unicode text: {error.reason}") from None
    return u16_bytes(data, what)


def _encode_path(path: Path) -> bytes:
    """The protocol's path encoding: ``nseg u16, {seg_len u16, seg}*``.

    ``path`` is a list (or tuple) of segments, or a ``str`` such as ``"users/alice/email"``,
    split at ``/``. The server checks the segments (non-empty, no ``/``)."""
    if isinstance(path, str):
        segments: Sequence[str] = path.split("/")
    elif isinstance(path, (list, tuple)):
        segments = path
    else:
        raise TypeError(f"path must be a list of str segments or a str, not {type(path).__name__}")
    if not segments:
        raise ValueError("path has no segments")
    if len(segments) > U16_MAX:
        raise ValueError(f"path has {len(segments)} segments; the protocol allows at most {U16_MAX}")
    parts = [U16.pack(len(segments))]
    parts.extend(_u16_text(segment, "path segment") for segment in segments)
    return b"".join(parts)


def _txn_arg(txn_id: Any) -> int:
    if not isinstance(txn_id, int) or isinstance(txn_id, bool):
        raise TypeError(f"txn_id must be an int, not {type(txn_id).__name__}")
    if not 0 <= txn_id <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"txn_id {txn_id} is not a u64")
    return txn_id


def _server_error(payload: bytes) -> ToonDBError:
    """The exception for an ERROR frame's payload ``<code>: <text>``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return ProtocolError(f"ERROR reply is not UTF-8: {payload[:200]!r}")
    code, sep, _ = text.partition(":")
    code = code.strip()
    if not sep or not code or not all(c.islower() or c == "_" for c in code):
        return ProtocolError(f"ERROR reply without a '<code>: <text>' message: {text[:200]!r}")
    number = _COLLECTION_CODES.get(code)
    error = collection_error(text, number) if number is not None else None
    if error is None:
        error = _ERROR_CLASSES.get(code, DatabaseError)(text, _ENGINE_CODES.get(code))
    error.server_code = code  # type: ignore[attr-defined]
    return error


def _parse_rows(payload: bytes) -> List[Pair]:
    """A ROW frame: ``count u32, {key_len u32, key, val_len u32, value}*``."""
    try:
        (count,) = _U32.unpack_from(payload, 0)
        unpack = _U32.unpack_from
        pairs: List[Pair] = []
        append = pairs.append
        offset = 4
        for _ in range(count):
            (key_len,) = unpack(payload, offset)
            key_end = offset + 4 + key_len
            (value_len,) = unpack(payload, key_end)
            value_end = key_end + 4 + value_len
            append((payload[offset + 4:key_end], payload[key_end + 4:value_end]))
            offset = value_end
    except struct.error:
        raise ProtocolError(f"truncated ROW frame ({len(payload)} bytes)") from None
    if offset != len(payload):
        raise ProtocolError(f"ROW frame of {len(payload)} bytes does not match its {count} items")
    return pairs


def _found_value(payload: bytes) -> Optional[bytes]:
    """A KV_GET / PATH_GET VALUE: ``found u8``, then the value."""
    if not payload:
        raise ProtocolError("empty VALUE reply (expected the found byte)")
    found = payload[0]
    if found == 1:
        return payload[1:]
    if found == 0 and len(payload) == 1:
        return None
    raise ProtocolError(f"bad VALUE reply: found byte {found}, {len(payload)} bytes")


def _u64_payload(payload: bytes, what: str) -> int:
    if len(payload) != 8:
        raise ProtocolError(f"{what} reply has {len(payload)} bytes, expected a u64")
    return int(_U64.unpack(payload)[0])


def _txn_id(payload: bytes) -> int:
    return _u64_payload(payload, "TXN_ID")


def _checkpoint_lsn(payload: bytes) -> int:
    # ToonDB's original server answers CHECKPOINT with an empty OK: it has no LSN to give.
    if not payload:
        return 0
    return _u64_payload(payload, "CHECKPOINT")


def _end_stream_total(payload: bytes) -> int:
    return _u64_payload(payload, "END_STREAM")


def _batch_count(payload: bytes) -> int:
    if len(payload) != 4:
        raise ProtocolError(f"WRITE_BATCH reply has {len(payload)} bytes, expected the count u32")
    return int(_U32.unpack(payload)[0])


def _query_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"QUERY reply is not UTF-8 ({error.reason} at byte {error.start})") from None


def _json_reply(payload: bytes, what: str, kind: type) -> Any:
    try:
        result = json.loads(payload)
    except ValueError as error:
        raise ProtocolError(f"{what} reply is not JSON: {error}") from None
    if not isinstance(result, kind):
        raise ProtocolError(f"{what} reply is not a JSON {'object' if kind is dict else 'array'}")
    return result


def _collection_list(payload: bytes) -> List[Dict[str, Any]]:
    result = _json_reply(payload, "COLLECTION_LIST", list)
    if not all(isinstance(entry, dict) for entry in result):
        raise ProtocolError("COLLECTION_LIST reply has an entry that is not a JSON object")
    return result


def _collection_info(payload: bytes) -> Dict[str, Any]:
    return _json_reply(payload, "COLLECTION_INFO", dict)


def _insert_lsn(payload: bytes) -> int:
    return _u64_payload(payload, "COLLECTION_INSERT")


def _existed(payload: bytes) -> bool:
    if len(payload) != 1 or payload[0] > 1:
        raise ProtocolError(f"COLLECTION_DELETE reply {payload[:16]!r} is not the existed byte")
    return payload[0] == 1


def _hit_list(payload: bytes) -> bytes:
    """A binary hit list, checked for framing: ``count u32, {id u64, distance f32, meta_len u32,
    meta}*``."""
    try:
        (count,) = _U32.unpack_from(payload, 0)
        offset = 4
        for _ in range(count):
            length = _HIT_HEAD.unpack_from(payload, offset)[2]
            offset += _HIT_HEAD.size + length
    except struct.error:
        raise ProtocolError(f"truncated COLLECTION_SEARCH hit list ({len(payload)} bytes)") from None
    if offset != len(payload):
        raise ProtocolError(f"COLLECTION_SEARCH hit list of {len(payload)} bytes does not match its {count} hits")
    return payload


def _toon_hits(payload: bytes) -> bytes:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"COLLECTION_SEARCH TOON reply is not UTF-8 ({error.reason} at byte {error.start})") from None
    return payload


def _stats_json(payload: bytes) -> Dict[str, Any]:
    try:
        result = json.loads(payload)
    except ValueError as error:
        raise ProtocolError(f"STATS reply is not JSON: {error}") from None
    if not isinstance(result, dict):
        raise ProtocolError("STATS reply is not a JSON object")
    return result


class _Stream:
    """A SCAN_STREAM whose frames are being read: batches not yet handed out, whether its
    END_STREAM (or ERROR) arrived, and whether its iterator was abandoned."""

    __slots__ = ("batches", "done", "error", "received", "discard")

    def __init__(self) -> None:
        self.batches: Deque[List[Pair]] = collections.deque()
        self.done = False
        self.error: Optional[ToonDBError] = None
        self.received = 0
        self.discard = False


class IpcClient:
    """A connection to a ToonDB server's Unix socket. Create one with :meth:`connect`.

    Thread-safe (one lock per client; see the module docstring). Use it as a context manager
    or call :meth:`close`; closing the connection aborts the transactions it left open.
    """

    def __init__(self, sock: socket.socket, path: str, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        """Wraps a connected socket; prefer :meth:`connect`."""
        self.path = path
        self.max_frame_size = max_frame_size
        self._sock = sock
        self._timeout = sock.gettimeout()
        self._rfile = sock.makefile("rb", buffering=_READ_BUFFER)
        self._lock = threading.Lock()
        self._closed = False
        self._stream: Optional[_Stream] = None

    @classmethod
    def connect(cls, path: Union[str, "os.PathLike[str]"], timeout: Optional[float] = 30.0, *,
                max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> "IpcClient":
        """Connects to the server listening on the Unix socket ``path`` (by default the server
        uses ``<db>/toondb.sock``).

        Args:
            path: the socket file.
            timeout: seconds a connect, a send or a receive may wait (None: no limit). A timeout
                raises :class:`toondb.ConnectionError` and closes the client.
            max_frame_size: the server's ``max_frame_size``; a request whose payload would be
                larger raises :class:`ProtocolError` before it is sent (the server would close
                the connection).

        Raises:
            toondb.ConnectionError: nothing accepts on ``path``.

        A server at its client limit accepts the connection and refuses it with ``busy``: the
        first request then raises :class:`DatabaseError` (``server_code == "busy"``).
        """
        path = os.fspath(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except OSError as error:
            sock.close()
            reason = "timed out" if isinstance(error, socket.timeout) else (error.strerror or str(error))
            raise ConnectionError(f"cannot connect to the ToonDB server at {path}: {reason}") from error
        return cls(sock, path, max_frame_size=max_frame_size)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (by :meth:`close` or after a connection error)."""
        return self._closed

    def close(self) -> None:
        """Closes the connection; the server aborts the transactions it still had open.
        Calling it again does nothing. A request blocked in another thread fails with
        :class:`toondb.ConnectionError`."""
        self._close_now()

    def _close_now(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading
        except OSError:
            pass
        try:
            self._rfile.close()
        except Exception:  # noqa: BLE001 - closing regardless
            pass
        self._sock.close()

    def __enter__(self) -> "IpcClient":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self._close_now()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __repr__(self) -> str:
        return f"<toondb.IpcClient {self.path!r}{' closed' if self._closed else ''}>"

    # -- frames ---------------------------------------------------------------------------

    def _lost(self, reason: str, error: Optional[BaseException] = None) -> ConnectionError:
        """Closes the client and returns the ConnectionError to raise."""
        self._close_now()
        if isinstance(error, socket.timeout):
            reason = f"{reason}: timed out after {self._timeout} s"
        elif isinstance(error, OSError) and (error.strerror or str(error)):
            reason = f"{reason}: {error.strerror or error}"
        return ConnectionError(f"{reason} (ToonDB server at {self.path})")

    def _protocol(self, reason: str) -> ProtocolError:
        """Closes the client (the stream can no longer be trusted) and returns the error."""
        self._close_now()
        return ProtocolError(f"{reason} (ToonDB server at {self.path}); connection closed")

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionError(f"the connection to the ToonDB server at {self.path} is closed")

    def _frame_header(self, op: int, size: int) -> bytes:
        if size > self.max_frame_size:
            raise ProtocolError(f"frame_too_large: a request payload of {size} bytes exceeds "
                                f"max_frame_size {self.max_frame_size}; nothing was sent")
        return _HEADER.pack(op, size)

    def _frame(self, op: int, payload: bytes) -> bytes:
        return self._frame_header(op, len(payload)) + payload

    def _send(self, data: BytesLike) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            if not isinstance(error, socket.timeout):
                # The server may have refused the connection with an ERROR (busy) and closed it.
                refusal = self._pending_error()
                if refusal is not None:
                    self._close_now()
                    raise refusal from None
            raise self._lost("cannot send to the server", error) from None

    def _send_frame(self, op: int, parts: Sequence[BytesLike]) -> None:
        size = sum(len(part) for part in parts)
        header = self._frame_header(op, size)
        if size <= _COPY_LIMIT:
            self._send(b"".join((header, *parts)))
        else:  # keep a large payload (the last part) out of the copy
            self._send(b"".join((header, *parts[:-1])))
            self._send(parts[-1])

    def _pending_error(self) -> Optional[ToonDBError]:
        """After a failed send: an ERROR frame the server sent before closing, if any."""
        try:
            self._sock.settimeout(1.0)
            op, payload = self._read_frame()
        except Exception:  # noqa: BLE001 - best effort
            return None
        return _server_error(payload) if op == ERROR else None

    def _read_frame(self) -> Tuple[int, bytes]:
        """The next frame (any reply opcode, ERROR included)."""
        try:
            header = self._rfile.read(5)
        except (OSError, ValueError) as error:
            raise self._lost("cannot read from the server", error) from None
        if len(header) < 5:
            raise self._lost("the server closed the connection" + (" mid-frame" if header else ""))
        op, size = _HEADER.unpack(header)
        if op not in _REPLIES:
            raise self._protocol(f"unexpected reply opcode 0x{op:02x}")
        if size > 2 * self.max_frame_size:
            raise self._protocol(f"reply declares a {size}-byte payload, over twice max_frame_size")
        if not size:
            return op, b""
        try:
            payload = self._rfile.read(size)
        except (OSError, ValueError) as error:
            raise self._lost("cannot read from the server", error) from None
        if len(payload) < size:
            raise self._lost(f"the server closed the connection mid-reply ({len(payload)} of {size} bytes)")
        return op, payload

    def _reply(self, expected: int) -> bytes:
        """Reads the reply to one request: its payload when the opcode is ``expected``; the
        mapped exception for an ERROR."""
        op, payload = self._read_frame()
        if op == expected:
            return payload
        if op == ERROR:
            raise self._error_reply(payload)
        raise self._protocol(f"expected a {_REPLY_NAMES[expected]} reply, got {_REPLY_NAMES[op]}")

    def _error_reply(self, payload: bytes) -> ToonDBError:
        error = _server_error(payload)
        if getattr(error, "server_code", None) in _CLOSING_CODES or not hasattr(error, "server_code"):
            self._close_now()  # the server closes after these; a garbled ERROR desyncs
        return error

    def _ready(self) -> None:
        """With the lock held: the connection is open and no stream is in flight (an open
        streamed scan is read to its end into its buffer first)."""
        self._check_open()
        stream = self._stream
        while stream is not None and not stream.done:
            self._pump(stream)

    def _call(self, op: int, parts: Sequence[BytesLike], expected: int) -> bytes:
        """Sends one request and returns its reply's payload."""
        with self._lock:
            self._ready()
            self._send_frame(op, parts)
            return self._reply(expected)

    def _parsed(self, parse: Callable[[bytes], T], payload: bytes) -> T:
        """``parse(payload)``; a reply that does not parse closes the client."""
        try:
            return parse(payload)
        except ProtocolError as error:
            raise self._protocol(error.message) from None

    # -- streamed scans -------------------------------------------------------------------

    def _pump(self, stream: _Stream) -> None:
        """With the lock held: reads the next frame of ``stream``."""
        op, payload = self._read_frame()
        if op == ROW:
            rows = self._parsed(_parse_rows, payload) if not stream.discard else None
            if rows is None:
                (count,) = _U32.unpack_from(payload, 0) if len(payload) >= 4 else (0,)
                stream.received += count
            else:
                stream.received += len(rows)
                if rows:
                    stream.batches.append(rows)
            return
        stream.done = True
        self._stream = None
        if op == END_STREAM:
            total = self._parsed(_end_stream_total, payload)
            if total != stream.received and not stream.discard:
                raise self._protocol(f"END_STREAM counts {total} pairs but {stream.received} arrived")
        elif op == ERROR:
            error = self._error_reply(payload)
            if not stream.discard:
                stream.error = error
        else:
            raise self._protocol(f"unexpected {_REPLY_NAMES[op]} frame in a streamed scan")

    def _stream_pairs(self, txn_id: int, mode: int, limit: int, a: bytes, b: bytes) -> Iterator[Pair]:
        """Runs a SCAN_STREAM and yields its pairs as the ROW frames arrive."""
        stream = _Stream()
        with self._lock:
            self._ready()
            self._send_frame(SCAN_STREAM, (_SCAN_HEAD.pack(txn_id, mode, limit, len(a)), a, _U32.pack(len(b)), b))
            self._stream = stream
        try:
            while True:
                batches = stream.batches
                if batches:
                    yield from batches.popleft()
                    continue
                if stream.done:
                    if batches:
                        continue  # appended by another thread just before the end arrived
                    if stream.error is not None:
                        error, stream.error = stream.error, None
                        raise error
                    return
                with self._lock:
                    if not stream.done and not stream.batches:
                        self._check_open()
                        self._pump(stream)
        finally:
            if not stream.done:
                # Abandoned: the next request reads (and drops) the rest of the stream.
                stream.discard = True
                stream.batches.clear()

    def _scan_request(self, txn_id: int, prefix: Any) -> Iterator[Pair]:
        return self._stream_pairs(txn_id, 1, 0, _text_or_bytes(prefix, "prefix"), b"")

    def _range_request(self, txn_id: int, start: Any, end: Any, limit: int) -> Iterator[Pair]:
        return self._stream_pairs(txn_id, 0, u32_arg(limit, "limit"), _text_or_bytes(start, "start"),
                                  _text_or_bytes(end, "end"))

    # -- pipelining -----------------------------------------------------------------------

    def _pipeline(self, frames: Iterable[bytes], expected: int, parse: Callable[[bytes], T]) -> List[T]:
        """Sends ``frames`` in windows and reads each window's replies after sending it.
        Raises the first ERROR after reading the rest of its window (requests before the
        failing one, and those in its window, have run; later windows are not sent)."""
        results: List[T] = []
        with self._lock:
            self._ready()
            window = bytearray()
            pending = 0
            for frame in frames:
                window += frame
                pending += 1
                if len(window) >= _PIPELINE_BYTES or pending >= _PIPELINE_REQUESTS:
                    self._send(window)
                    self._collect(pending, expected, parse, results)
                    window.clear()
                    pending = 0
            if pending:
                self._send(window)
                self._collect(pending, expected, parse, results)
        return results

    def _collect(self, count: int, expected: int, parse: Callable[[bytes], T], results: List[T]) -> None:
        first_error: Optional[ToonDBError] = None
        for _ in range(count):
            op, payload = self._read_frame()
            if op == expected:
                if first_error is None:
                    results.append(self._parsed(parse, payload))
            elif op == ERROR:
                error = self._error_reply(payload)
                if self._closed:
                    raise error
                first_error = first_error or error
            else:
                raise self._protocol(f"expected a {_REPLY_NAMES[expected]} reply, got {_REPLY_NAMES[op]}")
        if first_error is not None:
            raise first_error

    # -- key-value ------------------------------------------------------------------------

    def ping(self) -> float:
        """Round trip of a PING, in seconds."""
        with self._lock:
            self._ready()
            start = time.perf_counter()
            self._send(_HEADER.pack(PING, 0))
            self._reply(PONG)
            return time.perf_counter() - start

    def put(self, key: BytesLike, value: BytesLike) -> None:
        """Stores ``value`` under ``key`` (PUT; commits on its own)."""
        key = _bytes(key, "key")
        value = _bytes(value, "value")
        self._call(PUT, (_U32.pack(len(key)), key, value), OK)

    def get(self, key: BytesLike) -> Optional[bytes]:
        """The value of ``key``: ``None`` when missing, ``b""`` for a found empty value (KV_GET)."""
        key = _bytes(key, "key")
        return self._parsed(_found_value, self._call(KV_GET, (_U64.pack(0), key), VALUE))

    def delete(self, key: BytesLike) -> None:
        """Deletes ``key`` (deleting a missing key is not an error)."""
        self._call(DELETE, (_bytes(key, "key"),), OK)

    def put_path(self, path: Path, value: BytesLike) -> None:
        """Stores ``value`` at a path: a list of segments (``["users", "alice", "email"]``) or a
        ``str`` split at ``/``. The key is the segments joined by ``/``."""
        self._call(PUT_PATH, (_encode_path(path), _bytes(value, "value")), OK)

    def get_path(self, path: Path) -> Optional[bytes]:
        """The value at ``path``, ``None`` when missing (PATH_GET)."""
        return self._parsed(_found_value, self._call(PATH_GET, (_U64.pack(0), _encode_path(path)), VALUE))

    def delete_path(self, path: Path) -> None:
        """Deletes the value at ``path``."""
        self._call(PATH_DELETE, (_U64.pack(0), _encode_path(path)), OK)

    def scan(self, prefix: Union[BytesLike, str] = b"") -> List[Dict[str, bytes]]:
        """Every pair whose key starts with ``prefix`` (bytes, or str as UTF-8), in key order, as
        ``[{"key": ..., "value": ...}]``. Streamed (SCAN_STREAM), so any size works."""
        return [{"key": key, "value": value} for key, value in self._scan_request(0, prefix)]

    def iter_scan(self, prefix: Union[BytesLike, str] = b"") -> Iterator[Pair]:
        """Yields ``(key, value)`` for the keys starting with ``prefix``, batch by batch as the
        server streams them. Stopping early is allowed; the protocol cannot cancel a stream,
        so the rest of it is still read (and dropped) before the next request."""
        return self._scan_request(0, prefix)

    def scan_range(self, start: Union[BytesLike, str] = b"", end: Union[BytesLike, str] = b"",
                   limit: int = 0) -> Iterator[Pair]:
        """Yields ``(key, value)`` with ``start <= key < end`` in key order (an empty bound is
        open), at most ``limit`` pairs (0: no limit)."""
        return self._range_request(0, start, end, limit)

    def get_many(self, keys: Iterable[BytesLike]) -> List[Optional[bytes]]:
        """The values of ``keys`` (``None`` for missing ones), pipelined: the requests go out
        in windows without waiting for each reply. Each read is its own (no common snapshot)."""
        head = _HEADER.pack
        prefix = _U64.pack(0)

        def frames() -> Iterator[bytes]:
            for key in keys:
                key = _bytes(key, "key")
                yield head(KV_GET, len(key) + 8) + prefix + key

        return self._pipeline(frames(), VALUE, _found_value)

    def put_many(self, pairs: Union[Mapping[BytesLike, BytesLike], Iterable[Tuple[BytesLike, BytesLike]]],
                 *, atomic: bool = True) -> int:
        """Stores every pair and returns how many. ``atomic=True``: one WRITE_BATCH that commits
        as one write (it must fit in one frame). ``atomic=False``: pipelined PUTs, each
        committing on its own, of any total size."""
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        if atomic:
            return self.write_batch((key, value) for key, value in items)

        def frames() -> Iterator[bytes]:
            for key, value in items:
                key = _bytes(key, "key")
                value = _bytes(value, "value")
                yield self._frame_header(PUT, 4 + len(key) + len(value)) + _U32.pack(len(key)) + key + value

        return len(self._pipeline(frames(), OK, lambda payload: None))

    def delete_many(self, keys: Iterable[BytesLike]) -> int:
        """Deletes every key atomically (one WRITE_BATCH); returns the count."""
        return self.write_batch((key, None) for key in keys)

    def write_batch(self, ops: Iterable[Tuple[BytesLike, Optional[BytesLike]]]) -> int:
        """Applies ``ops`` in order as one atomic write (WRITE_BATCH): ``(key, value)`` puts,
        ``(key, None)`` deletes. Returns the count the server reports. A malformed batch writes
        nothing."""
        return self._write_batch(0, ops)

    def _write_batch(self, txn_id: int, ops: Iterable[Tuple[BytesLike, Optional[BytesLike]]]) -> int:
        parts: List[bytes] = [b""]
        pack_op = _BATCH_PUT.pack
        pack_len = _U32.pack
        count = 0
        for op in ops:
            try:
                key, value = op
            except (TypeError, ValueError):
                raise TypeError(f"a batch operation is (key, value) or (key, None), not {op!r}") from None
            key = _bytes(key, "key")
            if value is None:
                parts.append(pack_op(1, len(key)))
                parts.append(key)
            else:
                value = _bytes(value, "value")
                parts.append(pack_op(0, len(key)))
                parts.append(key)
                parts.append(pack_len(len(value)))
                parts.append(value)
            count += 1
        parts[0] = _BATCH_HEAD.pack(txn_id, u32_arg(count, "batch size"))
        return self._parsed(_batch_count, self._call(WRITE_BATCH, (b"".join(parts),), OK))

    # -- transactions ---------------------------------------------------------------------

    def begin_transaction(self) -> int:
        """Begins a transaction owned by this connection (snapshot taken now); returns its id.
        Prefer :meth:`transaction`."""
        return self._parsed(_txn_id, self._call(BEGIN_TXN, (), TXN_ID))

    def commit(self, txn_id: int) -> int:
        """Commits transaction ``txn_id``; returns the commit timestamp (its LSN; the snapshot
        for a transaction that wrote nothing). Raises :class:`TransactionConflictError` on a
        write-write conflict (the transaction is then gone)."""
        return self._parsed(_txn_id, self._call(COMMIT_TXN, (_U64.pack(_txn_arg(txn_id)),), TXN_ID))

    def abort(self, txn_id: int) -> None:
        """Aborts transaction ``txn_id``, discarding its writes."""
        self._call(ABORT_TXN, (_U64.pack(_txn_arg(txn_id)),), OK)

    def transaction(self) -> "IpcTransaction":
        """Begins a transaction. As a context manager it commits when the block ends normally
        and aborts (re-raising) when it raises."""
        return IpcTransaction(self, self.begin_transaction())

    # -- queries, tables, maintenance -----------------------------------------------------

    def query(self, prefix: Union[str, BytesLike]) -> Query:
        """A row query over the keys starting with ``prefix`` (see :class:`Query`)."""
        return Query(self, prefix)

    def _query(self, payload: bytes) -> str:
        return self._parsed(_query_text, self._call(QUERY, (payload,), VALUE))

    def checkpoint(self) -> int:
        """Flushes the server's memory to tables; returns the checkpoint's LSN (0 from ToonDB's
        original server, which does not report one)."""
        return self._parsed(_checkpoint_lsn, self._call(CHECKPOINT, (), OK))

    def stats(self) -> Dict[str, Any]:
        """The server's statistics (connections, requests, bytes, engine statistics, ...)."""
        return self._parsed(_stats_json, self._call(STATS, (), STATS_REPLY))

    def create_table(self, name: str, columns: Sequence[Any]) -> None:
        """Stores a table schema (under ``_toondb/tables/<name>``).

        Each column is ``(name, type)``, ``(name, type, nullable)`` or a mapping with ``name``,
        ``type`` and optional ``nullable`` (default True); ``type`` is one of
        :data:`COLUMN_TYPES` (case-insensitive) or its index 0-5. The server validates the
        schema (``invalid_argument``) and refuses an existing name (``already_exists``).
        """
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
            raise TypeError("columns must be a sequence of (name, type[, nullable]) or mappings")
        if len(columns) > U16_MAX:
            raise ValueError(f"{len(columns)} columns; the protocol allows at most {U16_MAX}")
        parts = [_u16_text(name, "table name"), U16.pack(len(columns))]
        for column in columns:
            if isinstance(column, Mapping):
                col_name, col_type, nullable = column.get("name"), column.get("type"), column.get("nullable", True)
            elif isinstance(column, (tuple, list)) and len(column) in (2, 3):
                col_name, col_type = column[0], column[1]
                nullable = column[2] if len(column) == 3 else True
            else:
                raise TypeError(f"a column is (name, type[, nullable]) or a mapping, not {column!r}")
            if isinstance(col_type, str):
                code = _TYPE_CODES.get(col_type.lower())
                if code is None:
                    raise ValueError(f"unknown column type {col_type!r}: expected one of {', '.join(COLUMN_TYPES)}")
            elif isinstance(col_type, int) and not isinstance(col_type, bool) and 0 <= col_type <= 255:
                code = col_type
            else:
                raise ValueError(f"column type must be a type name or 0-5, not {col_type!r}")
            parts.append(_u16_text(col_name, "column name"))
            parts.append(_COLUMN_TAIL.pack(code, 1 if nullable else 0))
        self._call(CREATE_TABLE, (b"".join(parts),), OK)

    def describe_table(self, name: str) -> Dict[str, Any]:
        """The schema of table ``name`` as ``{"name": ..., "columns": [{"name", "type",
        "nullable"}]}`` (``type`` a :data:`COLUMN_TYPES` name). Raises :class:`DatabaseError`
        (``not_found``) for an unknown table."""
        return self._parsed(_parse_table, self._call(DESCRIBE_TABLE, (_u16_text(name, "table name"),), VALUE))

    # -- vector collections ---------------------------------------------------------------

    def create_collection(self, name: str, dimension: int, metric: str = "cosine", m: int = 16,
                          ef_construction: int = 100, ef_search: int = 64, encoding: str = "f32") -> Collection:
        """Creates a vector collection and returns it (COLLECTION_CREATE).

        Args:
            name: 1 to 128 characters of ``[A-Za-z0-9_.-]``.
            dimension: components per vector (1 to 65,536).
            metric: ``"cosine"``, ``"ip"`` (inner product) or ``"l2"`` (squared Euclidean).
            m, ef_construction: HNSW graph parameters (neighbours per node, build beam width).
            ef_search: the default search beam width.
            encoding: ``"f32"``, ``"f16"`` or ``"int8"``: what the index's graph walk reads
                (results are re-ranked on the exact vectors).

        Raises:
            CollectionExistsError: the name is taken.
            CollectionError: the server refused a name or setting.
            ValueError, TypeError: arguments the protocol cannot carry (nothing is sent).
        """
        check_create_arguments(name, dimension, metric, m, ef_construction, ef_search, encoding)
        tail = _CREATE_TAIL.pack(u32_arg(dimension, "dimension"), _METRIC_CODES[metric], u32_arg(m, "m"),
                                 u32_arg(ef_construction, "ef_construction"), u32_arg(ef_search, "ef_search"))
        if encoding != "f32":  # the optional last byte; absent means f32 (older servers accept that form)
            tail += bytes([ENCODINGS.index(encoding)])
        self._collection_call(COLLECTION_CREATE, (_u16_text(name, "collection name"), tail), OK)
        return Collection(self, {"name": name, "dimension": dimension, "metric": metric, "m": m,
                                 "ef_construction": ef_construction, "ef_search": ef_search, "encoding": encoding})

    def collection(self, name: str) -> Collection:
        """The existing collection ``name``. Raises :class:`CollectionNotFoundError`."""
        return Collection(self, self._collection_info(name))

    def drop_collection(self, name: str) -> None:
        """Deletes collection ``name`` and its items (COLLECTION_DROP). Raises
        :class:`CollectionNotFoundError` for an unknown name."""
        self._collection_call(COLLECTION_DROP, (_u16_text(name, "collection name"),), OK)

    def list_collections(self) -> List[Dict[str, Any]]:
        """Every collection in name order, as ``{"name", "dimension", "metric", "m",
        "ef_construction", "ef_search"}`` (COLLECTION_LIST)."""
        return self._parsed(_collection_list, self._collection_call(COLLECTION_LIST, (), VALUE))

    def _collection_call(self, op: int, parts: Sequence[BytesLike], expected: int) -> bytes:
        """``_call`` for a collection request: ``invalid_argument`` raises :class:`CollectionError`
        (code ``COLLECTION_INVALID_ARGUMENT``), as the embedded library does."""
        try:
            return self._call(op, parts, expected)
        except DatabaseError as error:
            if type(error) is DatabaseError and getattr(error, "server_code", None) == "invalid_argument":
                converted = CollectionError(error.message, ErrorCode.COLLECTION_INVALID_ARGUMENT)
                converted.server_code = "invalid_argument"  # type: ignore[attr-defined]
                raise converted from None
            raise

    # The transport of toondb._collection.Collection (CollectionTransport).

    def _collection_info(self, name: str) -> Dict[str, Any]:
        payload = self._collection_call(COLLECTION_INFO, (_u16_text(name, "collection name"),), VALUE)
        return self._parsed(_collection_info, payload)

    def _collection_insert(self, name: str, ids: bytes, count: int, vectors: bytes, dimension: int,
                           metadata: List[bytes]) -> int:
        if metadata and len(metadata) != count:
            raise ValueError(f"{len(metadata)} metadata entries for {count} items")
        if len(ids) != 8 * count or len(vectors) != 4 * count * dimension:
            raise ValueError(f"{len(ids)} bytes of ids and {len(vectors)} bytes of vectors for {count} items "
                             f"of dimension {dimension}")
        has_metadata = any(metadata)
        parts: List[BytesLike] = [_u16_text(name, "collection name"),
                                  _INSERT_HEAD.pack(u32_arg(count, "count"), u32_arg(dimension, "dimension"),
                                                    1 if has_metadata else 0),
                                  ids, vectors]
        if has_metadata:
            pack = _U32.pack
            parts.append(b"".join(pack(len(entry)) + entry for entry in metadata))
        return self._parsed(_insert_lsn, self._collection_call(COLLECTION_INSERT, parts, OK))

    def _collection_delete(self, name: str, id: int) -> bool:
        payload = self._collection_call(COLLECTION_DELETE, (_u16_text(name, "collection name"), _U64.pack(id)), OK)
        return self._parsed(_existed, payload)

    def _collection_get(self, name: str, id: int) -> Optional[bytes]:
        payload = self._collection_call(COLLECTION_GET, (_u16_text(name, "collection name"), _U64.pack(id)), VALUE)
        return self._parsed(_found_value, payload)

    def _collection_search(self, name: str, query: bytes, dimension: int, k: int, ef_search: int,
                           filter: bytes, toon: bool) -> bytes:
        if len(query) != 4 * dimension:
            raise ValueError(f"a query of {len(query)} bytes for dimension {dimension}")
        head = _SEARCH_HEAD.pack(u32_arg(k, "k"), u32_arg(ef_search, "ef_search"), 1 if toon else 0, len(filter))
        parts = (_u16_text(name, "collection name"), head, filter, _U32.pack(dimension), query)
        payload = self._collection_call(COLLECTION_SEARCH, parts, VALUE)
        return self._parsed(_toon_hits if toon else _hit_list, payload)


def _parse_table(payload: bytes) -> Dict[str, Any]:
    """A CREATE_TABLE payload as a dict."""
    try:
        offset = 0

        def text() -> str:
            nonlocal offset
            (size,) = U16.unpack_from(payload, offset)
            start = offset + 2
            offset = start + size
            if offset > len(payload):
                raise struct.error("short")
            return payload[start:offset].decode("utf-8")

        name = text()
        (ncols,) = U16.unpack_from(payload, offset)
        offset += 2
        columns = []
        for _ in range(ncols):
            col_name = text()
            col_type, nullable = _COLUMN_TAIL.unpack_from(payload, offset)
            offset += 2
            columns.append({"name": col_name,
                            "type": COLUMN_TYPES[col_type] if col_type < len(COLUMN_TYPES) else col_type,
                            "nullable": bool(nullable)})
    except (struct.error, UnicodeDecodeError):
        raise ProtocolError(f"DESCRIBE_TABLE reply does not parse ({len(payload)} bytes)") from None
    if offset != len(payload):
        raise ProtocolError(f"DESCRIBE_TABLE reply has {len(payload) - offset} trailing bytes")
    return {"name": name, "columns": columns}


class IpcTransaction(TransactionContext):
    """A transaction on an :class:`IpcClient` (from :meth:`IpcClient.transaction`).

    Every read and write runs inside it on the server (the txn_id extension opcodes): reads see
    its snapshot plus its own writes; writes become visible to others at :meth:`commit`, which
    raises :class:`TransactionConflictError` when another transaction committed one of the same
    keys after this one began. A finished transaction raises :class:`TransactionError`. The id
    is valid only on the client's connection; closing the client aborts the transaction.
    """

    def __init__(self, client: IpcClient, txn_id: int) -> None:
        self._client = client
        self._id = txn_id
        self._state = "active"

    @property
    def id(self) -> int:
        """The server's transaction id."""
        return self._id

    @property
    def active(self) -> bool:
        """Whether the transaction is neither committed nor aborted."""
        return self._state == "active"

    def __repr__(self) -> str:
        return f"<toondb.IpcTransaction {self._id} {self._state}>"

    def _txn(self) -> int:
        if self._state != "active":
            raise TransactionError(f"Transaction already {self._state}", ErrorCode.TRANSACTION_CLOSED)
        return self._id

    def put(self, key: BytesLike, value: BytesLike) -> None:
        """Writes ``value`` under ``key`` in the transaction (KV_PUT)."""
        key = _bytes(key, "key")
        value = _bytes(value, "value")
        self._client._call(KV_PUT, (_TXN_KEYLEN.pack(self._txn(), len(key)), key, value), OK)

    def get(self, key: BytesLike) -> Optional[bytes]:
        """The value of ``key`` as the transaction sees it (``None`` when missing)."""
        key = _bytes(key, "key")
        return self._client._parsed(_found_value, self._client._call(KV_GET, (_U64.pack(self._txn()), key), VALUE))

    def delete(self, key: BytesLike) -> None:
        """Deletes ``key`` in the transaction."""
        key = _bytes(key, "key")
        self._client._call(KV_DELETE, (_U64.pack(self._txn()), key), OK)

    def put_path(self, path: Path, value: BytesLike) -> None:
        """Writes ``value`` at ``path`` (segments, or a str split at ``/``) in the transaction."""
        self._client._call(PATH_PUT, (_U64.pack(self._txn()), _encode_path(path), _bytes(value, "value")), OK)

    def get_path(self, path: Path) -> Optional[bytes]:
        """The value at ``path`` as the transaction sees it."""
        client = self._client
        return client._parsed(_found_value, client._call(PATH_GET, (_U64.pack(self._txn()), _encode_path(path)), VALUE))

    def delete_path(self, path: Path) -> None:
        """Deletes the value at ``path`` in the transaction."""
        self._client._call(PATH_DELETE, (_U64.pack(self._txn()), _encode_path(path)), OK)

    def scan(self, prefix: Union[BytesLike, str] = b"") -> List[Dict[str, bytes]]:
        """The pairs under ``prefix`` as the transaction sees them, as ``[{"key", "value"}]``."""
        return [{"key": key, "value": value} for key, value in self._client._scan_request(self._txn(), prefix)]

    def iter_scan(self, prefix: Union[BytesLike, str] = b"") -> Iterator[Pair]:
        """Yields ``(key, value)`` under ``prefix`` as the transaction sees them."""
        return self._client._scan_request(self._txn(), prefix)

    def scan_range(self, start: Union[BytesLike, str] = b"", end: Union[BytesLike, str] = b"",
                   limit: int = 0) -> Iterator[Pair]:
        """Yields ``(key, value)`` with ``start <= key < end`` as the transaction sees them."""
        return self._client._range_request(self._txn(), start, end, limit)

    def write_batch(self, ops: Iterable[Tuple[BytesLike, Optional[BytesLike]]]) -> int:
        """Adds ``(key, value)`` puts and ``(key, None)`` deletes to the transaction."""
        return self._client._write_batch(self._txn(), ops)

    def put_many(self, pairs: Union[Mapping[BytesLike, BytesLike], Iterable[Tuple[BytesLike, BytesLike]]]) -> int:
        """Writes every pair in the transaction (one WRITE_BATCH); returns the count."""
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        return self._client._write_batch(self._txn(), ((key, value) for key, value in items))

    def commit(self) -> int:
        """Commits; returns the commit timestamp. On a conflict raises
        :class:`TransactionConflictError` (nothing was written)."""
        txn_id = self._txn()
        self._state = "committed"
        try:
            return self._client.commit(txn_id)
        except BaseException:
            self._state = "aborted"
            raise

    def abort(self) -> None:
        """Discards the transaction's writes."""
        txn_id = self._txn()
        self._state = "aborted"
        self._client.abort(txn_id)
