"""Process-crash durability: a child process writes and acknowledges keys on stdout, the
parent SIGKILLs it at a random point, reopens the database and checks that every
acknowledged write survived (and that multi-key commits are all-or-nothing)."""
from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from toondb import Database

from conftest import child_env

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

MAX_WRITES = 50_000
MAX_SECONDS = 20.0
KEYS_PER_COMMIT = 5

# argv: db path, sync mode, "single" or "txn", limits, extra configuration (JSON).
WRITER = r"""
import json, sys, time
from toondb import Database
path, sync_mode, kind = sys.argv[1], sys.argv[2], sys.argv[3]
MAX_WRITES, MAX_SECONDS, PER_COMMIT = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
config = {"sync_mode": sync_mode}
config.update(json.loads(sys.argv[7]))
db = Database.open(path, config)
deadline = time.monotonic() + MAX_SECONDS
out = sys.stdout
out.write("open\n"); out.flush()
for i in range(MAX_WRITES):
    if time.monotonic() > deadline:
        break
    if kind == "single":
        db.put(b"key%08d" % i, b"value-%d-" % i + b"x" * (i % 300))
    else:
        txn = db.transaction()
        for j in range(PER_COMMIT):
            txn.put(b"g%08d/%d" % (i, j), b"group-%d-item-%d" % (i, j))
        txn.commit()
    out.write("%d\n" % i)
    out.flush()
out.write("done\n"); out.flush()
db.close()
"""


def single_value(i: int) -> bytes:
    return b"value-%d-" % i + b"x" * (i % 300)


def run_and_kill(db_path: str, sync_mode: str, kind: str, kill_after: int, config: "dict | None" = None):
    """Starts the writer, SIGKILLs it once `kill_after` acknowledgements arrived, and returns
    every acknowledged index (including those still in the pipe at the kill)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_path, sync_mode, kind, str(MAX_WRITES), str(MAX_SECONDS), str(KEYS_PER_COMMIT),
         json.dumps(config or {})],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: "queue.Queue[str | None]" = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    acknowledged = []
    killed = False
    finished = False
    deadline = time.monotonic() + MAX_SECONDS + 30
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                finished = True
                break
            if not line.endswith("\n"):
                continue  # a torn last line is not an acknowledgement
            text = line.strip()
            if text in ("open", "done"):
                continue
            acknowledged.append(int(text))
            if len(acknowledged) >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
    finally:
        if proc.poll() is None and not killed:
            proc.kill()
        proc.wait(timeout=30)
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert killed, "writer ended before %d acknowledgements (got %d, finished=%s): %s" % (
        kill_after, len(acknowledged), finished, stderr[-2000:])
    assert proc.returncode == -signal.SIGKILL
    # Drain what the child acknowledged before it died.
    thread.join(timeout=30)
    while True:
        line = lines.get_nowait() if not lines.empty() else None
        if line is None:
            break
        if line.endswith("\n") and line.strip().isdigit():
            acknowledged.append(int(line.strip()))
    proc.stdout.close()
    assert acknowledged == list(range(len(acknowledged)))
    return acknowledged


def verify_single(db_path: str, acknowledged, sync_mode: str):
    with Database.open(db_path, {"sync_mode": sync_mode}) as db:
        for i in acknowledged:
            assert db.get(b"key%08d" % i) == single_value(i), "acknowledged key %d lost" % i
        # Anything beyond the acknowledged prefix is at most the one in-flight write(s), and
        # whatever is present is intact and contiguous.
        keys = [k for k, _ in db.scan_prefix(b"key")]
        assert keys == [b"key%08d" % i for i in range(len(keys))]
        for key, value in db.scan_prefix(b"key"):
            assert value == single_value(int(key[3:]))
        # The recovered database takes new writes and survives a clean reopen.
        db.put(b"after-crash", b"ok")
    with Database.open(db_path) as db:
        assert db.get(b"after-crash") == b"ok"
        assert db.get(b"key%08d" % acknowledged[-1]) == single_value(acknowledged[-1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_crash_sync_full_loses_no_acknowledged_write(tmp_path, seed):
    kill_after = random.Random(seed).randrange(200, 2001)
    db_path = str(tmp_path / "db")
    acknowledged = run_and_kill(db_path, "full", "single", kill_after)
    assert len(acknowledged) >= kill_after
    verify_single(db_path, acknowledged, "full")


@pytest.mark.parametrize("mapped", [True, False])
@pytest.mark.parametrize("sync_mode", ["normal", "off"])
def test_process_crash_with_relaxed_sync_loses_nothing(tmp_path, sync_mode, mapped):
    # Mapped WAL appends (the default) are stores into the page cache, written appends are
    # pwrites: either way the kernel holds them once the put returns.
    kill_after = random.Random("relaxed-" + sync_mode).randrange(200, 2001)
    db_path = str(tmp_path / "db")
    acknowledged = run_and_kill(db_path, sync_mode, "single", kill_after, {"wal_mapped_appends": mapped})
    verify_single(db_path, acknowledged, sync_mode)


def test_crash_transactions_all_or_nothing(tmp_path):
    kill_after = random.Random(7).randrange(200, 1001)
    db_path = str(tmp_path / "db")
    acknowledged = run_and_kill(db_path, "full", "txn", kill_after)
    with Database.open(db_path) as db:
        groups = {}
        for key, value in db.scan_prefix(b"g"):
            group, item = key[1:].split(b"/")
            groups.setdefault(int(group), {})[int(item)] = value
        for g in acknowledged:
            assert g in groups, "acknowledged commit %d lost" % g
        for g, items in groups.items():
            assert sorted(items) == list(range(KEYS_PER_COMMIT)), "commit %d partially applied: %r" % (g, sorted(items))
            for j, value in items.items():
                assert value == b"group-%d-item-%d" % (g, j)
        assert sorted(groups) == list(range(len(groups)))
        assert len(groups) >= len(acknowledged)


def test_repeated_crashes_accumulate(tmp_path):
    """Two crashes in a row on the same directory: recovery after a recovery."""
    db_path = str(tmp_path / "db")
    first = run_and_kill(db_path, "full", "single", 150)
    verify_single(db_path, first, "full")
    # The second writer starts again at key 0, overwriting with the same values.
    second = run_and_kill(db_path, "full", "single", 300)
    verify_single(db_path, sorted(set(first) | set(second)), "full")


def test_crash_without_wal_loses_only_unflushed_writes(tmp_path):
    """wal_enabled=False keeps commits in memory until a flush: a crash loses what was not yet
    flushed (documented), but never corrupts the database, and what survives is a prefix of
    the writes (whole memtables), every value intact."""
    db_path = str(tmp_path / "db")
    # Small memtables so several flushes happen before the kill.
    acknowledged = run_and_kill(db_path, "off", "single", 6000, {"wal_enabled": False, "memtable_size_bytes": 64 * 1024})
    with Database.open(db_path) as db:
        keys = [k for k, _ in db.scan_prefix(b"key")]
        assert keys == [b"key%08d" % i for i in range(len(keys))], "not a prefix of the writes"
        assert 0 < len(keys) <= len(acknowledged) + 1, "nothing flushed survived, or more than was written"
        for key, value in db.scan_prefix(b"key"):
            assert value == single_value(int(key[3:]))
        db.put(b"after-crash", b"ok")
    with Database.open(db_path) as db:
        assert db.get(b"after-crash") == b"ok"
