#!/usr/bin/env python3
"""Combines `toondb bench --json` rows and db_bench outputs into one Markdown table.

Usage: scripts/bench_table.py RESULTS_DIR [--num N] [--sync-num N] [--threads N]

RESULTS_DIR holds toondb.jsonl and rocksdb-<run>.txt as written by scripts/bench-rocksdb.sh.
Standard library only.
"""
import argparse
import json
import platform
import re
import sys
from pathlib import Path

RESULT = re.compile(r"^(\w+)\s*:\s*([\d.]+) micros/op (\d+) ops/sec")
PERCENTILES = re.compile(r"^Percentiles: P50: ([\d.]+) P75: [\d.]+ P99: ([\d.]+)")
VERSION = re.compile(r"^RocksDB:\s+version (\S+)")

# toondb workload -> (db_bench output file, db_bench benchmark name in it)
ROCKSDB = {
    "fillseq": ("fillseq", "fillseq"),
    "fillrandom": ("fillrandom", "fillrandom"),
    "readrandom": ("read", "readrandom"),
    "readseq": ("read", "readseq"),
    "syncwrite": ("syncwrite", "fillrandom"),
    "syncwrite16": ("syncwrite16", "fillrandom"),
}


def parse_db_bench(path: Path):
    """{benchmark: {"ops_per_sec", "p50_us", "p99_us"}} and the RocksDB version."""
    rows, current, version = {}, None, None
    if not path.exists():
        return rows, version
    for line in path.read_text(errors="replace").splitlines():
        if m := VERSION.match(line):
            version = m.group(1)
        elif m := RESULT.match(line):
            current = m.group(1)
            rows[current] = {"ops_per_sec": float(m.group(3)), "micros_per_op": float(m.group(2))}
        elif (m := PERCENTILES.match(line)) and current and "p50_us" not in rows[current]:
            rows[current]["p50_us"] = float(m.group(1))
            rows[current]["p99_us"] = float(m.group(2))
    return rows, version


def fmt_rate(value):
    return "-" if value is None else f"{value:,.0f}"


def fmt_latency(row):
    if not row or row.get("p50_us") is None:
        return "-"
    return f"{row['p50_us']:.2f} / {row['p99_us']:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--num", type=int)
    parser.add_argument("--sync-num", type=int)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    results = Path(args.results)

    toondb = {}
    toondb_file = results / "toondb.jsonl"
    if toondb_file.exists():
        for line in toondb_file.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                toondb[row["benchmark"]] = row
    rocksdb, version = {}, None
    for workload, (run, name) in ROCKSDB.items():
        rows, v = parse_db_bench(results / f"rocksdb-{run}.txt")
        version = version or v
        if name in rows:
            rocksdb[workload] = rows[name]

    io = sorted({row.get("io_backend", "?") for name, row in toondb.items() if name != "rawsync"})
    print(f"# toondb bench vs RocksDB db_bench {version or '?'}\n")
    print(f"num={args.num:,} sync-num={args.sync_num:,} threads={args.threads}, key 16 B, value 100 B, "
          f"no compression; toondb I/O backend: {', '.join(io) or '?'}; {platform.node()} {platform.machine()}\n")
    print("| workload | toondb ops/s | rocksdb ops/s | toondb/rocksdb | toondb p50 / p99 µs | rocksdb p50 / p99 µs |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload in ["fillseq", "fillrandom", "readrandom", "readseq", "syncwrite", "syncwrite16", "rawsync"]:
        t, r = toondb.get(workload), rocksdb.get(workload)
        if t is None and r is None:
            continue
        t_rate = t["ops_per_sec"] if t else None
        r_rate = r["ops_per_sec"] if r else None
        ratio = f"{t_rate / r_rate:.2f}" if t_rate and r_rate else "-"
        print(f"| {workload} | {fmt_rate(t_rate)} | {fmt_rate(r_rate)} | {ratio} | {fmt_latency(t)} | {fmt_latency(r)} |")
    notes = [f"{name}: {row['note']}" for name, row in toondb.items() if row.get("note")]
    if notes:
        print("\ntoondb notes: " + "; ".join(notes))
    missing = [w for w in ROCKSDB if w not in rocksdb]
    if missing:
        print(f"\nmissing db_bench results: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
