#!/usr/bin/env python3
"""ToonDB's HNSW index (through ``toondb-bulk``) against hnswlib, faiss (IndexHNSWFlat) and
usearch, side by side on the same vectors with the same parameters (M=16, ef_construction=100).

Usage (from the repository root; ``make bench-vectors`` builds and installs what it needs)::

    .venv/bin/python python/benchmarks/bench_vectors.py --bulk .build/release/toondb-bulk \\
        [--data ../shared/vectors] [--random 100000] [--threads 1,2] [--runs 3]

Engines ``toondb-f16`` and ``toondb-int8`` are toondb with ``--encoding f16`` / ``int8`` (the graph
walk reads compact copies; results are re-ranked on the exact vectors).

Datasets: the MiniLM sentence embeddings of ``--data`` (384-d, cosine = inner product on unit
vectors, exact top-10 ground truth shipped with them) and, with ``--random N``, N random
768-d unit vectors with 1,000 random queries (ground truth computed exactly here).

For each dataset, engine and thread count: build rate (vectors/s, the index build only, not the
file write), index file size, memory (the peak resident memory the build added: VmHWM after the
build less VmRSS before it, the peak reset just before with ``/proc/self/clear_refs``; each peer
runs in its own forked child; ``toondb-bulk`` reports the same measure itself, less the input
file it memory-maps), and for ef_search in 16, 32, 64, 128, 256: recall@10 against the
ground truth and single-thread queries/s (one query at a time, as an application asks). The
toondb search time is measured inside ``toondb-bulk query`` (the loop over queries, not the
process start); the peers are timed around a Python loop of single-vector calls, which adds
their binding's per-call cost (a few µs) - noted in the table. Medians over ``--runs``.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

EFS = [16, 32, 64, 128, 256]
M = 16
EF_CONSTRUCTION = 100


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth)]))


def toondb(bulk: str, base: np.ndarray, queries: np.ndarray, threads: int, scratch: str,
           encoding: str = "f32") -> Tuple[float, int, Dict[int, Tuple[float, np.ndarray]]]:
    source, index, query = (os.path.join(scratch, name) for name in ("base.npy", "index.hnsw", "queries.npy"))
    np.save(source, base)
    np.save(query, queries)
    out = subprocess.run([bulk, "build-index", "-i", source, "-o", index, "-m", str(M), "-e", str(EF_CONSTRUCTION),
                          "-t", str(threads), "--metric", "ip", "--encoding", encoding, "--json", "--quiet"], capture_output=True, text=True, check=True)
    stats = json.loads(out.stdout)
    memory = int(stats["memory_bytes"])
    results = {}
    for ef in EFS:
        out = subprocess.run([bulk, "query", "-i", index, "-q", query, "-k", "10", "--ef", str(ef), "--json", "--quiet"],
                             capture_output=True, text=True, check=True)
        report = json.loads(out.stdout)
        ids = np.array([[hit["id"] for hit in row] for row in report["results"]])
        results[ef] = (len(queries) / report["elapsed_seconds"], ids)
    return stats["rate"], os.path.getsize(index), results, memory


def _reset_peak() -> int:
    """Resets this process's VmHWM to its current RSS (Linux ``clear_refs`` 5) and returns that
    RSS: the baseline of a build's memory figure."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    return _memory_status("VmRSS")


def _memory_status(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def in_child(engine: Callable, *args):
    """Runs ``engine(*args)`` in a forked child (so one engine's memory and threads cannot
    affect the next) and returns its result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            payload = pickle.dumps(("ok", engine(*args)))
        except BaseException as error:  # reported by the parent
            payload = pickle.dumps(("error", repr(error)))
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as inp:
        payload = inp.read()
    os.waitpid(pid, 0)
    kind, result = pickle.loads(payload)
    if kind != "ok":
        raise RuntimeError(result)
    return result


def hnswlib_engine(base, queries, threads, scratch):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION, random_seed=42)
    index.set_num_threads(threads)
    resident = _reset_peak()
    start = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    rate = len(base) / (time.perf_counter() - start)
    memory = _memory_status("VmHWM") - resident
    path = os.path.join(scratch, "hnswlib.bin")
    index.save_index(path)
    index.set_num_threads(1)
    results = {}
    for ef in EFS:
        index.set_ef(ef)
        rows = []
        start = time.perf_counter()
        for q in queries:
            labels, _ = index.knn_query(q, k=10)
            rows.append(labels[0])
        results[ef] = (len(queries) / (time.perf_counter() - start), np.array(rows))
    return rate, os.path.getsize(path), results, memory


def faiss_engine(base, queries, threads, scratch):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    resident = _reset_peak()
    start = time.perf_counter()
    index.add(base)
    rate = len(base) / (time.perf_counter() - start)
    memory = _memory_status("VmHWM") - resident
    path = os.path.join(scratch, "faiss.bin")
    faiss.write_index(index, path)
    faiss.omp_set_num_threads(1)
    results = {}
    for ef in EFS:
        index.hnsw.efSearch = ef
        rows = []
        start = time.perf_counter()
        for q in queries:
            _, labels = index.search(q.reshape(1, -1), 10)
            rows.append(labels[0])
        results[ef] = (len(queries) / (time.perf_counter() - start), np.array(rows))
    return rate, os.path.getsize(path), results, memory


def usearch_engine(base, queries, threads, scratch):
    from usearch.index import Index

    index = Index(ndim=base.shape[1], metric="ip", dtype="f32", connectivity=M, expansion_add=EF_CONSTRUCTION)
    resident = _reset_peak()
    start = time.perf_counter()
    index.add(np.arange(len(base)), base, threads=threads)
    rate = len(base) / (time.perf_counter() - start)
    memory = _memory_status("VmHWM") - resident
    path = os.path.join(scratch, "usearch.bin")
    index.save(path)
    results = {}
    for ef in EFS:
        index.expansion_search = ef
        rows = []
        start = time.perf_counter()
        for q in queries:
            matches = index.search(q, 10, threads=1)
            rows.append(np.array(matches.keys))
        results[ef] = (len(queries) / (time.perf_counter() - start), np.array(rows))
    return rate, os.path.getsize(path), results, memory


def datasets(args) -> List[Tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    found = []
    if args.data:
        base = np.load(os.path.join(args.data, "minilm384_base_20k.npy"))
        queries = np.load(os.path.join(args.data, "minilm384_query_1k.npy"))
        truth = np.load(os.path.join(args.data, "minilm384_gt_ip_top10.npy"))
        found.append((f"MiniLM {len(base):,}×{base.shape[1]}", base, queries, truth))
    if args.random:
        rng = np.random.default_rng(1)
        base = rng.standard_normal((args.random, 768)).astype(np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        queries = rng.standard_normal((1000, 768)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]
        found.append((f"random {len(base):,}×768", base, queries, truth))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bulk", required=True, help="toondb-bulk (a release build)")
    parser.add_argument("--data", default=None, help="the folder of the MiniLM vectors (../shared/vectors)")
    parser.add_argument("--random", type=int, default=0, help="also N random 768-d vectors")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--engines", default="toondb,hnswlib,faiss,usearch")
    args = parser.parse_args()
    bulk = os.path.abspath(args.bulk)
    engines: Dict[str, Callable] = {
        "toondb": lambda b, q, t, s: toondb(bulk, b, q, t, s),
        "toondb-f16": lambda b, q, t, s: toondb(bulk, b, q, t, s, "f16"),
        "toondb-int8": lambda b, q, t, s: toondb(bulk, b, q, t, s, "int8"),
        "hnswlib": hnswlib_engine, "faiss": faiss_engine, "usearch": usearch_engine,
    }
    chosen = [name for name in args.engines.split(",") if name]
    for name, base, queries, truth in datasets(args):
        print(f"\n### {name}: M={M}, ef_construction={EF_CONSTRUCTION}, median of {args.runs} run(s)\n")
        print("| engine | threads | build vectors/s | memory MB | file bytes | " + " | ".join(f"ef {ef}: recall / QPS" for ef in EFS) + " |")
        print("|---|---:|---:|---:|---:|" + "---:|" * len(EFS))
        for threads in [int(t) for t in args.threads.split(",")]:
            for engine in chosen:
                rates, sizes, memories, per_ef = [], [], [], {ef: ([], []) for ef in EFS}
                for _ in range(args.runs):
                    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as scratch:
                        rate, size, results, memory = in_child(engines[engine], base, queries, threads, scratch)
                    rates.append(rate)
                    sizes.append(size)
                    memories.append(memory)
                    for ef, (qps, ids) in results.items():
                        per_ef[ef][0].append(recall(ids, truth))
                        per_ef[ef][1].append(qps)
                cells = [f"{statistics.median(r):.3f} / {statistics.median(q):,.0f}" for r, q in per_ef.values()]
                print(f"| {engine} | {threads} | {statistics.median(rates):,.0f} | {statistics.median(memories) / 2**20:,.1f} | "
                      f"{statistics.median(sizes):,} | " + " | ".join(cells) + " |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
