"""The optional C extension (toondb._speedups) against the ctypes path: the same answers and
errors for put, get, delete and scans, and malformed input rejected without a crash."""
from __future__ import annotations

import gc
import os
import struct
import threading

import pytest

from toondb import Database, DatabaseError, TransactionError, _native

SPEEDUPS = _native.speedups()


def test_extension_is_built_where_expected():
    """`make test` compiles the extension and sets TOONDB_EXPECT_SPEEDUPS, so a build that
    silently fell back to ctypes fails here instead of going unnoticed."""
    if os.environ.get("TOONDB_EXPECT_SPEEDUPS") and not os.environ.get("TOONDB_PURE_PYTHON"):
        assert SPEEDUPS is not None, "toondb._speedups was not built or did not load"


@pytest.fixture(params=["speedups", "ctypes"])
def db(request, tmp_path):
    with Database.open(str(tmp_path / "db"), {"sync_mode": "off"}) as database:
        if request.param == "speedups":
            if SPEEDUPS is None:
                pytest.skip("toondb._speedups is not built")
            assert database._speed is SPEEDUPS
        else:
            database._use_ctypes()
        yield database


@pytest.mark.parametrize("size", [0, 1, 100, 4095, 4096, 4097, 65536, 200_000])
def test_values_of_every_size_round_trip(db, size):
    value = os.urandom(size)
    db.put(b"k", value)
    assert db.get(b"k") == value
    db.put(bytearray(b"k2"), memoryview(value))
    assert db.get(memoryview(b"k2")) == value


def test_missing_deleted_and_errors(db):
    assert db.get(b"nothing") is None
    db.put(b"a", b"1")
    db.delete(b"a")
    assert db.get(b"a") is None
    db.delete(b"never-there")  # not an error
    with pytest.raises(TypeError):
        db.put("text", b"x")
    with pytest.raises(DatabaseError, match="key"):
        db.put(b"x" * (1 << 20), b"x")  # over the engine's key limit


def test_transactions_see_their_writes_and_their_snapshot(db):
    db.put(b"shared", b"before")
    txn = db.transaction()
    db.put(b"shared", b"after")  # committed after the snapshot: invisible to txn
    txn.put(b"own", b"mine")
    assert txn.get(b"shared") == b"before"
    assert txn.get(b"own") == b"mine"
    assert db.get(b"own") is None
    txn.put(b"gone", b"x")
    txn.delete(b"gone")
    assert txn.get(b"gone") is None
    txn.commit()
    assert db.get(b"own") == b"mine" and db.get(b"gone") is None and db.get(b"shared") == b"after"
    with pytest.raises(TransactionError, match="already committed"):
        txn.get(b"own")
    with pytest.raises(TransactionError, match="already committed"):
        txn.put(b"x", b"y")


def test_scans_agree_with_the_stored_pairs(db):
    pairs = {os.urandom(1 + i % 40): os.urandom(i % 300) for i in range(3000)}
    for key, value in pairs.items():
        db.put(key, value)
    assert list(db.scan()) == sorted(pairs.items())
    assert list(db.scan(b"\x80", b"\xc0")) == sorted((k, v) for k, v in pairs.items() if b"\x80" <= k < b"\xc0")
    assert list(db.scan(b"\xff\xff", b"\xff\xff\x00")) == sorted(
        (k, v) for k, v in pairs.items() if b"\xff\xff" <= k < b"\xff\xff\x00")


def test_scan_pairs_from_the_extension_are_left_out_of_the_cyclic_gc(tmp_path):
    # Pairs of two bytes objects cannot form a cycle; the extension untracks them at once so
    # the collections a long scan's allocations trigger have nothing to walk.
    if SPEEDUPS is None:
        pytest.skip("toondb._speedups is not built")
    with Database.open(str(tmp_path / "db"), {"sync_mode": "off"}) as database:
        database.put_many([(b"k%04d" % i, b"v%d" % i) for i in range(500)])
        # With the collector off, a pair still tracked is one the extension did not untrack
        # (CPython itself untracks such tuples only when a collection visits them).
        gc.disable()
        try:
            pairs = list(database.scan())
            tracked = sum(gc.is_tracked(pair) for pair in pairs)
        finally:
            gc.enable()
    assert pairs == [(b"k%04d" % i, b"v%d" % i) for i in range(500)]
    assert tracked == 0


def test_closed_database_raises(tmp_path):
    database = Database.open(str(tmp_path / "db"))
    database.close()
    with pytest.raises(DatabaseError, match="closed"):
        database.get(b"k")
    with pytest.raises(DatabaseError, match="closed"):
        database.put(b"k", b"v")
    with pytest.raises(DatabaseError, match="closed"):
        database.delete(b"k")


def test_threads_share_a_database(db):
    errors = []

    def worker(n):
        try:
            for i in range(500):
                key = f"t{n}-{i}".encode()
                db.put(key, key * 3)
                assert db.get(key) == key * 3
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(1 for _ in db.scan_prefix(b"t")) == 2000


@pytest.mark.skipif(SPEEDUPS is None, reason="toondb._speedups is not built")
def test_malformed_calls_and_batches_raise_instead_of_crashing():
    with pytest.raises(TypeError):
        SPEEDUPS.scan_batch(0)  # one argument short
    with pytest.raises(ValueError, match="positive"):
        SPEEDUPS.scan_batch(0, 0)
    with pytest.raises(TypeError):
        SPEEDUPS.scan_batch("not a handle", 10)
    # A NULL or made-up scan handle reaches the library, which answers -1 (never a crash).
    assert SPEEDUPS.scan_batch(0, 10) == -1
    assert "scan" in _native.last_error().args[0]
    with pytest.raises(TypeError):
        SPEEDUPS.put(0, 0, 0, b"k")  # one argument short
    with pytest.raises(TypeError):
        SPEEDUPS.get(0, 0, 0, "not bytes")
    with pytest.raises(OverflowError):
        SPEEDUPS.get(0, -1, 0, b"k")
    # A NULL handle reaches the library, which answers with an error status (never a crash).
    assert SPEEDUPS.put(0, 0, 0, b"k", b"v") != 0
    assert isinstance(SPEEDUPS.get(0, 0, 0, b"k"), int)
    assert SPEEDUPS.delete(0, 0, 0, b"k") != 0


def test_put_many_accepts_every_pair_form(db):
    """put_many encodes in C with the extension and in Python without: the same pairs land."""
    pairs = {b"a": b"1", b"b": b""}
    assert db.put_many(pairs) == 2
    assert db.put_many([(bytearray(b"c"), memoryview(b"3")), [b"d", b"4"]]) == 2
    assert db.put_many((bytes([i]) * 3, bytes([i]) * i) for i in range(1, 200)) == 199
    assert db.put_many([]) == 0
    assert db.get(b"a") == b"1" and db.get(b"b") == b"" and db.get(b"c") == b"3" and db.get(b"d") == b"4"
    assert all(db.get(bytes([i]) * 3) == bytes([i]) * i for i in range(1, 200))
    with db.transaction() as txn:
        assert txn.put_many([(b"t1", b"x"), (b"t2", b"y")]) == 2
    assert db.get(b"t2") == b"y"


@pytest.mark.parametrize("pairs, error", [
    ([(b"k", "text")], TypeError),
    ([("k", b"v")], TypeError),
    ([(b"k",)], ValueError),
    ([(b"k", b"v", b"extra")], ValueError),
    ([b"kv"], TypeError),  # two ints, not two byte strings
    ([5], TypeError),
])
def test_put_many_rejects_malformed_pairs_and_writes_nothing(db, pairs, error):
    with pytest.raises(error):
        db.put_many([(b"before", b"1")] + pairs + [(b"after", b"2")])
    assert db.get(b"before") is None and db.get(b"after") is None


def test_encode_pairs_matches_the_python_encoding():
    if SPEEDUPS is None:
        pytest.skip("toondb._speedups is not built")
    from toondb.database import _bytes
    pairs = [(os.urandom(k), os.urandom(v)) for k, v in [(1, 0), (16, 100), (300, 70_000), (5, 5)]]
    buffer, count = SPEEDUPS.encode_pairs(pairs, _bytes)
    expected = struct.pack("<I", len(pairs)) + b"".join(
        struct.pack("<II", len(k), len(v)) + k + v for k, v in pairs)
    assert count == len(pairs) and buffer == expected
    with pytest.raises(TypeError):
        SPEEDUPS.encode_pairs(5, _bytes)  # not iterable


needs_bound = pytest.mark.skipif(SPEEDUPS is None or not hasattr(SPEEDUPS, "Putter"),
                                 reason="toondb._speedups (with Getter and Putter) is not built")


@needs_bound
def test_getter_answers_as_the_python_path(tmp_path):
    """Database.get is a C Getter per instance; every answer and error equals the class
    method's (the Python path), including the calls the getter hands back to it."""
    with Database.open(str(tmp_path / "db"), {"sync_mode": "off"}) as db:
        assert type(db.get) is SPEEDUPS.Getter
        values = {b"empty": b"", b"small": b"v", b"edge": b"e" * 4096, b"long": os.urandom(4097)}
        for key, value in values.items():
            db.put(key, value)
        db.put(b"gone", b"x")
        db.delete(b"gone")
        for key in list(values) + [b"gone", b"never"]:
            assert db.get(key) == Database.get(db, key) == values.get(key)
            assert db.get(bytearray(key)) == db.get(memoryview(key)) == db.get(key=key) == values.get(key)
        with pytest.raises(DatabaseError, match="empty") as fast:
            db.get(b"")
        with pytest.raises(DatabaseError, match="empty") as slow:
            Database.get(db, b"")
        assert str(fast.value) == str(slow.value)
        with pytest.raises(TypeError):
            db.get()
        with pytest.raises(TypeError):
            db.get(b"a", b"b")
        with pytest.raises(TypeError):
            db.get("text")


@needs_bound
def test_putter_writes_and_fails_as_the_python_path(tmp_path):
    """Database.put is a C Putter per instance: what it writes, and the errors it raises, are
    those of the class method; a failed put writes nothing."""
    with Database.open(str(tmp_path / "db"), {"sync_mode": "off"}) as db:
        assert type(db.put) is SPEEDUPS.Putter
        db.put(b"bytes", b"1")
        db.put(bytearray(b"array"), memoryview(b"2"))
        db.put(key=b"keywords", value=b"3")
        db.put(b"empty value", b"")
        db.put(b"long", b"x" * 100_000)
        assert [db.get(k) for k in (b"bytes", b"array", b"keywords", b"empty value")] == [b"1", b"2", b"3", b""]
        assert db.get(b"long") == b"x" * 100_000
        for args, error, match in [((b"", b"v"), DatabaseError, "empty"),
                                   ((b"k" * 70_000, b"v"), DatabaseError, "limit"),
                                   (("text", b"v"), TypeError, "bytes"),
                                   ((b"k",), TypeError, "value")]:
            with pytest.raises(error, match=match) as fast:
                db.put(*args)
            with pytest.raises(error) as slow:
                Database.put(db, *args)
            assert str(fast.value) == str(slow.value)
        assert sorted(k for k, _ in db.scan()) == [b"array", b"bytes", b"empty value", b"keywords", b"long"]


@needs_bound
def test_bound_calls_after_close_and_after_the_database_is_gone(tmp_path):
    path = str(tmp_path / "db")
    db = Database.open(path)
    db.put(b"k", b"v")
    get, put = db.get, db.put
    db.close()
    for call in (lambda: get(b"k"), lambda: put(b"k", b"w"), lambda: db.get(b"k"), lambda: db.put(b"k", b"w")):
        with pytest.raises(DatabaseError, match="closed"):
            call()
    # They hold the database weakly: dropping the last reference closes it at once (no cycle
    # waiting for the garbage collector), so the directory can be reopened.
    gc.disable()
    try:
        db = Database.open(path)
        get, put = db.get, db.put
        del db
        with Database.open(path) as again:
            assert again.get(b"k") == b"v"
        for call in (lambda: get(b"k"), lambda: put(b"k", b"w")):
            with pytest.raises(DatabaseError, match="closed"):
                call()
    finally:
        gc.enable()


@needs_bound
def test_a_subclass_method_is_not_shadowed(tmp_path):
    class Upper(Database):
        def get(self, key):
            value = super().get(key)
            return None if value is None else value.upper()

        def put(self, key, value):
            super().put(key, value + b"!")

    with Upper.open(str(tmp_path / "db"), {"sync_mode": "off"}) as db:
        db.put(b"k", b"abc")
        assert db.get(b"k") == b"ABC!"
