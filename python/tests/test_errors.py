"""Error classes, error codes and messages: every documented error path."""
from __future__ import annotations

import subprocess
import sys

import pytest

import toondb
import toondb.errors
from toondb import (
    ConnectionError,
    Database,
    DatabaseError,
    ProtocolError,
    ToonDBError,
    Transaction,
    TransactionConflictError,
    TransactionError,
)

from conftest import child_env

# Stable engine error codes (Sources/CToonDBABI/include/toondb.h, TOONDB_E_*).
E_INVALID_ARGUMENT = 1
E_KEY_TOO_LARGE = 2
E_VALUE_TOO_LARGE = 3
E_CONFLICT = 4
E_DATABASE_CLOSED = 6
E_LOCKED = 7


# --------------------------------------------------------------------------------------------
# Classes


def test_exceptions_are_the_same_objects_in_both_modules():
    assert toondb.errors.ToonDBError is ToonDBError
    assert toondb.errors.DatabaseError is DatabaseError
    assert toondb.errors.TransactionError is TransactionError
    assert toondb.errors.TransactionConflictError is TransactionConflictError
    assert toondb.errors.ConnectionError is ConnectionError
    assert toondb.errors.ProtocolError is ProtocolError
    assert toondb.Database is Database
    assert toondb.Transaction is Transaction


def test_exception_hierarchy():
    assert issubclass(ToonDBError, Exception)
    for cls in (DatabaseError, TransactionError, TransactionConflictError, ConnectionError, ProtocolError):
        assert issubclass(cls, ToonDBError), cls
    assert issubclass(TransactionConflictError, TransactionError)
    assert not issubclass(DatabaseError, TransactionError)
    assert not issubclass(TransactionError, DatabaseError)


def _assert_engine_error(exc, cls, code=None):
    assert isinstance(exc, cls)
    assert isinstance(exc, ToonDBError)
    assert hasattr(exc, "code")
    assert exc.code is None or (isinstance(exc.code, int) and not isinstance(exc.code, bool))
    if code is not None:
        assert exc.code == code, (exc.code, str(exc))
    assert str(exc).strip() != ""


# --------------------------------------------------------------------------------------------
# Keys and values


@pytest.mark.parametrize("bad_key", ["text", 42], ids=["str", "int"])
def test_non_bytes_key_raises_type_error(db, bad_key):
    with pytest.raises(TypeError):
        db.put(bad_key, b"v")
    with pytest.raises(TypeError):
        db.get(bad_key)
    with pytest.raises(TypeError):
        db.delete(bad_key)
    assert list(db.scan()) == []


def test_empty_key_raises_database_error(db):
    for call in (lambda: db.put(b"", b"v"), lambda: db.get(b""), lambda: db.delete(b"")):
        with pytest.raises(DatabaseError) as excinfo:
            call()
        _assert_engine_error(excinfo.value, DatabaseError)
        assert "empty" in str(excinfo.value).lower()
    assert list(db.scan()) == []


def test_key_too_large(db):
    key = b"k" * 65537
    for call in (lambda: db.put(key, b"v"), lambda: db.get(key), lambda: db.delete(key)):
        with pytest.raises(DatabaseError) as excinfo:
            call()
        _assert_engine_error(excinfo.value, DatabaseError, E_KEY_TOO_LARGE)
        assert "65536" in str(excinfo.value)
    assert list(db.scan()) == []


def test_value_too_large(db_path):
    with Database.open(db_path, {"max_value_size_bytes": 4096}) as db:
        with pytest.raises(DatabaseError) as excinfo:
            db.put(b"k", b"x" * 4097)
        _assert_engine_error(excinfo.value, DatabaseError, E_VALUE_TOO_LARGE)
        assert "4096" in str(excinfo.value)
        assert db.get(b"k") is None
        with pytest.raises(DatabaseError):
            db.put_path("a/b", b"x" * 4097)
        assert db.get_path("a/b") is None


def test_default_value_limit_allows_1mib_and_rejects_beyond_16mib(db):
    db.put(b"ok", b"x" * (1 << 20))
    with pytest.raises(DatabaseError) as excinfo:
        db.put(b"too-big", b"x" * ((16 << 20) + 1))
    _assert_engine_error(excinfo.value, DatabaseError, E_VALUE_TOO_LARGE)
    assert db.get(b"too-big") is None


def test_invalid_path_error_code(db):
    with pytest.raises(DatabaseError) as excinfo:
        db.put_path("a//b", b"v")
    _assert_engine_error(excinfo.value, DatabaseError)


def test_errors_are_per_call_not_sticky(db):
    with pytest.raises(DatabaseError):
        db.put(b"", b"v")
    db.put(b"k", b"v")
    assert db.get(b"k") == b"v"
    with pytest.raises(DatabaseError) as excinfo:
        db.put(b"k" * 70000, b"v")
    assert "65536" in str(excinfo.value)
    with pytest.raises(DatabaseError) as excinfo:
        db.put(b"", b"v")
    assert "65536" not in str(excinfo.value)


# --------------------------------------------------------------------------------------------
# Closed database


def _every_method(db):
    return {
        "put": lambda: db.put(b"k", b"v"),
        "get": lambda: db.get(b"k"),
        "delete": lambda: db.delete(b"k"),
        "put_path": lambda: db.put_path("a/b", b"v"),
        "get_path": lambda: db.get_path("a/b"),
        "delete_path": lambda: db.delete_path("a/b"),
        "scan": lambda: list(db.scan()),
        "scan_prefix": lambda: list(db.scan_prefix(b"a")),
        "put_many": lambda: db.put_many([(b"k", b"v")]),
        "get_many": lambda: db.get_many([b"k"]),
        "delete_many": lambda: db.delete_many([b"k"]),
        "transaction": lambda: db.transaction(),
        "checkpoint": lambda: db.checkpoint(),
        "stats": lambda: db.stats(),
    }


def test_every_method_raises_after_close(db_path):
    db = Database.open(db_path)
    db.put(b"k", b"v")
    db.close()
    for name, call in _every_method(db).items():
        with pytest.raises(DatabaseError) as excinfo:
            call()
        assert "closed" in str(excinfo.value).lower(), name


def test_closed_error_code_is_engine_code_or_none(db_path):
    db = Database.open(db_path)
    db.close()
    with pytest.raises(DatabaseError) as excinfo:
        db.get(b"k")
    assert excinfo.value.code in (None, E_DATABASE_CLOSED)


def test_transaction_after_database_close_raises_cleanly(db_path):
    db = Database.open(db_path)
    txn = db.transaction()
    txn.put(b"k", b"v")
    db.close()
    # Any ToonDB error is acceptable; what matters is a clean exception, never a crash.
    with pytest.raises(ToonDBError):
        txn.put(b"j", b"v")
    with pytest.raises(ToonDBError):
        txn.get(b"k")
    with pytest.raises(ToonDBError):
        txn.commit()
    with Database.open(db_path) as again:
        assert again.get(b"k") is None


# --------------------------------------------------------------------------------------------
# Directory lock


def test_second_open_in_same_process_is_locked(db_path):
    with Database.open(db_path) as db:
        with pytest.raises(DatabaseError) as excinfo:
            Database.open(db_path)
        _assert_engine_error(excinfo.value, DatabaseError, E_LOCKED)
        assert "lock" in str(excinfo.value).lower()
        # The first handle is unaffected.
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"
    with Database.open(db_path) as db:
        assert db.get(b"k") == b"v"


HOLDER = r"""
import sys
from toondb import Database
db = Database.open(sys.argv[1])
db.put(b"holder", b"yes")
print("ready", flush=True)
sys.stdin.readline()
db.close()
print("closed", flush=True)
"""


def test_open_locked_by_another_process(db_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_path],
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if not line else line
        with pytest.raises(DatabaseError) as excinfo:
            Database.open(db_path)
        _assert_engine_error(excinfo.value, DatabaseError, E_LOCKED)
        assert "lock" in str(excinfo.value).lower()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "closed"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with Database.open(db_path) as db:
        assert db.get(b"holder") == b"yes"


# --------------------------------------------------------------------------------------------
# Configuration errors


@pytest.mark.parametrize(
    "config, key",
    [
        ({"no_such_option": 1}, "no_such_option"),
        ({"sync_mode": "fast"}, "sync_mode"),
        ({"sync_mode": "normal", "bogus_key": True}, "bogus_key"),
        ({"memtable_size_bytes": 10}, "memtable_size_bytes"),
        ({"max_value_size_bytes": -1}, "max_value_size_bytes"),
        ({"sync_interval_ms": -5}, "sync_interval_ms"),
        ({"block_cache_size_bytes": -1}, "block_cache_size_bytes"),
        ({"memtable_size_bytes": "big"}, "memtable_size_bytes"),
        ({"memtable_size_bytes": None}, "memtable_size_bytes"),
        ({"wal_enabled": "maybe"}, "wal_enabled"),
        ({"group_commit": "sometimes"}, "group_commit"),
        ({"default_index_policy": 9}, "default_index_policy"),
        ({"sync_mode": "off;memtable_size_bytes=4096"}, "sync_mode"),
    ],
)
def test_bad_config_raises_naming_the_key(db_path, config, key):
    with pytest.raises(DatabaseError) as excinfo:
        Database.open(db_path, config)
    assert key in str(excinfo.value)
    # A failed open leaves no lock behind.
    with Database.open(db_path) as db:
        db.put(b"k", b"v")


def test_conflict_error_carries_engine_reason(db):
    t1 = db.transaction()
    t2 = db.transaction()
    t1.put(b"k", b"1")
    t2.put(b"k", b"2")
    t1.commit()
    with pytest.raises(TransactionConflictError) as excinfo:
        t2.commit()
    exc = excinfo.value
    assert isinstance(exc, TransactionError)
    assert isinstance(exc, ToonDBError)
    assert "conflict" in str(exc).lower()
    assert exc.code is None or exc.code in (E_CONFLICT, -2)
