"""Embedded mode: the database runs inside this process, through ``libtoondb_storage.so``."""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import struct
import threading
import weakref
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

from . import _native
from ._native import NO_TXN, C_ByteSlice, C_TxnHandle, c_uint8_p
from ._collection import Collection, CollectionTransport, check_create_arguments
from ._transaction import TransactionContext
from .errors import DatabaseError, TransactionError

__all__ = ["Database", "Transaction", "ScanIterator"]

BytesLike = Union[bytes, bytearray, memoryview]
Pair = Tuple[bytes, bytes]

_U32 = struct.Struct("<I")
_U32_PAIR = struct.Struct("<II")
_BATCH_HEADER = struct.Struct("<IB")
# Scans start with small batches (cheap to stop early) and grow to this.
_SCAN_BATCH_FIRST = 64
_SCAN_BATCH_MAX = 4096
# get() reads into a per-thread buffer of this size; longer values take a second call.
_GET_BUFFER = 64 * 1024
_FAST_LIMIT = _native.FAST_LENGTH_LIMIT


def _bytes(value: Any, what: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(value).__name__}")


def _path(path: Any) -> bytes:
    if not isinstance(path, str):
        raise TypeError(f"path must be str, not {type(path).__name__}")
    if "\0" in path:
        raise DatabaseError(f"invalid path {path!r}: contains NUL", 1)
    return path.encode("utf-8")


def _options_text(config: Mapping[str, Any]) -> bytes:
    """The config dict as the library's ``name=value;...`` options (the library names a bad key)."""
    items = []
    for name, value in config.items():
        if not isinstance(name, str) or not name or any(c in name for c in "=;\n"):
            raise DatabaseError(f"invalid config key {name!r}", 1)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            text = str(value)
        else:
            raise DatabaseError(f"config {name}: unsupported value {value!r} (use a str, int, float or bool)", 1)
        if any(c in text for c in ";\n"):
            raise DatabaseError(f"config {name}: invalid value {value!r}", 1)
        items.append(f"{name}={text}")
    return ";".join(items).encode("utf-8")


class _Reads:
    """Reads and writes shared by :class:`Database` and :class:`Transaction`; ``_txn`` selects
    between auto-commit (``NO_TXN``) and a transaction."""

    _txn: C_TxnHandle
    # The same handle as two ints, for the C extension's calls.
    _txn_id = 0
    _txn_snapshot = 0

    def _db(self) -> "Database":
        raise NotImplementedError

    def _call_handle(self) -> int:
        raise NotImplementedError

    def _call_pointer(self) -> ctypes.c_void_p:
        raise NotImplementedError

    def put(self, key: BytesLike, value: BytesLike) -> None:
        """Stores ``value`` under ``key``."""
        if type(key) is not bytes:
            key = _bytes(key, "key")
        if type(value) is not bytes:
            value = _bytes(value, "value")
        db = self._db()
        handle = self._call_pointer()
        if len(value) <= _FAST_LIMIT and len(key) <= _FAST_LIMIT:
            speed = db._speed
            if speed is not None:
                status = speed.put(handle.value, self._txn_id, self._txn_snapshot, key, value)
            else:
                status = db._fast.toondb_put32(handle, self._txn, key, len(key), value, len(value))
        else:
            status = db._lib.toondb_put(handle.value, self._txn, key, len(key), value, len(value))
        if status != 0:
            raise _native.last_error()

    def get(self, key: BytesLike) -> Optional[bytes]:
        """The value of ``key``, ``None`` when it is missing (``b""`` for an empty value)."""
        if type(key) is not bytes:
            key = _bytes(key, "key")
        db = self._db()
        handle = self._call_pointer()
        speed = db._speed
        if speed is not None and len(key) <= _FAST_LIMIT:
            result = speed.get(handle.value, self._txn_id, self._txn_snapshot, key)
            if type(result) is int:
                raise _native.last_error()
            return result
        local = db._local
        try:
            buffer = local.buffer
        except AttributeError:
            buffer = db._make_buffer()
        if len(key) > _FAST_LIMIT:
            return self._get_large(key)
        length = db._fast.toondb_get_into32(handle, self._txn, key, len(key), buffer, _GET_BUFFER)
        if length >= 0:
            if length <= _GET_BUFFER:
                return local.view[:length].tobytes()
            return self._get_large(key)
        if length == -1:
            return None
        raise _native.last_error()

    def _get_large(self, key: bytes) -> Optional[bytes]:
        out = c_uint8_p()
        length = ctypes.c_size_t()
        status = self._db()._lib.toondb_get(self._call_handle(), self._txn, key, len(key), ctypes.byref(out), ctypes.byref(length))
        if status == 0:
            return _native.take_bytes(out, length.value)
        if status == 1:
            return None
        raise _native.last_error()

    def delete(self, key: BytesLike) -> None:
        """Deletes ``key`` (deleting a missing key is not an error)."""
        if type(key) is not bytes:
            key = _bytes(key, "key")
        if len(key) > _FAST_LIMIT:
            status = self._db()._lib.toondb_delete(self._call_handle(), self._txn, key, len(key))
        else:
            db = self._db()
            handle = self._call_pointer()
            speed = db._speed
            if speed is not None:
                status = speed.delete(handle.value, self._txn_id, self._txn_snapshot, key)
            else:
                status = db._fast.toondb_delete32(handle, self._txn, key, len(key))
        if status != 0:
            raise _native.last_error()

    def put_path(self, path: str, value: BytesLike) -> None:
        """Stores ``value`` at a hierarchical path such as ``"users/alice/email"``.

        The key is the path's UTF-8 bytes; every segment must be non-empty.
        """
        value = _bytes(value, "value")
        if self._db()._lib.toondb_put_path(self._call_handle(), self._txn, _path(path), value, len(value)) != 0:
            raise _native.last_error()

    def get_path(self, path: str) -> Optional[bytes]:
        """The value at ``path``, or ``None``."""
        out = c_uint8_p()
        length = ctypes.c_size_t()
        status = self._db()._lib.toondb_get_path(self._call_handle(), self._txn, _path(path), ctypes.byref(out), ctypes.byref(length))
        if status == 0:
            return _native.take_bytes(out, length.value)
        if status == 1:
            return None
        raise _native.last_error()

    def delete_path(self, path: str) -> None:
        """Deletes the value at ``path``."""
        if self._db()._lib.toondb_delete_path(self._call_handle(), self._txn, _path(path)) != 0:
            raise _native.last_error()

    def scan(self, start: BytesLike = b"", end: BytesLike = b"") -> "ScanIterator":
        """Yields ``(key, value)`` pairs with ``start <= key < end`` in key order; an empty bound
        is open. The pairs come from one consistent snapshot, fetched in batches; stopping
        early (``break``, or closing the generator) releases the scan."""
        start = _bytes(start, "start")
        end = _bytes(end, "end")
        db = self._db()
        iterator = db._lib.toondb_scan(self._call_handle(), self._txn, start, len(start), end, len(end))
        if not iterator:
            raise _native.last_error()
        return db._iterate(iterator)

    def scan_prefix(self, prefix: BytesLike) -> "ScanIterator":
        """Yields the pairs whose key starts with ``prefix``, in key order."""
        prefix = _bytes(prefix, "prefix")
        db = self._db()
        iterator = db._lib.toondb_scan_prefix(self._call_handle(), self._txn, prefix, len(prefix))
        if not iterator:
            raise _native.last_error()
        return db._iterate(iterator)

    def put_many(self, pairs: Union[Mapping[BytesLike, BytesLike], Iterable[Tuple[BytesLike, BytesLike]]]) -> int:
        """Stores every pair; outside a transaction they commit atomically as one write.
        Returns how many pairs were written."""
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        db = self._db()
        if db._speed is not None:
            buffer, _ = db._speed.encode_pairs(items, _bytes)
        else:
            parts = [b""]
            pack = _U32_PAIR.pack
            count = 0
            for key, value in items:
                key = _bytes(key, "key")
                value = _bytes(value, "value")
                parts.append(pack(len(key), len(value)))
                parts.append(key)
                parts.append(value)
                count += 1
            parts[0] = _U32.pack(count)
            buffer = b"".join(parts)
        slice_ = C_ByteSlice(ctypes.cast(ctypes.c_char_p(buffer), ctypes.c_void_p), len(buffer))
        written = db._lib.toondb_put_many(self._call_handle(), self._txn, slice_)
        if written < 0:
            raise _native.last_error()
        return written

    def get_many(self, keys: Sequence[BytesLike]) -> List[Optional[bytes]]:
        """The values of ``keys`` (``None`` for missing ones), read from one snapshot."""
        buffer = self._encode_keys(keys)
        out = c_uint8_p()
        length = ctypes.c_size_t()
        db = self._db()
        if db._lib.toondb_get_many(self._call_handle(), self._txn, buffer, len(buffer), ctypes.byref(out), ctypes.byref(length)) != 0:
            raise _native.last_error()
        data = _native.take_bytes(out, length.value)
        (count,) = _U32.unpack_from(data, 0)
        offset = 4
        values: List[Optional[bytes]] = []
        for index in range(count):
            status = data[offset]
            offset += 1
            if status == 0:
                (size,) = _U32.unpack_from(data, offset)
                offset += 4
                values.append(data[offset:offset + size])
                offset += size
            elif status == 1:
                values.append(None)
            else:
                raise DatabaseError(f"invalid key at index {index}: keys must be 1 to 65536 bytes", 1)
        return values

    def delete_many(self, keys: Sequence[BytesLike]) -> int:
        """Deletes every key; outside a transaction atomically. Returns the count."""
        buffer = self._encode_keys(keys)
        deleted = self._db()._lib.toondb_delete_many(self._call_handle(), self._txn, buffer, len(buffer))
        if deleted < 0:
            raise _native.last_error()
        return deleted

    @staticmethod
    def _encode_keys(keys: Iterable[BytesLike]) -> bytes:
        parts = [b""]
        count = 0
        for key in keys:
            key = _bytes(key, "key")
            parts.append(_U32.pack(len(key)))
            parts.append(key)
            count += 1
        parts[0] = _U32.pack(count)
        return b"".join(parts)


class Database(_Reads, CollectionTransport):
    """An embedded ToonDB database.

    Open one with :meth:`open`; use it from any number of threads; close it (or use it as a
    context manager). Single-key writes commit on their own (auto-commit), durable according
    to ``sync_mode``; :meth:`transaction` groups reads and writes with snapshot isolation.

    >>> with Database.open("./my_database") as db:
    ...     db.put(b"greeting", b"hello")
    ...     db.get(b"greeting")
    b'hello'
    """

    def __init__(self, path: str, config: Optional[Mapping[str, Any]] = None) -> None:
        """Same as :meth:`open`."""
        self._lib = _native.library()
        self._fast = _native.fast_library()
        self._speed = _native.speedups()
        self._txn = NO_TXN
        self._local = threading.local()
        self.path = os.fspath(path)
        if not self.path:
            raise DatabaseError("database path is empty", 1)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            raise DatabaseError(f"cannot create the database directory {self.path}: {error.strerror}", 9) from error
        options = _options_text(config or {})
        handle = self._lib.toondb_open_with_options(self.path.encode("utf-8"), options)
        if not handle:
            raise _native.last_error()
        # The open/closed state: None once closed. `_handle` is the same handle as an int for
        # the C extension's calls (set and cleared with it).
        self._pointer: Optional[ctypes.c_void_p] = ctypes.c_void_p(handle)
        self._handle: Optional[int] = handle
        # With the C extension, `get` and `put` are instance attributes: C callables that answer
        # the common call without a Python frame and hand every other one to the class's method
        # (see _speedups.c, Getter and Putter). Not for a subclass that overrides the method.
        self._bound: List[Any] = []
        for name, type_name in (("get", "Getter"), ("put", "Putter")):
            bound_type = getattr(self._speed, type_name, None)  # absent from an older build
            if bound_type is not None and getattr(type(self), name) is getattr(Database, name):
                bound = bound_type(handle, weakref.ref(self), _FALLBACKS[name])
                setattr(self, name, bound)
                self._bound.append(bound)

    @classmethod
    def open(cls, path: str, config: Optional[Mapping[str, Any]] = None) -> "Database":
        """Opens (creating if needed, parents included) the database at ``path``.

        ``config`` keys (all optional): ``sync_mode`` (``"off"``, ``"normal"``, ``"full"``:
        when a commit is durable; default ``"full"``), ``sync_interval_ms``, ``group_commit``,
        ``wal_enabled``, ``memtable_size_bytes``, ``max_immutable_memtables``,
        ``max_value_size_bytes``, ``block_size_bytes``, ``block_cache_size_bytes``, ``row_cache_size_bytes``,
        ``bloom_bits_per_key``, ``max_open_tables``, ``wal_segment_size_bytes``, ``wal_mapped_appends``, ``table_mapped_reads``,
        ``target_table_size_bytes``, ``io_backend`` (``"auto"``, ``"io_uring"``, ``"posix"``),
        ``default_index_policy``, ``log_level``, ``create_if_missing``, and the level-0
        triggers. An unknown key or a bad value raises :class:`DatabaseError` naming it.
        """
        return cls(path, config)

    # -- plumbing -------------------------------------------------------------------------

    def _db(self) -> "Database":
        return self

    # get and put are usually answered by the instance's C Getter and Putter (see __init__);
    # these methods are their fallback and the path without them. Here an auto-commit call
    # with the C extension still goes straight to it: one Python frame instead of the shared
    # path's helper calls (measured in BENCHMARKS.md). Anything else (no extension, a closed
    # database, keys or values that are not bytes or are over the extension's limit) takes the
    # shared path in _Reads.

    def _use_ctypes(self) -> None:
        """Makes this database's calls go through ctypes alone (tests and benchmarks compare
        the two paths)."""
        self._speed = None
        for name in _FALLBACKS:
            self.__dict__.pop(name, None)

    def get(self, key: BytesLike) -> Optional[bytes]:
        """The value of ``key``, ``None`` when it is missing (``b""`` for an empty value)."""
        speed, handle = self._speed, self._handle
        if speed is not None and handle is not None and type(key) is bytes and len(key) <= _FAST_LIMIT:
            result = speed.get(handle, 0, 0, key)
            if type(result) is int:
                raise _native.last_error()
            return result
        return _Reads.get(self, key)

    def put(self, key: BytesLike, value: BytesLike) -> None:
        """Stores ``value`` under ``key``."""
        speed, handle = self._speed, self._handle
        if (speed is not None and handle is not None and type(key) is bytes and type(value) is bytes
                and len(key) <= _FAST_LIMIT and len(value) <= _FAST_LIMIT):
            if speed.put(handle, 0, 0, key, value) != 0:
                raise _native.last_error()
            return
        _Reads.put(self, key, value)

    def _call_handle(self) -> int:
        return self._call_pointer().value  # type: ignore[return-value]

    def _call_pointer(self) -> ctypes.c_void_p:
        pointer = self._pointer
        if pointer is None:
            raise DatabaseError(f"the database at {self.path} is closed", 6)
        return pointer

    def _make_buffer(self) -> Any:
        """This thread's buffer for :meth:`get` (and a byte view of it)."""
        local = self._local
        local.buffer = ctypes.create_string_buffer(_GET_BUFFER)
        local.view = memoryview(local.buffer).cast("B")
        return local.buffer

    def _iterate(self, iterator: int) -> "ScanIterator":
        return ScanIterator(self, iterator)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._pointer is None

    def close(self) -> None:
        """Commits nothing new, aborts open transactions, syncs and releases the directory.
        Calling it again does nothing."""
        self._handle = None
        for bound in self._bound:
            bound.close()
        pointer, self._pointer = self._pointer, None
        if pointer is not None:
            self._lib.toondb_close(pointer)

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_pointer", None) is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __repr__(self) -> str:
        return f"<toondb.Database {self.path!r}{' closed' if self.closed else ''}>"

    # -- transactions, maintenance --------------------------------------------------------

    def transaction(self) -> "Transaction":
        """Begins a snapshot-isolation transaction. As a context manager it commits when the
        block ends normally and aborts (re-raising) when it raises."""
        txn = self._lib.toondb_begin_txn(self._call_handle())
        if txn.txn_id == 0:
            raise _native.last_error()
        return Transaction(self, txn)

    def checkpoint(self) -> int:
        """Flushes memory to tables and returns the checkpoint LSN: every commit with a
        commit timestamp up to it is in the tables."""
        lsn = ctypes.c_uint64()
        if self._lib.toondb_checkpoint_lsn(self._call_handle(), ctypes.byref(lsn)) != 0:
            raise _native.last_error()
        return lsn.value

    def stats(self) -> Dict[str, Any]:
        """Every engine statistic: memtable and WAL bytes, SSTables per level, compactions,
        commits, cache hits, LSNs, active transactions, I/O backend, sync mode."""
        out = c_uint8_p()
        length = ctypes.c_size_t()
        if self._lib.toondb_stats_json(self._call_handle(), ctypes.byref(out), ctypes.byref(length)) != 0:
            raise _native.last_error()
        result: Dict[str, Any] = json.loads(_native.take_bytes(out, length.value))
        return result

    # MARK: vector collections

    def create_collection(self, name: str, dimension: int, metric: str = "cosine", m: int = 16,
                          ef_construction: int = 100, ef_search: int = 64, encoding: str = "f32") -> Collection:
        """Creates a vector collection and returns it.

        Args:
            name: 1-128 characters of letters, digits, ``_``, ``-`` and ``.``.
            dimension: components per vector.
            metric: ``"cosine"``, ``"ip"`` (inner product) or ``"l2"`` (squared Euclidean).
            m, ef_construction: HNSW graph parameters (neighbours per node, build beam width).
            ef_search: the default search beam width.
            encoding: what the index's graph walk reads: ``"f32"`` (the exact vectors),
                ``"f16"`` or ``"int8"`` (a half- or quarter-size copy; results are re-ranked on
                the exact vectors, so distances stay exact). The records always hold float32.

        Raises:
            CollectionExistsError: the name is taken.
        """
        check_create_arguments(name, dimension, metric, m, ef_construction, ef_search, encoding)
        if self._lib.toondb_collection_create_encoded(self._call_handle(), _path(name), dimension, metric.encode(), m,
                                                      ef_construction, ef_search, encoding.encode()) != 0:
            raise _native.last_error()
        return self.collection(name)

    def collection(self, name: str) -> Collection:
        """The collection of this name (its index is built from the stored items on first use).

        Raises:
            CollectionNotFoundError: no such collection.
        """
        return Collection(self, self._collection_info(name))

    def drop_collection(self, name: str) -> None:
        """Deletes a collection and all its items.

        Raises:
            CollectionNotFoundError: no such collection.
        """
        if self._lib.toondb_collection_drop(self._call_handle(), _path(name)) != 0:
            raise _native.last_error()

    def list_collections(self) -> List[Dict[str, Any]]:
        """Every collection's name and settings, in name order."""
        return self._json_call(self._lib.toondb_collection_list, self._call_handle())

    def _json_call(self, function: Any, *args: Any) -> Any:
        out = c_uint8_p()
        length = ctypes.c_size_t()
        if function(*args, ctypes.byref(out), ctypes.byref(length)) != 0:
            raise _native.last_error()
        return json.loads(_native.take_bytes(out, length.value))

    def _collection_info(self, name: str) -> Dict[str, Any]:
        result: Dict[str, Any] = self._json_call(self._lib.toondb_collection_info, self._call_handle(), _path(name))
        return result

    def _collection_insert(self, name: str, ids: bytes, count: int, vectors: bytes, dimension: int,
                           metadata: List[bytes]) -> int:
        packed = b"".join(struct.pack("<I", len(m)) + m for m in metadata) if any(metadata) else b""
        lsn = self._lib.toondb_collection_insert(self._call_handle(), _path(name), ids, count, vectors, dimension,
                                                 packed, len(packed))
        if lsn < 0:
            raise _native.last_error()
        return int(lsn)

    def _collection_delete(self, name: str, id: int) -> bool:
        status = self._lib.toondb_collection_delete(self._call_handle(), _path(name), id)
        if status < 0:
            raise _native.last_error()
        return status == 0

    def _collection_get(self, name: str, id: int) -> Optional[bytes]:
        out = c_uint8_p()
        length = ctypes.c_size_t()
        status = self._lib.toondb_collection_get(self._call_handle(), _path(name), id, ctypes.byref(out),
                                                 ctypes.byref(length))
        if status < 0:
            raise _native.last_error()
        return _native.take_bytes(out, length.value) if status == 0 else None

    def _collection_search(self, name: str, query: bytes, dimension: int, k: int, ef_search: int,
                           filter: bytes, toon: bool) -> bytes:
        out = c_uint8_p()
        length = ctypes.c_size_t()
        if self._lib.toondb_collection_search(self._call_handle(), _path(name), query, dimension, k, ef_search,
                                              filter, len(filter), 1 if toon else 0, ctypes.byref(out),
                                              ctypes.byref(length)) != 0:
            raise _native.last_error()
        return _native.take_bytes(out, length.value)

    def set_table_index_policy(self, table: str, policy: Union[int, str]) -> None:
        """Records ToonDB's per-table index policy (``"write_optimized"``, ``"balanced"``,
        ``"scan_optimized"``, ``"append_only"`` or 0-3). Every table is a sorted LSM range
        here, so the policy is kept for compatibility and changes no performance."""
        value = _POLICIES.get(policy) if isinstance(policy, str) else policy
        if not isinstance(value, int) or not 0 <= value <= 3:
            raise DatabaseError(f"invalid index policy {policy!r}: expected one of {sorted(_POLICIES)} or 0-3", 1)
        if self._lib.toondb_set_table_index_policy(self._call_handle(), _path(table), value) != 0:
            raise _native.last_error()

    def get_table_index_policy(self, table: str) -> str:
        """The index policy of ``table`` (the default policy when none was set)."""
        value = self._lib.toondb_get_table_index_policy(self._call_handle(), _path(table))
        if value == 255:
            raise _native.last_error()
        return _POLICY_NAMES[value]


_POLICY_NAMES = {0: "write_optimized", 1: "balanced", 2: "scan_optimized", 3: "append_only"}
_POLICIES = {name: value for value, name in _POLICY_NAMES.items()}


def _split_batch(data: bytes) -> Tuple[List[Pair], bool]:
    """A ``toondb_scan_batch`` buffer as its pairs and done flag (the ctypes path; the C
    extension builds pairs with ``toondb_scan_visit`` instead):
    ``count u32, is_done u8, {klen u32, vlen u32, key, value}*``."""
    count, done = _BATCH_HEADER.unpack_from(data, 0)
    unpack_pair = _U32_PAIR.unpack_from
    pairs = []
    append = pairs.append
    offset = 5
    for _ in range(count):
        key_length, value_length = unpack_pair(data, offset)
        key_end = offset + 8 + key_length
        value_end = key_end + value_length
        append((data[offset + 8:key_end], data[key_end:value_end]))
        offset = value_end
    return pairs, bool(done)


def _fallback(name: str) -> Any:
    """The path of a C Getter or Putter for every call it does not answer itself: the
    Database method `name` (called on the class, past the instance's C callable)."""
    method = getattr(Database, name)

    def fallback(database: Optional[Database], *args: Any, **kwargs: Any) -> Any:
        if database is None:
            raise DatabaseError("the database is closed (it was garbage-collected)", 6)
        return method(database, *args, **kwargs)

    return fallback


_FALLBACKS = {"get": _fallback("get"), "put": _fallback("put")}


class ScanIterator:
    """The ``(key, value)`` pairs of a scan, fetched from the library in growing batches.

    The native scan is released when the iteration ends, on :meth:`close`, when used as a
    context manager, or when the object is garbage-collected, whichever comes first (also
    for a scan that was never iterated).
    """

    def __init__(self, database: Database, handle: int) -> None:
        self._database = database
        self._handle: Optional[int] = handle
        self._pairs: List[Pair] = []
        self._generator: Optional[Iterator[Pair]] = None
        self._batch = _SCAN_BATCH_FIRST
        self._done = False

    def __iter__(self) -> Iterator[Pair]:
        # Pairs are handed out by C iterators (chain over each batch's list), so Python code
        # runs once per batch, not once per pair: a Python-level __next__ ran 1.65 M pairs/s,
        # a generator with `yield from` per batch 2.0 M, and chain saves another ~8 ns a pair.
        if self._generator is None:
            self._generator = itertools.chain.from_iterable(self._batches())
        return self._generator

    def __next__(self) -> Pair:
        return next(iter(self))

    def _batches(self) -> Iterator[List[Pair]]:
        while not self._done and self._fetch():
            yield self._pairs

    def _fetch(self) -> bool:
        """Reads the next batch into ``_pairs``; False when the scan is exhausted."""
        handle = self._handle
        if handle is None:
            return False
        speed = self._database._speed
        if speed is not None:
            # The extension builds the pairs from the library's own buffers (toondb_scan_visit).
            answer = speed.scan_batch(handle, self._batch)
            if isinstance(answer, int):
                error = _native.last_error()
                self.close()
                raise error
            pairs, done = answer
            status = 0
        else:
            out = c_uint8_p()
            length = ctypes.c_size_t()
            status = self._database._lib.toondb_scan_batch(handle, self._batch, ctypes.byref(out), ctypes.byref(length))
            if status < 0:
                error = _native.last_error()
                self.close()
                raise error
            pairs, done = _split_batch(_native.take_bytes(out, length.value))
        self._pairs = pairs
        self._batch = min(self._batch * 4, _SCAN_BATCH_MAX)
        if done or status == 1:
            self._done = True
            self.close()
        return len(pairs) > 0

    def close(self) -> None:
        """Releases the native scan (calling it again does nothing)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._database._lib.toondb_scan_free(handle)

    def __enter__(self) -> "ScanIterator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


class Transaction(_Reads, TransactionContext):
    """A snapshot-isolation transaction from :meth:`Database.transaction`.

    Reads see the database as of the moment it began plus its own writes; writes become
    visible to others atomically at :meth:`commit`. If another transaction committed a key
    this one wrote after it began, commit raises :class:`TransactionConflictError` and
    nothing is written. A finished transaction raises :class:`TransactionError`.
    """

    def __init__(self, database: Database, handle: C_TxnHandle) -> None:
        self._database = database
        self._txn = handle
        self._txn_id = int(handle.txn_id)
        self._txn_snapshot = int(handle.snapshot_ts)
        self._state = "active"

    @property
    def id(self) -> int:
        """The transaction's id (unique per database handle)."""
        return int(self._txn.txn_id)

    @property
    def snapshot(self) -> int:
        """The LSN this transaction reads at."""
        return int(self._txn.snapshot_ts)

    @property
    def active(self) -> bool:
        return self._state == "active"

    def _db(self) -> Database:
        return self._database

    def _call_handle(self) -> int:
        return self._call_pointer().value  # type: ignore[return-value]

    def _call_pointer(self) -> ctypes.c_void_p:
        if self._state != "active":
            raise TransactionError(f"Transaction already {self._state}", 5)
        return self._database._call_pointer()

    def commit(self) -> int:
        """Applies the writes atomically; returns the commit timestamp (LSN). A transaction
        that wrote nothing returns its snapshot."""
        handle = self._call_handle()
        self._state = "committed"
        result = self._database._lib.toondb_commit(handle, self._txn)
        if result.error_code != 0:
            self._state = "aborted"
            raise _native.last_error(TransactionError)
        return int(result.commit_ts)

    def abort(self) -> None:
        """Discards the writes."""
        handle = self._call_handle()
        self._state = "aborted"
        if self._database._lib.toondb_abort(handle, self._txn) != 0:
            raise _native.last_error(TransactionError)

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "active" and not self._database.closed:
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - best effort during garbage collection
                pass

    def __repr__(self) -> str:
        return f"<toondb.Transaction id={self.id} {self._state}>"
