"""Transactions: snapshot isolation, own writes, commit/abort, context manager, finished
transactions and write-write conflicts."""
from __future__ import annotations

import pytest

from toondb import (
    Database,
    DatabaseError,
    ToonDBError,
    Transaction,
    TransactionConflictError,
    TransactionError,
)


def test_transaction_type_and_id(db):
    txns = [db.transaction() for _ in range(5)]
    try:
        for txn in txns:
            assert isinstance(txn, Transaction)
            assert isinstance(txn.id, int) and not isinstance(txn.id, bool)
        assert len({t.id for t in txns}) == 5
    finally:
        for txn in txns:
            txn.abort()
    # Ids stay unique after earlier transactions finished.
    later = db.transaction()
    try:
        assert later.id not in {t.id for t in txns}
    finally:
        later.abort()


def test_commit_applies_writes(db):
    txn = db.transaction()
    txn.put(b"a", b"1")
    txn.put(b"b", b"2")
    txn.put_path("p/q", b"3")
    # Uncommitted writes are invisible outside the transaction.
    assert db.get(b"a") is None
    assert db.get_path("p/q") is None
    assert list(db.scan()) == []
    ts = txn.commit()
    assert isinstance(ts, int) and not isinstance(ts, bool)
    assert ts > 0
    assert db.get(b"a") == b"1"
    assert db.get(b"b") == b"2"
    assert db.get(b"p/q") == b"3"


def test_commit_timestamps_increase(db):
    stamps = []
    for i in range(5):
        txn = db.transaction()
        txn.put(b"k%d" % i, b"v")
        stamps.append(txn.commit())
        db.put(b"auto%d" % i, b"v")  # auto-commit writes in between
    assert all(isinstance(s, int) and s > 0 for s in stamps)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_abort_discards_writes(db):
    db.put(b"keep", b"old")
    txn = db.transaction()
    txn.put(b"keep", b"new")
    txn.put(b"fresh", b"x")
    txn.delete(b"keep")
    assert txn.abort() is None
    assert db.get(b"keep") == b"old"
    assert db.get(b"fresh") is None


def test_get_sees_own_writes_and_deletes(db):
    db.put(b"existing", b"e")
    db.put(b"doomed", b"d")
    txn = db.transaction()
    try:
        assert txn.get(b"existing") == b"e"
        assert txn.get(b"missing") is None
        txn.put(b"new", b"n")
        assert txn.get(b"new") == b"n"
        txn.put(b"existing", b"e2")
        assert txn.get(b"existing") == b"e2"
        txn.delete(b"doomed")
        assert txn.get(b"doomed") is None
        txn.put(b"doomed", b"back")
        assert txn.get(b"doomed") == b"back"
        txn.delete(b"doomed")
        assert txn.get(b"doomed") is None
        txn.put(b"empty", b"")
        assert txn.get(b"empty") == b""
    finally:
        txn.commit()
    assert db.get(b"doomed") is None
    assert db.get(b"existing") == b"e2"
    assert db.get(b"empty") == b""


def test_snapshot_isolation_of_reads(db):
    db.put(b"k", b"before")
    db.put(b"gone", b"here")
    txn = db.transaction()
    try:
        # Changes committed after begin are invisible, even to keys not read yet.
        db.put(b"k", b"after")
        db.put(b"new", b"after")
        db.delete(b"gone")
        other = db.transaction()
        other.put(b"other", b"x")
        other.commit()
        assert txn.get(b"k") == b"before"
        assert txn.get(b"new") is None
        assert txn.get(b"gone") == b"here"
        assert txn.get(b"other") is None
        assert list(txn.scan()) == [(b"gone", b"here"), (b"k", b"before")]
    finally:
        txn.abort()
    assert db.get(b"k") == b"after"


def test_scan_merges_own_writes_and_hides_own_deletes(db):
    for key in (b"a", b"c", b"e", b"g"):
        db.put(key, b"db-" + key)
    txn = db.transaction()
    try:
        txn.put(b"b", b"txn-b")
        txn.put(b"e", b"txn-e")
        txn.delete(b"c")
        txn.put(b"z", b"txn-z")
        txn.put(b"h", b"txn-h")
        txn.delete(b"h")
        expected = [(b"a", b"db-a"), (b"b", b"txn-b"), (b"e", b"txn-e"), (b"g", b"db-g"), (b"z", b"txn-z")]
        assert list(txn.scan()) == expected
        assert list(txn.scan(b"b", b"g")) == [(b"b", b"txn-b"), (b"e", b"txn-e")]
        assert list(txn.scan(start=b"f")) == [(b"g", b"db-g"), (b"z", b"txn-z")]
        assert list(txn.scan(end=b"c")) == [(b"a", b"db-a"), (b"b", b"txn-b")]
    finally:
        txn.abort()
    assert [k for k, _ in db.scan()] == [b"a", b"c", b"e", b"g"]


def test_scan_prefix_in_transaction(db):
    db.put(b"doc/1", b"one")
    db.put(b"doc/3", b"three")
    db.put(b"docx", b"other")
    txn = db.transaction()
    try:
        txn.put(b"doc/2", b"two")
        txn.delete(b"doc/3")
        txn.put(b"doc", b"root")
        assert list(txn.scan_prefix(b"doc/")) == [(b"doc/1", b"one"), (b"doc/2", b"two")]
        assert [k for k, _ in txn.scan_prefix(b"doc")] == [b"doc", b"doc/1", b"doc/2", b"docx"]
    finally:
        txn.commit()
    assert [k for k, _ in db.scan_prefix(b"doc/")] == [b"doc/1", b"doc/2"]


def test_transaction_paths(db):
    txn = db.transaction()
    txn.put_path("users/7/name", b"Grace")
    txn.put_path("users/7/email", b"grace@example.com")
    assert txn.get_path("users/7/name") == b"Grace"
    assert txn.get(b"users/7/name") == b"Grace"
    txn.delete_path("users/7/email")
    assert txn.get_path("users/7/email") is None
    with pytest.raises(ToonDBError):
        txn.put_path("users//x", b"v")
    txn.commit()
    assert db.get_path("users/7/name") == b"Grace"
    assert db.get_path("users/7/email") is None
    assert db.get(b"users//x") is None


def test_transaction_rejects_bad_keys(db):
    txn = db.transaction()
    try:
        with pytest.raises(ToonDBError):
            txn.put(b"", b"v")
        with pytest.raises(ToonDBError) as excinfo:
            txn.put(b"k" * 65537, b"v")
        assert "65536" in str(excinfo.value)
        with pytest.raises(TypeError):
            txn.put("text", b"v")
        txn.put(b"ok", b"v")
    finally:
        txn.commit()
    assert db.get(b"ok") == b"v"


def test_buffer_types_in_transaction(db):
    with db.transaction() as txn:
        txn.put(bytearray(b"ba"), memoryview(b"mv"))
        assert txn.get(memoryview(b"ba")) == b"mv"
    assert db.get(b"ba") == b"mv"


# --------------------------------------------------------------------------------------------
# Context manager


def test_context_manager_commits_on_normal_exit(db):
    with db.transaction() as txn:
        assert isinstance(txn, Transaction)
        txn.put(b"cm", b"1")
        assert db.get(b"cm") is None
    assert db.get(b"cm") == b"1"
    with pytest.raises(TransactionError, match="^Transaction already committed$"):
        txn.put(b"x", b"y")


def test_context_manager_aborts_on_exception_and_reraises(db):
    class Failure(Exception):
        pass

    db.put(b"cm", b"old")
    with pytest.raises(Failure):
        with db.transaction() as txn:
            txn.put(b"cm", b"new")
            txn.put(b"other", b"x")
            raise Failure("boom")
    assert db.get(b"cm") == b"old"
    assert db.get(b"other") is None
    assert db.stats()["active_transactions"] == 0
    with pytest.raises(TransactionError, match="^Transaction already aborted$"):
        txn.get(b"cm")


def test_context_manager_reraises_conflict(db):
    with pytest.raises(TransactionConflictError):
        with db.transaction() as txn:
            txn.put(b"k", b"mine")
            db.put(b"k", b"theirs")  # an auto-commit write after the snapshot
    assert db.get(b"k") == b"theirs"
    assert db.stats()["active_transactions"] == 0


# --------------------------------------------------------------------------------------------
# Finished transactions


def _uses(txn):
    return {
        "put": lambda: txn.put(b"k", b"v"),
        "get": lambda: txn.get(b"k"),
        "delete": lambda: txn.delete(b"k"),
        "put_path": lambda: txn.put_path("a/b", b"v"),
        "get_path": lambda: txn.get_path("a/b"),
        "delete_path": lambda: txn.delete_path("a/b"),
        "scan": lambda: list(txn.scan()),
        "scan_prefix": lambda: list(txn.scan_prefix(b"k")),
        "commit": lambda: txn.commit(),
        "abort": lambda: txn.abort(),
    }


def test_using_committed_transaction_raises(db):
    txn = db.transaction()
    txn.put(b"k", b"v")
    txn.commit()
    for name, use in _uses(txn).items():
        with pytest.raises(TransactionError) as excinfo:
            use()
        assert str(excinfo.value) == "Transaction already committed", name
        assert not isinstance(excinfo.value, TransactionConflictError), name
    assert db.get(b"k") == b"v"
    assert db.get_path("a/b") is None


def test_using_aborted_transaction_raises(db):
    txn = db.transaction()
    txn.put(b"k", b"v")
    txn.abort()
    for name, use in _uses(txn).items():
        with pytest.raises(TransactionError) as excinfo:
            use()
        assert str(excinfo.value) == "Transaction already aborted", name
    assert db.get(b"k") is None
    assert db.get_path("a/b") is None


def test_read_only_and_empty_transactions_commit(db):
    db.put(b"k", b"v")
    empty = db.transaction()
    ts = empty.commit()
    assert isinstance(ts, int) and not isinstance(ts, bool)
    reader = db.transaction()
    assert reader.get(b"k") == b"v"
    assert isinstance(reader.commit(), int)
    assert db.stats()["active_transactions"] == 0


# --------------------------------------------------------------------------------------------
# Conflicts


def test_write_write_conflict_second_committer_loses(db):
    db.put(b"k", b"base")
    t1 = db.transaction()
    t2 = db.transaction()
    t1.put(b"k", b"one")
    t2.put(b"k", b"two")
    t2.put(b"t2-only", b"x")
    t1.commit()
    with pytest.raises(TransactionConflictError) as excinfo:
        t2.commit()
    assert isinstance(excinfo.value, TransactionError)
    assert db.get(b"k") == b"one"
    assert db.get(b"t2-only") is None
    assert db.stats()["active_transactions"] == 0


def test_conflict_order_follows_commit_not_begin(db):
    t1 = db.transaction()
    t2 = db.transaction()
    t1.put(b"k", b"one")
    t2.put(b"k", b"two")
    t2.commit()  # the later transaction commits first and wins
    with pytest.raises(TransactionConflictError):
        t1.commit()
    assert db.get(b"k") == b"two"


def test_delete_conflicts_with_put(db):
    db.put(b"k", b"base")
    t1 = db.transaction()
    t2 = db.transaction()
    t1.delete(b"k")
    t2.put(b"k", b"two")
    t1.commit()
    with pytest.raises(TransactionConflictError):
        t2.commit()
    assert db.get(b"k") is None


def test_auto_commit_write_conflicts_with_transaction(db):
    txn = db.transaction()
    txn.put(b"k", b"txn")
    txn.put(b"j", b"txn")
    db.put(b"k", b"auto")
    with pytest.raises(TransactionConflictError):
        txn.commit()
    assert db.get(b"k") == b"auto"
    assert db.get(b"j") is None


def test_conflicting_transaction_is_finished(db):
    t1 = db.transaction()
    t2 = db.transaction()
    t1.put(b"k", b"1")
    t2.put(b"k", b"2")
    t1.commit()
    with pytest.raises(TransactionConflictError):
        t2.commit()
    with pytest.raises(TransactionError):
        t2.put(b"x", b"y")
    assert db.get(b"x") is None
    # A retry in a new transaction succeeds.
    t3 = db.transaction()
    assert t3.get(b"k") == b"1"
    t3.put(b"k", b"3")
    assert t3.commit() > 0
    assert db.get(b"k") == b"3"


def test_non_conflicting_pair_both_commit(db):
    db.put(b"shared", b"read-by-both")
    t1 = db.transaction()
    t2 = db.transaction()
    assert t1.get(b"shared") == b"read-by-both"
    assert t2.get(b"shared") == b"read-by-both"
    t1.put(b"a", b"1")
    t2.put(b"b", b"2")
    c1 = t1.commit()
    c2 = t2.commit()
    assert c2 > c1 > 0
    assert db.get(b"a") == b"1"
    assert db.get(b"b") == b"2"


def test_read_only_transaction_never_conflicts(db):
    db.put(b"k", b"v0")
    reader = db.transaction()
    assert reader.get(b"k") == b"v0"
    assert list(reader.scan()) == [(b"k", b"v0")]
    for i in range(1, 4):
        writer = db.transaction()
        writer.put(b"k", b"v%d" % i)
        writer.commit()
        db.put(b"k2", b"x")
    assert reader.get(b"k") == b"v0"
    assert isinstance(reader.commit(), int)  # no TransactionConflictError
    assert db.get(b"k") == b"v3"


def test_reads_do_not_cause_conflicts(db):
    # Snapshot isolation checks write-write conflicts only: reading a key another
    # transaction changed does not fail a transaction that writes elsewhere.
    db.put(b"x", b"0")
    t1 = db.transaction()
    assert t1.get(b"x") == b"0"
    db.put(b"x", b"1")
    t1.put(b"y", b"from-t1")
    t1.commit()
    assert db.get(b"y") == b"from-t1"


def test_transaction_after_conflict_sees_winner(db):
    t1 = db.transaction()
    t1.put(b"counter", b"1")
    t1.commit()
    t2 = db.transaction()
    assert t2.get(b"counter") == b"1"
    t2.abort()


def test_many_sequential_transactions(db):
    for i in range(200):
        with db.transaction() as txn:
            current = txn.get(b"counter")
            value = int(current) if current is not None else 0
            txn.put(b"counter", b"%d" % (value + 1))
    assert db.get(b"counter") == b"200"
    assert db.stats()["active_transactions"] == 0


def test_large_transaction(fast_db):
    with fast_db.transaction() as txn:
        for i in range(2000):
            txn.put(b"bulk%05d" % i, b"v%d" % i)
        assert txn.get(b"bulk01999") == b"v1999"
        assert sum(1 for _ in txn.scan_prefix(b"bulk")) == 2000
    assert fast_db.get(b"bulk00000") == b"v0"
    assert sum(1 for _ in fast_db.scan_prefix(b"bulk")) == 2000


def test_transactions_persist(db_path):
    with Database.open(db_path) as db:
        with db.transaction() as txn:
            txn.put(b"t1", b"a")
            txn.put(b"t2", b"b")
        aborted = db.transaction()
        aborted.put(b"t3", b"c")
        aborted.abort()
        open_at_close = db.transaction()
        open_at_close.put(b"t4", b"d")
    with Database.open(db_path) as db:
        assert db.get(b"t1") == b"a"
        assert db.get(b"t2") == b"b"
        assert db.get(b"t3") is None
        assert db.get(b"t4") is None


def test_transaction_on_closed_database_raises(db_path):
    db = Database.open(db_path)
    db.close()
    with pytest.raises(DatabaseError):
        db.transaction()
