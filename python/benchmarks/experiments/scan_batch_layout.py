#!/usr/bin/env python3
"""Experiment: splitting a scan batch into (key, value) pairs in pure Python, for the library's
batch layout (`count u32, is_done u8, {klen u32, vlen u32, key, value}*`) and for an
offsets-first layout (all offsets as one u32 array, then the bytes), 10,000 pairs of 16-byte
keys and 100-byte values (BENCHMARKS.md, embedded mode).

    python3 python/benchmarks/experiments/scan_batch_layout.py
"""
from __future__ import annotations

import array
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from toondb.database import _split_batch  # noqa: E402 - the SDK's own splitter (ctypes path)

N = 10_000
REPEATS = 50
HEADER = struct.Struct("<IB")


def interleaved(data: bytes):
    return _split_batch(data)[0]


def offsets_first(data: bytes):
    count, _ = HEADER.unpack_from(data, 0)
    table_end = 8 + 4 * (2 * count + 1)
    offsets = memoryview(data)[8:table_end].cast("I").tolist()
    body = data[table_end:]
    keys = [body[a:b] for a, b in zip(offsets[0:-1:2], offsets[1::2])]
    values = [body[a:b] for a, b in zip(offsets[1::2], offsets[2::2])]
    return list(zip(keys, values))


def main() -> None:
    keys = [os.urandom(16) for _ in range(N)]
    values = [os.urandom(100) for _ in range(N)]
    first = bytearray(HEADER.pack(N, 0))
    for key, value in zip(keys, values):
        first += struct.pack("<II", len(key), len(value)) + key + value
    offsets, body = [0], bytearray()
    for key, value in zip(keys, values):
        body += key
        offsets.append(len(body))
        body += value
        offsets.append(len(body))
    second = struct.pack("<IB3x", N, 0) + array.array("I", offsets).tobytes() + bytes(body)
    for split, data in ((interleaved, bytes(first)), (offsets_first, second)):
        start = time.perf_counter()
        for _ in range(REPEATS):
            pairs = split(data)
        assert pairs[5] == (keys[5], values[5])
        print(f"{split.__name__}: {(time.perf_counter() - start) / REPEATS / N * 1e9:.0f} ns per pair")


if __name__ == "__main__":
    main()
