"""toondb.bulk against the real toondb-bulk binary (TOONDB_BULK_PATH, else the repo's build)."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from toondb import bulk
from toondb.bulk import BulkError, Neighbor


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(7)
    data = rng.standard_normal((300, 32)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def index(tmp_path_factory, vectors) -> str:
    path = str(tmp_path_factory.mktemp("bulk") / "index.hnsw")
    stats = bulk.bulk_build_index(vectors, path, quiet=True, threads=2)
    assert stats.vectors == 300 and stats.dimension == 32
    assert stats.index_size_bytes == os.path.getsize(path) and stats.rate > 0 and stats.elapsed_seconds > 0
    return path


def test_info(index):
    info = bulk.bulk_info(index)
    assert info["vectors"] == 300 and info["dimension"] == 32 and info["metric"] == "cosine"
    assert info["m"] == 16 and info["ef_construction"] == 100 and info["tombstones"] == 0
    assert info["encoding"] == "f32"


@pytest.mark.parametrize("encoding", ["f16", "int8"])
def test_compact_encodings_keep_exact_distances(tmp_path, vectors, encoding):
    path = str(tmp_path / f"{encoding}.hnsw")
    bulk.bulk_build_index(vectors, path, quiet=True, encoding=encoding)
    assert bulk.bulk_info(path)["encoding"] == encoding
    rows = bulk.bulk_query_index(path, vectors[:20], k=10, ef_search=200)
    exact = -(vectors[:20] @ vectors.T)
    for i, row in enumerate(rows):
        assert row[0].id == i
        # Re-ranked on the f32 vectors: each distance is the exact cosine distance.
        for hit in row:
            assert abs(hit.distance - (1 + exact[i, hit.id])) < 1e-5
    with pytest.raises(ValueError, match="encoding"):
        bulk.bulk_build_index(vectors, path, encoding="int4")


def test_query_finds_the_vector_itself_and_agrees_with_brute_force(index, vectors):
    hits = bulk.bulk_query_index(index, vectors[17], k=5, ef_search=100)
    assert isinstance(hits[0], Neighbor) and hits[0].id == 17 and abs(hits[0].distance) < 1e-4
    rows = bulk.bulk_query_index(index, vectors[:20], k=10, ef_search=200)
    assert len(rows) == 20 and all(len(row) == 10 for row in rows)
    exact = np.argsort(-(vectors[:20] @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len({h.id for h in row} & set(exact[i])) / 10 for i, row in enumerate(rows)])
    assert recall >= 0.95
    for row in rows:
        assert [h.distance for h in row] == sorted(h.distance for h in row)


def test_ids_and_metrics(tmp_path, vectors):
    ids = np.arange(1000, 1300, dtype=np.uint64)
    path = str(tmp_path / "l2.hnsw")
    bulk.bulk_build_index(vectors, path, metric="l2", ids=ids, quiet=True)
    assert bulk.bulk_info(path)["metric"] == "l2"
    assert bulk.bulk_query_index(path, vectors[3], k=1)[0].id == 1003
    with pytest.raises(ValueError, match="one id per vector"):
        bulk.bulk_build_index(vectors, path, ids=ids[:10])
    with pytest.raises(ValueError, match="metric"):
        bulk.bulk_build_index(vectors, path, metric="manhattan")


def test_inputs_are_checked_and_converted(tmp_path, vectors):
    path = str(tmp_path / "f64.hnsw")
    with pytest.warns(UserWarning, match="float64; converting to float32"):
        bulk.bulk_build_index(vectors.astype(np.float64), path, quiet=True)
    with pytest.warns(UserWarning, match="not C-ordered"):
        bulk.bulk_build_index(np.asfortranarray(vectors), path, quiet=True)
    with pytest.raises(ValueError, match="2-D"):
        bulk.bulk_build_index(vectors.reshape(3, 100, 32), path)
    with pytest.raises(TypeError, match="floating-point"):
        bulk.bulk_build_index(np.ones((4, 4), dtype=np.int32), path)


def test_tool_errors_carry_its_message(tmp_path, vectors, index):
    with pytest.raises(BulkError, match="No such file"):
        bulk.bulk_query_index(str(tmp_path / "missing.hnsw"), vectors[0])
    with pytest.raises(BulkError, match="dimension"):
        bulk.bulk_query_index(index, np.ones(7, dtype=np.float32))
    (tmp_path / "junk.hnsw").write_bytes(b"junk")
    with pytest.raises(BulkError, match="junk.hnsw"):
        bulk.bulk_info(str(tmp_path / "junk.hnsw"))


def test_convert_to_raw(tmp_path, vectors):
    path = tmp_path / "v.f32"
    bulk.convert_embeddings_to_raw(vectors, path)
    assert np.array_equal(np.fromfile(path, dtype="<f4").reshape(300, 32), vectors)


def test_binary_discovery(monkeypatch, tmp_path):
    found = bulk.get_toondb_bulk_path()
    assert os.path.basename(found) == "toondb-bulk" and os.access(found, os.X_OK)
    monkeypatch.setenv("TOONDB_BULK_PATH", os.path.dirname(found))  # a directory works too
    assert bulk.get_toondb_bulk_path() == found
    monkeypatch.setattr(bulk, "_REPO_ROOT", tmp_path)
    monkeypatch.setenv("TOONDB_BULK_PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BulkError, match="TOONDB_BULK_PATH"):
        bulk.get_toondb_bulk_path()
