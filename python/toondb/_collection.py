"""Vector collections, shared by embedded mode and IPC.

A :class:`Collection` validates and encodes its arguments and leaves the transport to its owner
(:class:`toondb.Database` through the C library, :class:`toondb.IpcClient` over the socket),
which implements the ``_collection_*`` methods of :class:`CollectionTransport`. Both transports
exchange the same bytes: ids as little-endian u64, vectors as little-endian float32, metadata
and filters as JSON text, and search hits in the binary layout read by :func:`decode_hits`
(docs/vector-collections.md).
"""
from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

__all__ = ["Collection", "SearchResult", "CollectionTransport"]

METRICS = ("cosine", "ip", "l2")
#: What a collection's index walks: the exact vectors, or an f16 / int8 copy (results are
#: re-ranked on the exact vectors). The wire code is the position in this tuple.
ENCODINGS = ("f32", "f16", "int8")


class SearchResult(NamedTuple):
    """One hit of :meth:`Collection.search`: the item's id, its distance to the query (smaller
    is closer: ``1 - cosine``, the negated inner product, or squared L2) and its metadata."""

    id: int
    distance: float
    metadata: Optional[Dict[str, Any]]


class CollectionTransport:
    """What an owner of collections implements (names are internal)."""

    def _collection_info(self, name: str) -> Dict[str, Any]:
        raise NotImplementedError

    def _collection_insert(self, name: str, ids: bytes, count: int, vectors: bytes, dimension: int,
                           metadata: List[bytes]) -> int:
        raise NotImplementedError

    def _collection_delete(self, name: str, id: int) -> bool:
        raise NotImplementedError

    def _collection_get(self, name: str, id: int) -> Optional[bytes]:
        raise NotImplementedError

    def _collection_search(self, name: str, query: bytes, dimension: int, k: int, ef_search: int,
                           filter: bytes, toon: bool) -> bytes:
        raise NotImplementedError


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # numpy is optional: lists of floats work without it
        return None
    return numpy


def check_id(id: Any) -> int:
    if isinstance(id, bool) or not isinstance(id, int):
        raise TypeError(f"a collection id must be an int, got {type(id).__name__}")
    if not 0 <= id < 1 << 64:
        raise ValueError(f"a collection id must be in [0, 2**64), got {id}")
    return id


def check_create_arguments(name: str, dimension: int, metric: str, m: int, ef_construction: int,
                           ef_search: int, encoding: str = "f32") -> None:
    if not isinstance(name, str):
        raise TypeError(f"a collection name must be a str, got {type(name).__name__}")
    for label, value in (("dimension", dimension), ("m", m), ("ef_construction", ef_construction),
                         ("ef_search", ef_search)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive int, got {value!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")


def vector_bytes(vector: Any, dimension: int, what: str = "vector") -> bytes:
    """One vector as little-endian float32 bytes, checked for length and finiteness."""
    np = _numpy()
    if np is not None and isinstance(vector, np.ndarray):
        a = np.ascontiguousarray(vector, dtype="<f4")
        if a.ndim != 1 or a.shape[0] != dimension:
            raise ValueError(f"{what} must have shape ({dimension},), got {vector.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{what} has a non-finite value")
        return a.tobytes()
    values = array("f", vector)
    if len(values) != dimension:
        raise ValueError(f"{what} must have {dimension} components, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} has a non-finite value")
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def matrix_bytes(vectors: Any, count: int, dimension: int) -> bytes:
    """``count`` vectors (a 2-D array or a sequence of vectors) as float32 bytes, back to back."""
    np = _numpy()
    if np is not None and isinstance(vectors, np.ndarray):
        a = np.ascontiguousarray(vectors, dtype="<f4")
        if a.shape != (count, dimension):
            raise ValueError(f"vectors must have shape ({count}, {dimension}), got {vectors.shape}")
        if not np.isfinite(a).all():
            raise ValueError("vectors have a non-finite value")
        return a.tobytes()
    if len(vectors) != count:
        raise ValueError(f"{count} ids for {len(vectors)} vectors")
    return b"".join(vector_bytes(v, dimension, f"vector {i}") for i, v in enumerate(vectors))


def json_object(value: Optional[Mapping[str, Any]], what: str) -> bytes:
    """A mapping as compact JSON text; None as b"" (none)."""
    if value is None:
        return b""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict or None, got {type(value).__name__}")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} is not JSON-serialisable: {error}") from None


def decode_hits(data: bytes) -> List[SearchResult]:
    """The binary hit list: u32 count, then per hit u64 id, f32 distance, u32 length and that
    many bytes of metadata JSON (0: none); all little-endian."""
    (count,) = struct.unpack_from("<I", data, 0)
    offset = 4
    hits: List[SearchResult] = []
    for _ in range(count):
        id, distance, length = struct.unpack_from("<QfI", data, offset)
        offset += 16
        metadata = json.loads(data[offset:offset + length]) if length else None
        offset += length
        hits.append(SearchResult(id, float(distance), metadata))
    return hits


def decode_record(data: bytes) -> Tuple[List[float], Optional[Dict[str, Any]]]:
    """A stored item record: u8 version, u8 flags, u16 reserved, u32 dimension, the float32
    vector, then metadata JSON (possibly empty)."""
    (dimension,) = struct.unpack_from("<I", data, 4)
    end = 8 + 4 * dimension
    vector = list(struct.unpack_from(f"<{dimension}f", data, 8))
    metadata = json.loads(data[end:]) if len(data) > end else None
    return vector, metadata


class Collection:
    """A vector collection: items of an id (an int in [0, 2**64)), a vector and optional
    metadata (a JSON-serialisable dict), searched by nearest neighbours.

    Items are ordinary database records, so they are durable, transactional and checkpointed
    like any key; the HNSW index over them is rebuilt when the collection is first opened and
    kept current with every commit. Get one from ``create_collection`` or ``collection``.
    """

    def __init__(self, owner: CollectionTransport, info: Mapping[str, Any]) -> None:
        self._owner = owner
        self.name: str = info["name"]
        self.dimension: int = int(info["dimension"])
        self.metric: str = info["metric"]
        self.m: int = int(info["m"])
        self.ef_construction: int = int(info["ef_construction"])
        self.ef_search: int = int(info["ef_search"])
        self.encoding: str = info.get("encoding", "f32")

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, dimension={self.dimension}, metric={self.metric!r})"

    def insert(self, id: int, vector: Any, metadata: Optional[Mapping[str, Any]] = None) -> int:
        """Stores one item, replacing any item with this id; returns the commit LSN.

        Raises:
            ValueError: a vector of the wrong length or with NaN/infinity; metadata that is
                not JSON-serialisable.
            CollectionError: rejected by the database (e.g. an all-zero vector under cosine).
        """
        ids = struct.pack("<Q", check_id(id))
        return self._owner._collection_insert(self.name, ids, 1, vector_bytes(vector, self.dimension),
                                              self.dimension, [json_object(metadata, "metadata")])

    def insert_many(self, ids: Sequence[int], vectors: Any,
                    metadata: Optional[Sequence[Optional[Mapping[str, Any]]]] = None) -> int:
        """Stores many items in one transaction (all or none); returns its commit LSN.

        Args:
            ids: one int per item; a repeated id keeps its last item.
            vectors: a 2-D array (numpy, float32 preferred) of shape ``(len(ids), dimension)``
                or a sequence of vectors.
            metadata: None, or one dict (or None) per item.
        """
        ids = [check_id(i) for i in ids]
        count = len(ids)
        if metadata is not None and len(metadata) != count:
            raise ValueError(f"{count} ids for {len(metadata)} metadata entries")
        data = matrix_bytes(vectors, count, self.dimension)
        metas = [] if metadata is None else [json_object(m, f"metadata {i}") for i, m in enumerate(metadata)]
        return self._owner._collection_insert(self.name, struct.pack(f"<{count}Q", *ids), count, data,
                                              self.dimension, metas)

    def delete(self, id: int) -> bool:
        """Deletes the item with this id; returns whether it existed."""
        return self._owner._collection_delete(self.name, check_id(id))

    def get(self, id: int) -> Optional[Tuple[List[float], Optional[Dict[str, Any]]]]:
        """The stored ``(vector, metadata)`` of this id (the vector as inserted), or None."""
        record = self._owner._collection_get(self.name, check_id(id))
        return None if record is None else decode_record(record)

    def _search(self, vector: Any, k: int, ef_search: Optional[int], filter: Optional[Mapping[str, Any]],
                toon: bool) -> bytes:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        if ef_search is not None and (not isinstance(ef_search, int) or ef_search < 1):
            raise ValueError(f"ef_search must be a positive int or None, got {ef_search!r}")
        return self._owner._collection_search(self.name, vector_bytes(vector, self.dimension, "the query"),
                                              self.dimension, k, ef_search or 0, json_object(filter, "filter"), toon)

    def search(self, vector: Any, k: int = 10, ef_search: Optional[int] = None,
               filter: Optional[Mapping[str, Any]] = None) -> List[SearchResult]:
        """The (approximate) ``k`` nearest items, closest first.

        Args:
            ef_search: the beam width (larger: slower, more accurate); None uses the
                collection's default (64).
            filter: only items whose metadata matches, e.g. ``{"lang": "en", "year": {"$gte":
                2020}}`` (operators ``$eq $ne $in $nin $gt $gte $lt $lte``).
        """
        return decode_hits(self._search(vector, k, ef_search, filter, toon=False))

    def search_toon(self, vector: Any, k: int = 10, ef_search: Optional[int] = None,
                    filter: Optional[Mapping[str, Any]] = None) -> str:
        """The hits of :meth:`search` as a TOON document for a prompt: a ``result`` table of
        ``id``, ``distance`` and the metadata fields."""
        return self._search(vector, k, ef_search, filter, toon=True).decode("utf-8")

    def info(self) -> Dict[str, Any]:
        """Name, settings and counts: ``count`` (items), ``tombstones`` (removed vectors still in
        the graph), ``unindexable`` (records that cannot be indexed)."""
        return self._owner._collection_info(self.name)

    def count(self) -> int:
        """The number of items."""
        return int(self.info()["count"])

    def __len__(self) -> int:
        return self.count()
