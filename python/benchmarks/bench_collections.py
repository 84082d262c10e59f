"""Vector collections through the embedded SDK: insert_many rate, search recall and rate from
Python (metadata included), the time to close (which saves the index), and the time to reopen
and open the collection: from the saved index (reconciled with the records) and, with the saved
file removed, by rebuilding the graph from the records.

    TOONDB_LIB_PATH=.build/release .venv/bin/python python/benchmarks/bench_collections.py --data ../shared/vectors

Uses the MiniLM base (20,000 × 384), 1,000 queries and their exact top-10 from --data.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from toondb import Database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the folder of the MiniLM vectors (../shared/vectors)")
    parser.add_argument("--batch", type=int, default=5000, help="items per insert_many call")
    args = parser.parse_args()
    base = np.load(os.path.join(args.data, "minilm384_base_20k.npy"))
    queries = np.load(os.path.join(args.data, "minilm384_query_1k.npy"))
    truth = np.load(os.path.join(args.data, "minilm384_gt_ip_top10.npy"))
    with tempfile.TemporaryDirectory(prefix="bench-collections-") as scratch:
        path = os.path.join(scratch, "db")
        db = Database.open(path)
        c = db.create_collection("minilm", dimension=base.shape[1])
        start = time.perf_counter()
        for s in range(0, len(base), args.batch):
            ids = list(range(s, min(s + args.batch, len(base))))
            c.insert_many(ids, base[s:s + len(ids)], [{"row": i} for i in ids])
        print(f"insert_many ({args.batch} per call): {len(base) / (time.perf_counter() - start):,.0f} vectors/s")
        for ef in (32, 64):
            found = 0
            start = time.perf_counter()
            for query, expected in zip(queries, truth):
                found += len({h.id for h in c.search(query, k=10, ef_search=ef)} & set(expected[:10].tolist()))
            elapsed = time.perf_counter() - start
            print(f"ef {ef}: recall@10 {found / (10 * len(queries)):.3f}, {len(queries) / elapsed:,.0f} searches/s")
        start = time.perf_counter()
        db.close()
        print(f"close (saves the index): {time.perf_counter() - start:.2f} s")
        index_file = os.path.join(path, "collections", "minilm.hnsw")
        for label in ("from the saved index", "rebuilt from the records"):
            if label.startswith("rebuilt"):
                os.remove(index_file)
            start = time.perf_counter()
            db = Database.open(path)
            c = db.collection("minilm")
            count = c.count()
            elapsed = time.perf_counter() - start
            found = sum(len({h.id for h in c.search(q, k=10, ef_search=32)} & set(t[:10].tolist()))
                        for q, t in zip(queries[:200], truth[:200]))
            print(f"reopen, {label}, {count:,} items: {elapsed:.2f} s (then ef 32 recall@10 on 200 queries {found / 2000:.3f})")
            db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
