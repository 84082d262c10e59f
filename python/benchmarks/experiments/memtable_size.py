#!/usr/bin/env python3
"""Experiment: how the memtable size changes the embedded SDK's fills, reads and scans
(BENCHMARKS.md, embedded mode). For each size, on a fresh database: N puts of random 16-byte
keys with 100-byte values, reopen, N gets in shuffled order, one full scan; sync mode normal.

    TOONDB_LIB_PATH=$PWD/.build/release PYTHONPATH=python .venv/bin/python \\
        python/benchmarks/experiments/memtable_size.py [N [MiB,MiB,... [runs]]]

Sizes in MiB (default 64,8,4); each run goes through every size in turn.
"""
from __future__ import annotations

import os
import random
import sys
import tempfile
import time

from toondb import Database

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
SIZES = [int(mib) << 20 for mib in (sys.argv[2] if len(sys.argv) > 2 else "64,8,4").split(",")]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 1


def main() -> None:
    rng = random.Random(1)
    keys = [rng.getrandbits(128).to_bytes(16, "big") for _ in range(N)]
    value = os.urandom(100)
    for size in SIZES * RUNS:
        config = {"sync_mode": "normal", "memtable_size_bytes": size}
        with tempfile.TemporaryDirectory(prefix="memtable-size-") as scratch:
            path = os.path.join(scratch, "db")
            with Database.open(path, config) as db:
                start = time.perf_counter()
                for key in keys:
                    db.put(key, value)
                fill = N / (time.perf_counter() - start)
            shuffled = keys[:]
            random.Random(2).shuffle(shuffled)
            with Database.open(path, config) as db:
                start = time.perf_counter()
                for key in shuffled:
                    db.get(key)
                read = N / (time.perf_counter() - start)
                start = time.perf_counter()
                pairs = sum(1 for _ in db.scan())
                scan = pairs / (time.perf_counter() - start)
        print(f"memtable {size >> 20} MiB: fill {fill:,.0f}/s, read {read:,.0f}/s, scan {scan:,.0f}/s", flush=True)


if __name__ == "__main__":
    main()
