"""Native resources: scans that are closed (started or not) free their native iterators,
and iterating after the owner finished never crashes the process."""
from __future__ import annotations

import json

import pytest

from toondb import DatabaseError, ToonDBError

from conftest import run_python

# Writes ~1 MB per round, opens a scan, closes it (after taking one row, or without ever
# starting it), then checkpoints. A scan that still holds its native iterator keeps that
# round's memtable alive, so the resident set grows by about 1 MB per round.
SCAN_CLOSE_PROBE = r"""
import gc, json, os, sys
from toondb import Database

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)

mode, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Database.open(path, {"sync_mode": "off", "block_cache_size_bytes": 0})
before = rss_mib()
for r in range(rounds):
    db.put_many((b"r%03d-%04d" % (r, i), os.urandom(1000)) for i in range(1000))
    gen = db.scan()
    if mode == "started":
        next(gen)
    gen.close()
    del gen
    gc.collect()
    db.checkpoint()
after = rss_mib()
db.close()
print(json.dumps({"growth_mib": after - before}))
"""


def _growth(tmp_path, mode: str, rounds: int) -> float:
    proc = run_python(SCAN_CLOSE_PROBE, mode, str(tmp_path / ("db-" + mode)), str(rounds))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])["growth_mib"]


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc")
def test_closing_an_unstarted_scan_frees_its_iterator(tmp_path):
    rounds = 60
    started = _growth(tmp_path, "started", rounds)
    unstarted = _growth(tmp_path, "unstarted", rounds)
    # Both variants close every generator; a leak of ~1 MiB per round (60 MiB in all) shows
    # as the difference. The margin absorbs allocator noise.
    assert unstarted - started < rounds / 2, (
        "closing a never-started scan generator leaked memory: %.1f MiB vs %.1f MiB" % (unstarted, started))


def test_scan_continues_or_fails_cleanly_after_database_close(fast_db):
    fast_db.put_many((b"k%05d" % i, b"v") for i in range(10_000))
    gen = fast_db.scan()
    assert next(gen) == (b"k00000", b"v")
    fast_db.close()
    try:
        rest = list(gen)
    except DatabaseError as exc:
        assert "closed" in str(exc).lower()
    else:
        keys = [k for k, _ in rest]
        assert keys == [b"k%05d" % i for i in range(1, 1 + len(keys))]


def test_transaction_scan_after_commit_fails_cleanly_or_finishes(fast_db):
    fast_db.put_many((b"k%05d" % i, b"v") for i in range(5_000))
    txn = fast_db.transaction()
    txn.put(b"k00000x", b"own")
    gen = iter(txn.scan())
    assert next(gen) == (b"k00000", b"v")
    txn.commit()
    try:
        rest = list(gen)
    except ToonDBError:
        pass
    else:
        keys = [k for k, _ in rest]
        assert keys == sorted(keys)
        assert len(keys) == len(set(keys))
        assert b"k00000" not in keys
    assert fast_db.get(b"k00000x") == b"own"


def test_many_scans_opened_and_closed(fast_db):
    fast_db.put_many((b"k%03d" % i, b"v") for i in range(300))
    for i in range(2000):
        gen = fast_db.scan_prefix(b"k%d" % (i % 3))
        if i % 2:
            next(gen)
        gen.close()
    assert sum(1 for _ in fast_db.scan()) == 300


# Every basic call, in a fresh interpreter each time: a native call that crashes only under
# some process states (for example a length passed through an undeclared C argument whose
# upper register bits are garbage) shows up as a dead child rather than killing pytest.
BASIC_CALLS = r"""
import sys
from toondb import Database
db = Database.open(sys.argv[1], {"sync_mode": sys.argv[2]})
print("open", flush=True)
for i in range(200):
    key = b"key%08d" % i
    value = b"value-%d-" % i + b"x" * (i % 300)
    db.put(key, value)
    assert db.get(key) == value, i
    if i % 3 == 0:
        db.delete(key)
        assert db.get(key) is None
db.put(b"big", b"y" * 100000)
assert db.get(b"big") == b"y" * 100000
assert db.get(b"missing") is None
db.close()
print("ok", flush=True)
"""


def test_basic_calls_in_fresh_processes(tmp_path):
    failures = []
    for attempt in range(8):
        sync_mode = ("full", "off")[attempt % 2]
        proc = run_python(BASIC_CALLS, str(tmp_path / ("db%d" % attempt)), sync_mode)
        if proc.returncode != 0 or proc.stdout.split() != ["open", "ok"]:
            failures.append("attempt %d (sync_mode %s): exit %d, stdout %r, stderr %s" % (
                attempt, sync_mode, proc.returncode, proc.stdout, proc.stderr[:400]))
    assert not failures, "%d of 8 child processes failed:\n%s" % (len(failures), "\n".join(failures))
