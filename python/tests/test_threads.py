"""Many threads sharing one Database. Every loop is bounded in iterations and in time."""
from __future__ import annotations

import json
import threading
import time

import pytest

from toondb import Database, DatabaseError, TransactionConflictError

from conftest import run_python

DEADLINE_SECONDS = 60.0


def run_threads(count, target):
    """Runs target(index) on `count` threads; re-raises the first failure."""
    errors = []

    def wrapper(index):
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append((index, exc))

    threads = [threading.Thread(target=wrapper, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_SECONDS)
    alive = [t for t in threads if t.is_alive()]
    assert not alive, "%d threads still running after %.0f s" % (len(alive), DEADLINE_SECONDS)
    if errors:
        index, exc = errors[0]
        raise AssertionError("thread %d failed: %r" % (index, exc)) from exc


@pytest.mark.parametrize("sync_mode", ["off", "full"])
def test_threads_put_get_own_keys(db_path, sync_mode):
    threads = 8
    per_thread = 2000
    with Database.open(db_path, {"sync_mode": sync_mode}) as db:

        def work(index):
            for i in range(per_thread):
                key = b"t%d/k%05d" % (index, i)
                value = b"thread-%d-value-%d" % (index, i)
                db.put(key, value)
                got = db.get(key)
                assert got == value, (key, got)
                if i % 97 == 0:
                    # Re-read an earlier key of this thread.
                    old = i // 2
                    assert db.get(b"t%d/k%05d" % (index, old)) == b"thread-%d-value-%d" % (index, old)

        run_threads(threads, work)

        for index in range(threads):
            rows = list(db.scan_prefix(b"t%d/" % index))
            assert len(rows) == per_thread
            assert rows == [(b"t%d/k%05d" % (index, i), b"thread-%d-value-%d" % (index, i)) for i in range(per_thread)]
        assert sum(1 for _ in db.scan()) == threads * per_thread
        assert db.stats()["commits"] >= threads * per_thread

    with Database.open(db_path) as db:
        assert sum(1 for _ in db.scan()) == threads * per_thread
        assert db.get(b"t7/k%05d" % (per_thread - 1)) == b"thread-7-value-%d" % (per_thread - 1)


def test_concurrent_counter_increments_with_retry(db_path):
    threads = 4
    increments_per_thread = 60
    counters = [b"counter/a", b"counter/b", b"counter/c"]
    conflicts = [0] * threads
    with Database.open(db_path, {"sync_mode": "off"}) as db:
        for counter in counters:
            db.put(counter, b"0")

        def work(index):
            deadline = time.monotonic() + DEADLINE_SECONDS
            done = 0
            attempts = 0
            while done < increments_per_thread:
                attempts += 1
                assert attempts <= 50_000, "too many retries"
                assert time.monotonic() < deadline, "out of time"
                counter = counters[(index + done) % len(counters)]
                txn = db.transaction()
                try:
                    value = int(txn.get(counter))
                    txn.put(counter, b"%d" % (value + 1))
                    # Also keep a per-thread log written in the same transaction.
                    txn.put(b"log/%d/%04d" % (index, done), counter)
                    txn.commit()
                except TransactionConflictError:
                    conflicts[index] += 1
                    continue
                except BaseException:
                    txn.abort()
                    raise
                done += 1

        run_threads(threads, work)

        total = sum(int(db.get(c)) for c in counters)
        assert total == threads * increments_per_thread
        # Every successful increment wrote exactly one log entry, and no lost update hid one.
        logs = list(db.scan_prefix(b"log/"))
        assert len(logs) == threads * increments_per_thread
        for counter in counters:
            assert int(db.get(counter)) == sum(1 for _, c in logs if c == counter)
        assert db.stats()["active_transactions"] == 0


def test_disjoint_transactions_never_conflict(db_path):
    threads = 6
    per_thread = 100
    with Database.open(db_path, {"sync_mode": "off"}) as db:

        def work(index):
            for i in range(per_thread):
                txn = db.transaction()
                txn.put(b"own/%d/%03d/a" % (index, i), b"x")
                txn.put(b"own/%d/%03d/b" % (index, i), b"y")
                assert txn.get(b"own/%d/%03d/a" % (index, i)) == b"x"
                txn.commit()  # a TransactionConflictError here is a false conflict

        run_threads(threads, work)
        assert sum(1 for _ in db.scan_prefix(b"own/")) == threads * per_thread * 2


def test_values_of_many_sizes_from_threads(db_path):
    # Values below, at and above common buffer sizes, read back by several threads at once.
    sizes = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537, 100_000, 300_000]
    with Database.open(db_path, {"sync_mode": "off"}) as db:

        def value_for(index, i, size):
            return (b"%d:%d:" % (index, i) * (size // 4 + 1))[:size]

        def work(index):
            for i in range(30):
                size = sizes[(index + i) % len(sizes)]
                key = b"sz/%d/%02d" % (index, i)
                value = value_for(index, i, size)
                db.put(key, value)
                assert db.get(key) == value
                other = b"sz/%d/%02d" % (index, i // 2)
                assert db.get(other) == value_for(index, i // 2, sizes[(index + i // 2) % len(sizes)])
            with db.transaction() as txn:
                for i in range(30):
                    size = sizes[(index + i) % len(sizes)]
                    assert txn.get(b"sz/%d/%02d" % (index, i)) == value_for(index, i, size)

        run_threads(4, work)
        for index in range(4):
            rows = list(db.scan_prefix(b"sz/%d/" % index))
            assert len(rows) == 30
            for i, (key, value) in enumerate(rows):
                assert value == value_for(index, i, sizes[(index + i) % len(sizes)])


def test_transaction_ids_unique_across_threads(db):
    ids = []
    lock = threading.Lock()

    def work(index):
        local = []
        for _ in range(50):
            txn = db.transaction()
            local.append(txn.id)
            txn.abort()
        with lock:
            ids.extend(local)

    run_threads(4, work)
    assert len(ids) == 200
    assert len(set(ids)) == 200


def test_scans_during_concurrent_writes(db_path):
    with Database.open(db_path, {"sync_mode": "off"}) as db:
        db.put_many((b"s/%05d" % i, b"initial") for i in range(0, 3000, 2))
        stop = threading.Event()

        def writer(index):
            try:
                for i in range(1, 3000, 2):
                    db.put(b"s/%05d" % i, b"w%d" % index)
                    if i % 6 == 1:
                        db.delete(b"s/%05d" % (i - 1))
            finally:
                stop.set()

        def scanner(index):
            for _ in range(20):
                keys = [k for k, _ in db.scan_prefix(b"s/")]
                assert keys == sorted(keys)
                assert len(keys) == len(set(keys))
                assert all(k.startswith(b"s/") for k in keys)
                if stop.is_set():
                    break

        def run(index):
            if index == 0:
                writer(index)
            else:
                scanner(index)

        run_threads(3, run)
        keys = [k for k, _ in db.scan_prefix(b"s/")]
        expected = sorted(
            [b"s/%05d" % i for i in range(1, 3000, 2)]
            + [b"s/%05d" % i for i in range(0, 3000, 2) if (i + 1) % 6 != 1]
        )
        assert keys == expected


def test_error_messages_are_per_thread(db):
    rounds = 300

    def work(index):
        for i in range(rounds):
            if index == 0:
                with pytest.raises(DatabaseError) as excinfo:
                    db.put(b"", b"v")
                assert "empty" in str(excinfo.value).lower()
                assert "65536" not in str(excinfo.value)
            elif index == 1:
                with pytest.raises(DatabaseError) as excinfo:
                    db.put(b"k" * 65537, b"v")
                assert "65536" in str(excinfo.value)
            else:
                db.put(b"ok/%d/%d" % (index, i), b"v")
                assert db.get(b"ok/%d/%d" % (index, i)) == b"v"

    run_threads(4, work)
    assert sum(1 for _ in db.scan_prefix(b"ok/")) == 2 * rounds


def test_batches_from_threads(db_path):
    with Database.open(db_path, {"sync_mode": "off"}) as db:

        def work(index):
            for batch in range(20):
                pairs = [(b"b/%d/%02d/%03d" % (index, batch, i), b"%d" % i) for i in range(50)]
                assert db.put_many(pairs) == 50
                values = db.get_many([k for k, _ in pairs])
                assert values == [v for _, v in pairs]

        run_threads(4, work)
        assert sum(1 for _ in db.scan_prefix(b"b/")) == 4 * 20 * 50


# Runs in a child process: a native crash there fails this test instead of killing pytest.
CLOSE_UNDER_WRITERS = r"""
import json, sys, threading, time
from toondb import Database, DatabaseError

path = sys.argv[1]
db = Database.open(path, {"sync_mode": "off"})
started = threading.Barrier(4)
outcomes = {}
problems = []
lock = threading.Lock()

def work(index):
    started.wait(timeout=30)
    successes = 0
    for i in range(20000):
        try:
            db.put(b"c/%d/%05d" % (index, i), b"v")
            successes += 1
        except DatabaseError as exc:
            if "closed" not in str(exc).lower():
                problems.append(repr(exc))
            break
        except BaseException as exc:
            problems.append(repr(exc))
            break
    with lock:
        outcomes[index] = successes

threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(3)]
for thread in threads:
    thread.start()
started.wait(timeout=30)
# Let the writers make progress, then close under them (a bounded poll, not a timing check).
for _ in range(3000):
    if db.stats()["commits"] >= 300:
        break
    time.sleep(0.01)
db.close()
for thread in threads:
    thread.join(timeout=60)
print(json.dumps({"outcomes": outcomes, "problems": problems,
                  "alive": sum(t.is_alive() for t in threads)}))
"""


def test_close_while_other_threads_use_the_database(db_path):
    proc = run_python(CLOSE_UNDER_WRITERS, db_path)
    assert proc.returncode == 0, "child died (%d): %s" % (proc.returncode, proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["alive"] == 0
    assert result["problems"] == []
    outcomes = {int(k): v for k, v in result["outcomes"].items()}
    assert sorted(outcomes) == [0, 1, 2]
    # Whatever each writer got acknowledged before the close is durable.
    with Database.open(db_path) as again:
        for index, successes in outcomes.items():
            keys = [k for k, _ in again.scan_prefix(b"c/%d/" % index)]
            assert len(keys) >= successes
            assert keys[:successes] == [b"c/%d/%05d" % (index, i) for i in range(successes)]
