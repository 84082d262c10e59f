"""Collection checks shared by the embedded tests (test_collections.py) and the IPC tests
(test_ipc.py): the same behaviour is required of both transports."""
from __future__ import annotations

from typing import Any, List

import numpy as np
import pytest

from toondb import toon


def check_search_toon(owner: Any) -> str:
    """A `Database` or an `IpcClient`: search_toon renders a TOON table that decodes back to
    the hits and their metadata. Returns the text for further checks."""
    c = owner.create_collection("notes", dimension=3, metric="l2")
    c.insert(10, [0, 0, 1], {"title": "Vector search, explained", "lang": "en"})
    c.insert(11, [0, 1, 0], {"title": "Über HNSW", "lang": "de"})
    text = c.search_toon([0, 0, 0.9], k=2)
    assert text.startswith("result[2]{id,distance,title,lang}:")
    rows = toon.decode(text)["result"]
    assert [r["id"] for r in rows] == [10, 11]
    assert rows[0]["title"] == "Vector search, explained" and rows[1]["title"] == "Über HNSW"
    assert rows[0]["distance"] == pytest.approx(0.01, abs=1e-6)
    assert toon.decode(c.search_toon([0, 0, 1], k=2, filter={"lang": "fr"})) == {"result": []}
    return text


def check_filters(owner: Any, name: str) -> Any:
    """A `Database` or an `IpcClient`: metadata filters select exactly the matching items.
    Returns the collection and its vectors for further checks."""
    c = owner.create_collection(name, dimension=16)
    base = random_vectors(200, seed=7)
    c.insert_many(list(range(200)), base, [{"lang": "en" if i % 3 == 0 else "de", "year": 2000 + i % 30}
                                           for i in range(200)])
    hits = c.search(base[1], k=10, ef_search=200, filter={"lang": "en", "year": {"$gte": 2010, "$lt": 2020}})
    assert len(hits) == 10
    assert all(h.metadata["lang"] == "en" and 2010 <= h.metadata["year"] < 2020 for h in hits)
    assert c.search(base[1], k=5, filter={"lang": {"$in": ["fr"]}}) == []
    return c, base


def random_vectors(count: int, seed: int, dim: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def brute_force(base: np.ndarray, ids: List[int], query: np.ndarray, k: int, metric: str) -> List[int]:
    """The exact top-k ids (ties by id) under a collection metric."""
    if metric == "l2":
        d = ((base - query) ** 2).sum(axis=1)
    elif metric == "ip":
        d = -(base @ query)
    else:
        d = 1 - (base @ query) / (np.linalg.norm(base, axis=1) * np.linalg.norm(query))
    order = np.lexsort((np.array(ids), d))
    return [ids[i] for i in order[:k]]
