"""Finds and loads ``libtoondb_storage.so`` and declares its C ABI for ctypes.

The layouts and return codes are those of ``toondb.h`` (docs/c-abi.md in the repository).
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from pathlib import Path
from typing import Any, List, Optional

from .errors import DatabaseError, ErrorCode, ToonDBError, TransactionConflictError, TransactionError, collection_error

LIBRARY_NAME = "libtoondb_storage.so"

c_uint8_p = ctypes.POINTER(ctypes.c_uint8)
c_uint8_pp = ctypes.POINTER(c_uint8_p)
c_size_p = ctypes.POINTER(ctypes.c_size_t)


class C_TxnHandle(ctypes.Structure):
    _fields_ = [("txn_id", ctypes.c_uint64), ("snapshot_ts", ctypes.c_uint64)]


class C_CommitResult(ctypes.Structure):
    _fields_ = [("commit_ts", ctypes.c_uint64), ("error_code", ctypes.c_int32)]


class C_StorageStats(ctypes.Structure):
    _fields_ = [
        ("memtable_size_bytes", ctypes.c_uint64),
        ("wal_size_bytes", ctypes.c_uint64),
        ("active_transactions", ctypes.c_size_t),
        ("min_active_snapshot", ctypes.c_uint64),
        ("last_checkpoint_lsn", ctypes.c_uint64),
    ]


class C_DatabaseConfig(ctypes.Structure):
    _fields_ = [
        ("wal_enabled", ctypes.c_bool),
        ("wal_enabled_set", ctypes.c_bool),
        ("sync_mode", ctypes.c_uint8),
        ("sync_mode_set", ctypes.c_bool),
        ("memtable_size_bytes", ctypes.c_uint64),
        ("group_commit", ctypes.c_bool),
        ("group_commit_set", ctypes.c_bool),
        ("default_index_policy", ctypes.c_uint8),
        ("default_index_policy_set", ctypes.c_bool),
    ]


class C_ByteSlice(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_size_t)]


#: The "no transaction" handle: the call auto-commits or reads the latest state.
NO_TXN = C_TxnHandle(0, 0)


def _candidates() -> List[Path]:
    """Where to look, in order (after TOONDB_LIB_PATH, which is handled by the caller)."""
    package = Path(__file__).resolve().parent
    triple = f"{platform.machine()}-unknown-linux-gnu"
    found = [package / "lib" / triple / LIBRARY_NAME, package / "lib" / LIBRARY_NAME, package / LIBRARY_NAME]
    # A source checkout: the Swift package's build folders above the python/ directory.
    for parent in package.parents:
        if (parent / "Package.swift").is_file():
            found += [parent / ".build" / "release" / LIBRARY_NAME, parent / ".build" / "debug" / LIBRARY_NAME]
            break
    found += [Path("/usr/local/lib") / LIBRARY_NAME, Path("/usr/lib") / LIBRARY_NAME]
    return found


def find_library() -> str:
    """The path of the library to load.

    Order: ``$TOONDB_LIB_PATH`` (a directory holding the library), the package's bundled
    ``lib/<triple>/`` and ``lib/``, the package folder, a source checkout's ``.build/release``
    and ``.build/debug``, then ``/usr/local/lib`` and ``/usr/lib``.
    """
    override = os.environ.get("TOONDB_LIB_PATH")
    if override:
        path = Path(override) / LIBRARY_NAME
        if path.is_file():
            return str(path)
        raise DatabaseError(
            f"TOONDB_LIB_PATH is set to {override!r}, but {LIBRARY_NAME} is not there; "
            "point TOONDB_LIB_PATH at the directory that holds it, or unset it")
    for path in _candidates():
        if path.is_file():
            return str(path)
    raise DatabaseError(
        f"cannot find {LIBRARY_NAME}: set TOONDB_LIB_PATH to the directory that holds it "
        "(build it with `swift build -c release --product toondb_storage`), or install a wheel that bundles it")


def _declare(lib: ctypes.CDLL) -> None:
    """Sets argtypes and restype of every function (the default restype would truncate pointers)."""
    vp, sz, u8, i32, i64, u64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint8, ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64
    cp = ctypes.c_char_p
    signatures = {
        "toondb_open": (vp, [cp]),
        "toondb_open_with_config": (vp, [cp, C_DatabaseConfig]),
        "toondb_open_with_options": (vp, [cp, cp]),
        "toondb_close": (None, [vp]),
        "toondb_begin_txn": (C_TxnHandle, [vp]),
        "toondb_commit": (C_CommitResult, [vp, C_TxnHandle]),
        "toondb_abort": (i32, [vp, C_TxnHandle]),
        "toondb_put": (i32, [vp, C_TxnHandle, cp, sz, cp, sz]),
        "toondb_get": (i32, [vp, C_TxnHandle, cp, sz, c_uint8_pp, c_size_p]),
        "toondb_get_into": (i64, [vp, C_TxnHandle, cp, sz, vp, sz]),
        "toondb_delete": (i32, [vp, C_TxnHandle, cp, sz]),
        "toondb_put_path": (i32, [vp, C_TxnHandle, cp, cp, sz]),
        "toondb_get_path": (i32, [vp, C_TxnHandle, cp, c_uint8_pp, c_size_p]),
        "toondb_delete_path": (i32, [vp, C_TxnHandle, cp]),
        "toondb_scan": (vp, [vp, C_TxnHandle, cp, sz, cp, sz]),
        "toondb_scan_prefix": (vp, [vp, C_TxnHandle, cp, sz]),
        "toondb_scan_next": (i32, [vp, c_uint8_pp, c_size_p, c_uint8_pp, c_size_p]),
        "toondb_scan_batch": (i32, [vp, sz, c_uint8_pp, c_size_p]),
        "toondb_scan_free": (None, [vp]),
        "toondb_put_many": (i64, [vp, C_TxnHandle, C_ByteSlice]),
        "toondb_get_many": (i32, [vp, C_TxnHandle, cp, sz, c_uint8_pp, c_size_p]),
        "toondb_delete_many": (i64, [vp, C_TxnHandle, cp, sz]),
        "toondb_checkpoint": (u64, [vp]),
        "toondb_checkpoint_lsn": (i32, [vp, ctypes.POINTER(u64)]),
        "toondb_stats": (C_StorageStats, [vp]),
        "toondb_stats_json": (i32, [vp, c_uint8_pp, c_size_p]),
        "toondb_set_table_index_policy": (i32, [vp, cp, u8]),
        "toondb_get_table_index_policy": (u8, [vp, cp]),
        "toondb_collection_create": (i32, [vp, cp, ctypes.c_uint32, cp, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32]),
        "toondb_collection_create_encoded": (i32, [vp, cp, ctypes.c_uint32, cp, ctypes.c_uint32, ctypes.c_uint32,
                                                   ctypes.c_uint32, cp]),
        "toondb_collection_drop": (i32, [vp, cp]),
        "toondb_collection_list": (i32, [vp, c_uint8_pp, c_size_p]),
        "toondb_collection_info": (i32, [vp, cp, c_uint8_pp, c_size_p]),
        "toondb_collection_insert": (i64, [vp, cp, cp, sz, cp, sz, cp, sz]),
        "toondb_collection_delete": (i32, [vp, cp, u64]),
        "toondb_collection_get": (i32, [vp, cp, u64, c_uint8_pp, c_size_p]),
        "toondb_collection_search": (i32, [vp, cp, cp, sz, ctypes.c_uint32, ctypes.c_uint32, cp, sz, ctypes.c_uint32,
                                           c_uint8_pp, c_size_p]),
        "toondb_free_bytes": (None, [c_uint8_p, sz]),
        "toondb_last_error": (cp, []),
        "toondb_last_error_code": (i32, []),
        "toondb_version": (cp, []),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


_lock = threading.Lock()
_library: Optional[ctypes.CDLL] = None
_fast: Optional[ctypes.CDLL] = None
_speedups: Any = None

#: Functions on the per-key hot path, declared without argtypes. ctypes converts declared
#: arguments through from_param (~90 ns each, measured); undeclared ones are converted from
#: their Python type in C, which halves the cost of a six-argument call. Undeclared Python
#: ints travel as C int (32 bits, upper register bits undefined), so these are the *32
#: variants whose lengths are C int. Callers pass exactly: a c_void_p handle, a C_TxnHandle,
#: bytes, and ints below 2**31.
FAST_FUNCTIONS = {"toondb_put32": ctypes.c_int32, "toondb_get_into32": ctypes.c_int64, "toondb_delete32": ctypes.c_int32}
FAST_LENGTH_LIMIT = 2**31 - 1


def library() -> ctypes.CDLL:
    """The loaded library (loaded once per process)."""
    global _library, _fast
    if _library is None:
        with _lock:
            if _library is None:
                path = find_library()
                try:
                    lib = ctypes.CDLL(path)
                    _declare(lib)
                    fast = ctypes.CDLL(path)  # separate function objects over the same loaded library
                    for name, restype in FAST_FUNCTIONS.items():
                        getattr(fast, name).restype = restype
                except (OSError, AttributeError) as error:
                    raise DatabaseError(f"cannot load {path}: {error} (an older or foreign build? "
                                        "TOONDB_LIB_PATH selects another copy)") from error
                _fast = fast
                _library = lib
                _bind_speedups(fast)
    return _library


def _bind_speedups(fast: ctypes.CDLL) -> None:
    """Loads the optional C extension (``toondb._speedups``) and gives it the hot functions'
    addresses; without it (not built, or ``TOONDB_PURE_PYTHON`` set) everything uses ctypes."""
    global _speedups
    if os.environ.get("TOONDB_PURE_PYTHON"):
        return
    try:
        from . import _speedups as module  # type: ignore[attr-defined]
    except ImportError:
        return
    address = lambda name: ctypes.cast(getattr(fast, name), ctypes.c_void_p).value  # noqa: E731
    module.bind(address("toondb_put32"), address("toondb_get_into32"), address("toondb_delete32"),
                address("toondb_scan_visit"))
    _speedups = module


def speedups() -> Any:
    """The bound C extension module, or None when the SDK runs on ctypes alone."""
    library()
    return _speedups


def fast_library() -> ctypes.CDLL:
    """The hot-path functions of :data:`FAST_FUNCTIONS` (argtypes undeclared)."""
    library()
    assert _fast is not None
    return _fast


def last_error(default: type = DatabaseError) -> ToonDBError:
    """The exception for the calling thread's last failure in the library."""
    lib = library()
    code = lib.toondb_last_error_code()
    message = (lib.toondb_last_error() or b"").decode("utf-8", "replace") or "unknown error"
    if code == ErrorCode.CONFLICT:
        return TransactionConflictError(message, code)
    if code == ErrorCode.TRANSACTION_CLOSED:
        return TransactionError(message, code)
    return collection_error(message, code) or default(message, code)


def take_bytes(pointer: "ctypes._Pointer[ctypes.c_uint8]", length: int) -> bytes:
    """Copies a buffer the library handed out and gives it back to the library."""
    try:
        return ctypes.string_at(pointer, length)
    finally:
        library().toondb_free_bytes(pointer, length)
