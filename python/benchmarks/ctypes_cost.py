"""The cost of a ctypes call on this machine, declared vs undeclared argtypes, and of the
SDK's put/get on an in-memory database, through ctypes and through the C extension
(toondb._speedups, when built) in the same run (the figures quoted in BENCHMARKS.md).

Usage: TOONDB_LIB_PATH=.build/release PYTHONPATH=python python python/benchmarks/ctypes_cost.py [N]
Profile the engine part with:
    perf record -e cpu-clock -g python python/benchmarks/ctypes_cost.py 300000
"""
from __future__ import annotations

import ctypes
import random
import sys
import tempfile
import time

import toondb
from toondb import _native

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000


def timed(name: str, body) -> None:
    start = time.perf_counter()
    body()
    elapsed = time.perf_counter() - start
    print(f"{name:48s} {elapsed / N * 1e9:8.0f} ns/call")


def main() -> None:
    lib = _native.library()
    undeclared = ctypes.CDLL(_native.find_library())
    key = b"0123456789abcdef"
    buffer = ctypes.create_string_buffer(4096)
    no_txn = _native.NO_TXN
    timed("no arguments (toondb_last_error_code)", lambda: [lib.toondb_last_error_code() for _ in range(N)])
    get_into = lib.toondb_get_into
    timed("6 declared arguments (get_into, NULL handle)", lambda: [get_into(None, no_txn, key, 16, buffer, 4096) for _ in range(N)])
    get_into32 = undeclared.toondb_get_into32
    get_into32.restype = ctypes.c_int64
    null = ctypes.c_void_p(0)
    timed("6 undeclared arguments (get_into32, NULL handle)", lambda: [get_into32(null, no_txn, key, 16, buffer, 4096) for _ in range(N)])

    keys = [b"%016d" % i for i in range(N)]
    random.Random(1).shuffle(keys)
    value = b"v" * 100
    # The SDK both ways in one run: through toondb._speedups (when built) and through ctypes
    # alone, each on a fresh database.
    paths = [("ctypes", False)] + ([("C extension", True)] if _native.speedups() is not None else [])
    for label, extension in paths:
        with tempfile.TemporaryDirectory() as directory, toondb.Database.open(directory + "/db", {"sync_mode": "off"}) as db:
            if not extension:
                db._use_ctypes()
            timed(f"Database.put, random keys, sync off ({label})", lambda: [db.put(k, value) for k in keys])
            timed(f"Database.get, random keys, memtable ({label})", lambda: [db.get(k) for k in keys])


if __name__ == "__main__":
    main()
