"""Bulk vector indexes through the ``toondb-bulk`` tool (numpy arrays in, HNSW index files out).

Example::

    import numpy as np
    from toondb.bulk import bulk_build_index, bulk_query_index

    embeddings = np.load("embeddings.npy")            # (n, d) float32
    stats = bulk_build_index(embeddings, "docs.hnsw", metric="cosine")
    for hit in bulk_query_index("docs.hnsw", embeddings[0], k=5):
        print(hit.id, hit.distance)

Arrays are checked before the tool runs: they must be 2-D (a 1-D query is one row) and of a
floating dtype; float32 in C order is used as is, other float dtypes and layouts are converted
with a warning. A failing tool raises :class:`BulkError` with the tool's own message.
numpy is needed only by this module.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .errors import ToonDBError

__all__ = [
    "BulkBuildStats",
    "BulkError",
    "Neighbor",
    "bulk_build_index",
    "bulk_query_index",
    "bulk_info",
    "convert_embeddings_to_raw",
    "get_toondb_bulk_path",
]

PathLike = Union[str, "os.PathLike[str]"]
_BINARY = "toondb-bulk"
_REPO_ROOT = Path(__file__).resolve().parents[2]


class BulkError(ToonDBError):
    """``toondb-bulk`` failed (its message says why), or could not be found."""


@dataclass(frozen=True)
class BulkBuildStats:
    """What :func:`bulk_build_index` built."""

    vectors: int
    dimension: int
    elapsed_seconds: float
    rate: float
    index_size_bytes: int


@dataclass(frozen=True)
class Neighbor:
    """One search hit: the vector's id and its distance (smaller is closer)."""

    id: int
    distance: float


def get_toondb_bulk_path() -> str:
    """The ``toondb-bulk`` binary: the copy bundled in this package (``_bin/<platform>/``),
    then ``TOONDB_BULK_PATH`` (the binary or its directory), then ``PATH``, then a source
    checkout's ``.build/release`` and ``.build/debug``."""
    candidates: List[Path] = [Path(__file__).resolve().parent / "_bin" / _platform_tag() / _BINARY]
    env = os.environ.get("TOONDB_BULK_PATH")
    if env:
        candidates.append(Path(env) / _BINARY if Path(env).is_dir() else Path(env))
    found = shutil.which(_BINARY)
    if found:
        candidates.append(Path(found))
    candidates += [_REPO_ROOT / ".build" / "release" / _BINARY, _REPO_ROOT / ".build" / "debug" / _BINARY]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BulkError(
        f"cannot find {_BINARY}: not bundled in the package, not at TOONDB_BULK_PATH "
        f"({env or 'unset'}), not on PATH, not in {_REPO_ROOT / '.build'}; set TOONDB_BULK_PATH to the binary")


def _platform_tag() -> str:
    machine = platform.machine().lower()
    return f"{machine}-unknown-linux-gnu" if sys.platform.startswith("linux") else f"{machine}-{sys.platform}"


def _matrix(array: Any, what: str, allow_vector: bool = False) -> Any:
    """``array`` as a 2-D float32 C-ordered numpy array (a 1-D one as one row when allowed)."""
    import numpy as np

    matrix = np.asarray(array)
    if matrix.ndim == 1 and allow_vector:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (vectors × dimension), got {matrix.ndim}-D of shape {matrix.shape}")
    if matrix.shape[1] == 0:
        raise ValueError(f"{what} has dimension 0")
    if not np.issubdtype(matrix.dtype, np.floating):
        raise TypeError(f"{what} must hold floating-point numbers, not {matrix.dtype}")
    if matrix.dtype != np.float32:
        warnings.warn(f"{what} is {matrix.dtype}; converting to float32", stacklevel=3)
        matrix = matrix.astype(np.float32)
    if not matrix.flags["C_CONTIGUOUS"]:
        warnings.warn(f"{what} is not C-ordered; copying it into C order", stacklevel=3)
        matrix = np.ascontiguousarray(matrix)
    return matrix


def _run(arguments: Sequence[str]) -> Dict[str, Any]:
    """Runs the tool with ``--json`` and returns its JSON output."""
    result = subprocess.run([get_toondb_bulk_path(), *arguments, "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        message = result.stderr.strip().removeprefix("Error: ") or f"exit status {result.returncode}"
        raise BulkError(f"{_BINARY} {arguments[0]} failed: {message}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise BulkError(f"{_BINARY} {arguments[0]} printed no JSON result: {result.stdout[-500:]!r}") from error


ENCODINGS = ("f32", "f16", "int8")


def bulk_build_index(embeddings: Any, output: PathLike, m: int = 16, ef_construction: int = 100, threads: int = 0,
                     quiet: bool = False, metric: str = "cosine", ids: Optional[Sequence[int]] = None,
                     encoding: str = "f32") -> BulkBuildStats:
    """Builds an HNSW index file at ``output`` from ``embeddings`` (n × d).

    ``metric`` is ``"cosine"``, ``"ip"`` (inner product) or ``"l2"``; ``ids`` gives each
    vector's id (default 0, 1, 2, ...); ``threads`` 0 uses every core.

    ``encoding`` is what the graph walk reads while building and searching: ``"f32"`` (the
    exact vectors), ``"f16"`` or ``"int8"`` (a half- or quarter-size copy; searches re-rank
    their candidates on the exact vectors, so returned distances stay exact). int8 builds and
    searches about twice as fast at the same recall on sentence embeddings (BENCHMARKS.md)."""
    import numpy as np

    matrix = _matrix(embeddings, "embeddings")
    if metric not in ("cosine", "ip", "l2"):
        raise ValueError(f"metric must be 'cosine', 'ip' or 'l2', not {metric!r}")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be 'f32', 'f16' or 'int8', not {encoding!r}")
    with tempfile.TemporaryDirectory(prefix="toondb-bulk-") as scratch:
        source = os.path.join(scratch, "embeddings.npy")
        np.save(source, matrix)
        arguments = ["build-index", "-i", source, "-o", os.fspath(output), "-m", str(m), "-e", str(ef_construction),
                     "-t", str(threads), "--metric", metric, "--encoding", encoding]
        if ids is not None:
            id_array = np.asarray(ids, dtype=np.uint64)
            if id_array.shape != (matrix.shape[0],):
                raise ValueError(f"ids must hold one id per vector ({matrix.shape[0]}), got shape {id_array.shape}")
            id_path = os.path.join(scratch, "ids.u64")
            id_array.astype("<u8").tofile(id_path)
            arguments += ["--ids", id_path]
        if quiet:
            arguments.append("--quiet")
        report = _run(arguments)
    return BulkBuildStats(vectors=int(report["vectors"]), dimension=int(report["dimension"]),
                          elapsed_seconds=float(report["elapsed_seconds"]), rate=float(report["rate"]),
                          index_size_bytes=int(report["index_size_bytes"]))


def bulk_query_index(index: PathLike, query: Any, k: int = 10,
                     ef_search: int = 64) -> Union[List[Neighbor], List[List[Neighbor]]]:
    """The ``k`` nearest neighbours of ``query`` in the index file: a list of
    :class:`Neighbor` for a 1-D query, one such list per row for a 2-D one."""
    import numpy as np

    single = np.asarray(query).ndim == 1
    matrix = _matrix(query, "query", allow_vector=True)
    if k < 1 or ef_search < 1:
        raise ValueError("k and ef_search must be at least 1")
    with tempfile.TemporaryDirectory(prefix="toondb-bulk-") as scratch:
        source = os.path.join(scratch, "query.npy")
        np.save(source, matrix)
        report = _run(["query", "-i", os.fspath(index), "-q", source, "-k", str(k), "--ef", str(ef_search), "--quiet"])
    rows = [[Neighbor(int(hit["id"]), float(hit["distance"])) for hit in row] for row in report["results"]]
    return rows[0] if single else rows


def bulk_info(index: PathLike) -> Dict[str, Any]:
    """The index file's description: vectors, dimension, metric, m, ef_construction,
    tombstones, encoding, index_size_bytes."""
    return _run(["info", "-i", os.fspath(index), "--quiet"])


def convert_embeddings_to_raw(embeddings: Any, path: PathLike) -> None:
    """Writes ``embeddings`` (n × d) as raw little-endian float32, row-major (``toondb-bulk``'s
    ``raw_f32`` format, which needs ``-d`` when read)."""
    matrix = _matrix(embeddings, "embeddings")
    matrix.astype("<f4", copy=False).tofile(os.fspath(path))
