#!/usr/bin/env python3
"""Make the small vector test set in testdata/vectors/ from /work/shared/vectors.

Writes raw little-endian float32 / int32 files (no header, row-major):
  minilm384_base_5k.f32       first 5,000 rows of minilm384_base_20k.npy   (5000 x 384 float32)
  minilm384_query_200.f32     first 200 rows of minilm384_query_1k.npy     (200 x 384 float32)
  minilm384_gt_top10_5k.i32   exact top-10 base row indices per query by inner product,
                              recomputed over the 5k slice, best first     (200 x 10 int32)
  minilm384_gt_top10_2k.i32   the same over the first 2,000 base rows only (200 x 10 int32),
                              for the debug-build recall test (see testdata/vectors/README.md)

Usage: .venv/bin/python scripts/make-vector-testdata.py [SOURCE_DIR] [OUT_DIR]
"""
import os
import sys

import numpy as np

BASE_ROWS = 5000
QUERY_ROWS = 200
K = 10

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/vectors"
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "testdata", "vectors")
os.makedirs(out, exist_ok=True)

base = np.load(os.path.join(src, "minilm384_base_20k.npy"))[:BASE_ROWS].astype("<f4")
query = np.load(os.path.join(src, "minilm384_query_1k.npy"))[:QUERY_ROWS].astype("<f4")
assert base.shape == (BASE_ROWS, 384) and query.shape == (QUERY_ROWS, 384)



def exact_top_k(rows):
    """Exact top-K base row indices per query by inner product over base[:rows], best first.

    Inner products in float64; ties (none expected) are broken by the lower index.
    """
    scores = query.astype(np.float64) @ base[:rows].astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(rows), scores.shape), -scores), axis=1)
    return order[:, :K].astype("<i4")


gt = exact_top_k(BASE_ROWS)
gt2k = exact_top_k(2000)

base.tofile(os.path.join(out, "minilm384_base_5k.f32"))
query.tofile(os.path.join(out, "minilm384_query_200.f32"))
gt.tofile(os.path.join(out, "minilm384_gt_top10_5k.i32"))
gt2k.tofile(os.path.join(out, "minilm384_gt_top10_2k.i32"))

# Sanity check: the top-1 of the full 20k ground truth, when it falls inside the slice, agrees.
full_gt = np.load(os.path.join(src, "minilm384_gt_ip_top10.npy"))[:QUERY_ROWS]
inside = full_gt[:, 0] < BASE_ROWS
agree = int((full_gt[inside, 0] == gt[inside, 0]).sum())
print(f"base {base.shape}, query {query.shape}, gt {gt.shape}; "
      f"top-1 agrees with the 20k ground truth on {agree}/{int(inside.sum())} queries whose 20k top-1 is in the slice")
