"""Database: opening, key/value operations, paths, scans, batches, checkpoints, statistics
and persistence across reopen."""
from __future__ import annotations

import os

import pytest

import toondb
from toondb import Database, DatabaseError


# --------------------------------------------------------------------------------------------
# Package and opening


def test_version_is_a_non_empty_string():
    assert isinstance(toondb.__version__, str)
    assert toondb.__version__.strip() != ""


def test_open_creates_the_directory_and_its_parents(tmp_path):
    path = tmp_path / "a" / "b" / "c"
    assert not path.exists()
    db = Database.open(str(path))
    try:
        assert path.is_dir()
        assert os.path.abspath(str(db.path)) == os.path.abspath(str(path))
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"
        # The engine keeps its files in the directory.
        assert any(path.iterdir())
    finally:
        db.close()


def test_close_is_idempotent(db_path):
    db = Database.open(db_path)
    db.put(b"k", b"v")
    db.close()
    db.close()
    db.close()


def test_context_manager_closes_on_exit(db_path):
    with Database.open(db_path) as db:
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"
    with pytest.raises(DatabaseError, match="(?i)closed"):
        db.get(b"k")
    # The directory lock was released: the database opens again.
    with Database.open(db_path) as again:
        assert again.get(b"k") == b"v"


def test_context_manager_closes_on_exception(db_path):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with Database.open(db_path) as db:
            db.put(b"k", b"v")
            raise Boom()
    with pytest.raises(DatabaseError, match="(?i)closed"):
        db.put(b"k2", b"v")
    with Database.open(db_path) as again:
        assert again.get(b"k") == b"v"


def test_context_manager_returns_the_database(db_path):
    with Database.open(db_path) as db:
        assert isinstance(db, Database)


def test_reopen_after_close_in_same_process(db_path):
    for round_number in range(3):
        with Database.open(db_path) as db:
            for earlier in range(round_number):
                assert db.get(b"round-%d" % earlier) == b"done"
            db.put(b"round-%d" % round_number, b"done")


# --------------------------------------------------------------------------------------------
# put / get / delete


def test_put_get_delete_roundtrip(db):
    assert db.get(b"alpha") is None
    assert db.put(b"alpha", b"1") is None
    assert db.get(b"alpha") == b"1"
    db.put(b"alpha", b"2")
    assert db.get(b"alpha") == b"2"
    assert db.delete(b"alpha") is None
    assert db.get(b"alpha") is None


def test_get_returns_bytes(db):
    db.put(bytearray(b"key"), bytearray(b"value"))
    value = db.get(b"key")
    assert type(value) is bytes
    assert value == b"value"


def test_delete_missing_key_is_fine(db):
    db.delete(b"never-written")
    assert db.get(b"never-written") is None
    db.put(b"x", b"1")
    db.delete(b"x")
    db.delete(b"x")
    assert db.get(b"x") is None


def test_empty_value_is_not_missing(db):
    db.put(b"empty", b"")
    assert db.get(b"empty") == b""
    assert db.get(b"empty") is not None
    assert db.get_many([b"empty", b"missing"]) == [b"", None]
    assert list(db.scan()) == [(b"empty", b"")]


@pytest.mark.parametrize(
    "key_type",
    [bytes, bytearray, lambda b: memoryview(b)],
    ids=["bytes", "bytearray", "memoryview"],
)
def test_keys_and_values_accept_buffer_types(db, key_type):
    key = key_type(b"buffer-key")
    value = key_type(b"buffer-value")
    db.put(key, value)
    assert db.get(key_type(b"buffer-key")) == b"buffer-value"
    assert db.get(b"buffer-key") == b"buffer-value"
    db.delete(key_type(b"buffer-key"))
    assert db.get(b"buffer-key") is None


def test_memoryview_slice_is_used_exactly(db):
    buf = bytearray(b"xxKEYxx")
    val = bytearray(b"--VALUE--")
    db.put(memoryview(buf)[2:5], memoryview(val)[2:7])
    assert db.get(b"KEY") == b"VALUE"
    assert db.get(b"xxKEYxx") is None


BINARY_KEYS = [
    b"\x00",
    b"\x00\x00",
    b"\x00\x01",
    b"a\x00b",
    b"a\xffb",
    b"\x7f",
    b"\x80",
    b"\xfe\xff",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\xff",
]


def test_binary_keys_with_nul_and_ff_bytes(db):
    for index, key in enumerate(BINARY_KEYS):
        db.put(key, b"value-%d\x00\xff" % index)
    for index, key in enumerate(BINARY_KEYS):
        assert db.get(key) == b"value-%d\x00\xff" % index
    # NUL bytes are not terminators: b"a" was never written.
    assert db.get(b"a") is None
    keys = [k for k, _ in db.scan()]
    assert keys == sorted(BINARY_KEYS)


def test_scan_prefix_of_ff_bytes(db):
    for key in BINARY_KEYS:
        db.put(key, b"v")
    assert [k for k, _ in db.scan_prefix(b"\xff")] == [b"\xff", b"\xff\x00", b"\xff\xff", b"\xff\xff\xff"]
    assert [k for k, _ in db.scan_prefix(b"\xff\xff")] == [b"\xff\xff", b"\xff\xff\xff"]
    assert [k for k, _ in db.scan_prefix(b"\x00")] == [b"\x00", b"\x00\x00", b"\x00\x01"]


def test_binary_values_roundtrip(db):
    value = bytes(range(256)) * 4
    db.put(b"all-bytes", value)
    assert db.get(b"all-bytes") == value


def test_large_value_1mib(db_path):
    value = os.urandom(1 << 20)
    with Database.open(db_path) as db:
        db.put(b"big", value)
        assert db.get(b"big") == value
        db.put(b"after", b"small")
    with Database.open(db_path) as db:
        assert db.get(b"big") == value
        assert db.get(b"after") == b"small"
        db.checkpoint()
        assert db.get(b"big") == value
    with Database.open(db_path) as db:
        assert db.get(b"big") == value


@pytest.mark.parametrize("size", [4095, 4096, 65535, 65536, 65537, 131072, 1_000_001])
def test_values_around_buffer_sizes(db, size):
    value = os.urandom(size)
    db.put(b"v", value)
    assert db.get(b"v") == value
    assert db.get_many([b"v", b"w"]) == [value, None]
    assert list(db.scan()) == [(b"v", value)]
    with db.transaction() as txn:
        assert txn.get(b"v") == value
        txn.put(b"w", value[::-1])
        assert txn.get(b"w") == value[::-1]
    assert db.get(b"w") == value[::-1]


def test_scan_large_values(fast_db):
    values = {b"big%03d" % i: os.urandom(50_000 + i) for i in range(120)}
    fast_db.put_many(values)
    rows = list(fast_db.scan())
    assert [k for k, _ in rows] == sorted(values)
    assert all(v == values[k] for k, v in rows)
    assert dict(fast_db.scan_prefix(b"big01")) == {k: v for k, v in values.items() if k.startswith(b"big01")}


def test_largest_key_is_accepted(db):
    key = b"k" * 65536
    db.put(key, b"v")
    assert db.get(key) == b"v"
    assert db.get(b"k" * 65535) is None


def test_value_at_configured_limit_is_accepted(db_path):
    with Database.open(db_path, {"max_value_size_bytes": 1024}) as db:
        db.put(b"k", b"x" * 1024)
        assert db.get(b"k") == b"x" * 1024


# --------------------------------------------------------------------------------------------
# Paths


def test_path_roundtrip_and_key_encoding(db):
    db.put_path("users/alice/email", b"alice@example.com")
    assert db.get_path("users/alice/email") == b"alice@example.com"
    assert db.get(b"users/alice/email") == b"alice@example.com"
    # And the other way: a raw key put is visible through the path API.
    db.put(b"users/bob/email", b"bob@example.com")
    assert db.get_path("users/bob/email") == b"bob@example.com"
    assert db.get_path("users/carol/email") is None
    db.delete_path("users/alice/email")
    assert db.get_path("users/alice/email") is None
    assert db.get(b"users/alice/email") is None
    db.delete_path("users/alice/email")  # deleting a missing path is fine


def test_single_segment_path(db):
    db.put_path("top", b"1")
    assert db.get(b"top") == b"1"


def test_path_empty_value(db):
    db.put_path("a/b", b"")
    assert db.get_path("a/b") == b""


def test_unicode_paths_are_utf8_keys(db):
    paths = ["users/josé/名前", "docs/résumé/😀", "flags/сервис/включено"]
    for index, path in enumerate(paths):
        db.put_path(path, b"v%d" % index)
    for index, path in enumerate(paths):
        assert db.get_path(path) == b"v%d" % index
        assert db.get(path.encode("utf-8")) == b"v%d" % index
    assert [k for k, _ in db.scan_prefix("users/josé/".encode("utf-8"))] == ["users/josé/名前".encode("utf-8")]


@pytest.mark.parametrize("bad", ["", "/a", "a//b", "a/"])
def test_invalid_paths_raise(db, bad):
    with pytest.raises(DatabaseError):
        db.put_path(bad, b"v")
    with pytest.raises(DatabaseError):
        db.get_path(bad)
    with pytest.raises(DatabaseError):
        db.delete_path(bad)
    assert list(db.scan()) == []


def test_invalid_path_error_has_engine_reason(db):
    with pytest.raises(DatabaseError) as excinfo:
        db.put_path("a//b", b"v")
    assert "a//b" in str(excinfo.value) or "empty" in str(excinfo.value).lower()


# --------------------------------------------------------------------------------------------
# Scans


def _fill(db, keys):
    for key in keys:
        db.put(key, b"v:" + key)


def test_scan_everything_in_byte_order(db):
    keys = [b"b", b"a", b"c", b"aa", b"ab", b"B", b"\x01", b"\xf0"]
    _fill(db, keys)
    result = list(db.scan())
    assert result == [(k, b"v:" + k) for k in sorted(keys)]
    assert all(type(k) is bytes and type(v) is bytes for k, v in result)
    assert all(isinstance(item, tuple) and len(item) == 2 for item in result)


def test_scan_bounds_are_half_open(db):
    keys = [b"k%02d" % i for i in range(20)]
    _fill(db, keys)
    assert [k for k, _ in db.scan(b"k05", b"k10")] == [b"k%02d" % i for i in range(5, 10)]
    assert [k for k, _ in db.scan(start=b"k15")] == [b"k%02d" % i for i in range(15, 20)]
    assert [k for k, _ in db.scan(end=b"k03")] == [b"k00", b"k01", b"k02"]
    assert [k for k, _ in db.scan(b"k045", b"k07")] == [b"k05", b"k06"]
    assert list(db.scan(b"k10", b"k10")) == []
    assert list(db.scan(b"z", b"")) == []
    assert [k for k, _ in db.scan(b"", b"")] == keys


def test_scan_does_not_return_deleted_keys(db):
    _fill(db, [b"a", b"b", b"c"])
    db.delete(b"b")
    assert [k for k, _ in db.scan()] == [b"a", b"c"]
    db.checkpoint()
    db.delete(b"c")
    assert [k for k, _ in db.scan()] == [b"a"]


def test_scan_returns_latest_value(db):
    db.put(b"k", b"1")
    db.checkpoint()
    db.put(b"k", b"2")
    assert list(db.scan()) == [(b"k", b"2")]


def test_scan_empty_database(db):
    assert list(db.scan()) == []
    assert list(db.scan_prefix(b"x")) == []


def test_scan_prefix_exactly_the_prefix(db):
    keys = [b"user", b"user:", b"user:1", b"user:2", b"user:10", b"users", b"usea", b"usez", b"v"]
    _fill(db, keys)
    assert [k for k, _ in db.scan_prefix(b"user:")] == [b"user:", b"user:1", b"user:10", b"user:2"]
    assert [k for k, _ in db.scan_prefix(b"user")] == [b"user", b"user:", b"user:1", b"user:10", b"user:2", b"users"]
    assert list(db.scan_prefix(b"nope")) == []


def test_scan_prefix_accepts_buffer_types(db):
    _fill(db, [b"p/1", b"p/2", b"q/1"])
    assert [k for k, _ in db.scan_prefix(bytearray(b"p/"))] == [b"p/1", b"p/2"]
    assert [k for k, _ in db.scan_prefix(memoryview(b"p/"))] == [b"p/1", b"p/2"]


def test_scan_100k_keys_streams_and_stops_early(fast_db):
    db = fast_db
    total = 100_000
    chunk = 10_000
    for base in range(0, total, chunk):
        written = db.put_many((b"row%06d" % i, b"%d" % i) for i in range(base, base + chunk))
        assert written == chunk

    count = 0
    previous = b""
    for key, value in db.scan():
        assert key > previous
        previous = key
        count += 1
    assert count == total
    assert previous == b"row%06d" % (total - 1)

    # Stopping early with break: only what was consumed is seen.
    seen = []
    for key, value in db.scan(b"row050000"):
        seen.append(key)
        if len(seen) == 10:
            break
    assert seen == [b"row%06d" % i for i in range(50_000, 50_010)]

    # Explicitly closing a half-consumed generator frees it; many such scans work.
    for _ in range(200):
        gen = db.scan_prefix(b"row")
        assert next(gen) == (b"row000000", b"0")
        gen.close()

    # The database stays fully usable.
    db.put(b"row999999", b"last")
    assert db.get(b"row999999") == b"last"
    assert sum(1 for _ in db.scan_prefix(b"row09")) == 10_000


def test_abandoned_scans_do_not_block_close(db_path):
    db = Database.open(db_path, {"sync_mode": "off"})
    db.put_many((b"k%04d" % i, b"v") for i in range(3000))
    generators = []
    for _ in range(5):
        gen = db.scan()
        next(gen)
        generators.append(gen)
    db.close()
    # Closing generators after the database closed must not crash the process.
    for gen in generators:
        gen.close()
    with Database.open(db_path) as again:
        assert sum(1 for _ in again.scan()) == 3000


def test_scan_started_before_writes(db):
    _fill(db, [b"k%04d" % i for i in range(0, 4000, 2)])
    gen = db.scan()
    first = next(gen)
    # Interleave writes (new keys, overwrites and deletes) with the rest of the scan.
    for i in range(1, 4000, 2):
        db.put(b"k%04d" % i, b"new")
    for i in range(0, 4000, 8):
        db.delete(b"k%04d" % i)
    rest = list(gen)
    keys = [first[0]] + [k for k, _ in rest]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert keys[0] == b"k0000"


# --------------------------------------------------------------------------------------------
# Batches


def test_put_many_with_pairs_and_dict(db):
    assert db.put_many([(b"a", b"1"), (b"b", b"2"), (b"c", b"")]) == 3
    assert db.put_many({b"d": b"4", b"e": b"5"}) == 2
    assert db.get_many([b"a", b"b", b"c", b"d", b"e", b"z"]) == [b"1", b"2", b"", b"4", b"5", None]


def test_put_many_accepts_generator_and_buffers(db):
    assert db.put_many((bytearray(b"g%d" % i), memoryview(b"v%d" % i)) for i in range(5)) == 5
    assert db.get_many([b"g%d" % i for i in range(5)]) == [b"v%d" % i for i in range(5)]


def test_put_many_empty(db):
    assert db.put_many([]) == 0
    assert db.put_many({}) == 0
    assert list(db.scan()) == []


def test_put_many_overwrites(db):
    db.put(b"k", b"old")
    db.put_many([(b"k", b"new"), (b"j", b"x")])
    assert db.get(b"k") == b"new"


def test_put_many_is_atomic_on_invalid_key(db):
    db.put(b"existing", b"keep")
    with pytest.raises(DatabaseError):
        db.put_many([(b"a", b"1"), (b"", b"2"), (b"existing", b"changed")])
    assert db.get(b"a") is None
    assert db.get(b"existing") == b"keep"
    with pytest.raises(DatabaseError):
        db.put_many([(b"b", b"1"), (b"x" * 65537, b"2")])
    assert db.get(b"b") is None
    assert list(db.scan()) == [(b"existing", b"keep")]


def test_put_many_is_atomic_on_oversized_value(db_path):
    with Database.open(db_path, {"max_value_size_bytes": 100}) as db:
        with pytest.raises(DatabaseError):
            db.put_many([(b"a", b"1"), (b"b", b"x" * 101)])
        assert db.get(b"a") is None
        assert db.get(b"b") is None


def test_get_many_order_and_duplicates(db):
    db.put_many([(b"k%d" % i, b"v%d" % i) for i in range(10)])
    keys = [b"k9", b"missing", b"k0", b"k9", b"k5"]
    assert db.get_many(keys) == [b"v9", None, b"v0", b"v9", b"v5"]
    assert db.get_many([]) == []
    assert db.get_many(iter([b"k1", bytearray(b"k2")])) == [b"v1", b"v2"]


def test_get_many_large(fast_db):
    fast_db.put_many((b"n%05d" % i, b"%d" % i) for i in range(5000))
    keys = [b"n%05d" % i for i in range(0, 5000, 3)] + [b"zz"]
    result = fast_db.get_many(keys)
    assert result[:-1] == [b"%d" % i for i in range(0, 5000, 3)]
    assert result[-1] is None


def test_delete_many(db):
    db.put_many([(b"k%d" % i, b"v") for i in range(6)])
    assert db.delete_many([b"k0", b"k2", b"k4"]) == 3
    assert [k for k, _ in db.scan()] == [b"k1", b"k3", b"k5"]
    assert db.delete_many([]) == 0


# --------------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize("mode", ["off", "normal", "full"])
def test_sync_mode_is_applied(db_path, mode):
    with Database.open(db_path, {"sync_mode": mode}) as db:
        assert db.stats()["sync_mode"] == mode


def test_default_sync_mode_is_full(db):
    assert db.stats()["sync_mode"] == "full"


def test_every_documented_option_is_accepted(db_path):
    config = {
        "sync_mode": "normal",
        "sync_interval_ms": 50,
        "group_commit": False,
        "wal_enabled": True,
        "wal_mapped_appends": False,
        "table_mapped_reads": False,
        "memtable_size_bytes": 1 << 20,
        "max_value_size_bytes": 1 << 20,
        "block_cache_size_bytes": 4 << 20,
    }
    with Database.open(db_path, config) as db:
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"
        assert db.stats()["sync_mode"] == "normal"
    with Database.open(db_path, {}) as db:
        assert db.get(b"k") == b"v"
    with Database.open(db_path, None) as db:
        assert db.get(b"k") == b"v"


@pytest.mark.parametrize("policy", [0, 1, 2, 3])
def test_default_index_policy_accepts_documented_values(db_path, policy):
    # toondb.h: 0 write-optimized, 1 balanced, 2 scan-optimized, 3 append-only.
    with Database.open(db_path, {"default_index_policy": policy}) as db:
        db.put(b"k", b"v")
        assert db.get(b"k") == b"v"


def test_config_is_keyword_argument(db_path):
    with Database.open(db_path, config={"sync_mode": "off"}) as db:
        assert db.stats()["sync_mode"] == "off"


def test_small_memtable_flushes_to_sstables(db_path):
    with Database.open(db_path, {"memtable_size_bytes": 64 << 10, "sync_mode": "off"}) as db:
        value = b"x" * 1000
        for base in range(0, 2000, 100):
            db.put_many((b"k%05d" % i, value) for i in range(base, base + 100))
        stats = db.stats()
        assert stats["sstable_count"] >= 1
        assert stats["memtable_bytes"] < 2000 * 1000
        assert db.get(b"k00000") == value
        assert db.get(b"k01999") == value


@pytest.mark.parametrize("mode", ["off", "normal", "full"])
def test_persistence_across_reopen(db_path, mode):
    with Database.open(db_path, {"sync_mode": mode}) as db:
        for i in range(200):
            db.put(b"key%03d" % i, b"value%03d" % i)
        db.put_path("paths/p1", b"path-value")
        db.put(b"empty", b"")
        db.put(b"deleted", b"x")
        db.delete(b"deleted")
    with Database.open(db_path, {"sync_mode": mode}) as db:
        for i in range(200):
            assert db.get(b"key%03d" % i) == b"value%03d" % i
        assert db.get_path("paths/p1") == b"path-value"
        assert db.get(b"empty") == b""
        assert db.get(b"deleted") is None
        assert len(list(db.scan())) == 202


def test_persistence_with_wal_disabled_and_clean_close(db_path):
    with Database.open(db_path, {"wal_enabled": False}) as db:
        for i in range(300):
            db.put(b"nowal%03d" % i, b"v%d" % i)
        db.delete(b"nowal000")
    with Database.open(db_path) as db:
        assert db.get(b"nowal000") is None
        for i in range(1, 300):
            assert db.get(b"nowal%03d" % i) == b"v%d" % i


def test_persistence_across_checkpoint_and_wal(db_path):
    with Database.open(db_path) as db:
        for i in range(50):
            db.put(b"a%02d" % i, b"old")
        db.checkpoint()
        for i in range(0, 50, 2):
            db.put(b"a%02d" % i, b"new")
        for i in range(1, 50, 4):
            db.delete(b"a%02d" % i)
    with Database.open(db_path) as db:
        for i in range(50):
            expected = b"new" if i % 2 == 0 else (None if i % 4 == 1 else b"old")
            assert db.get(b"a%02d" % i) == expected
        assert [k for k, _ in db.scan()] == [b"a%02d" % i for i in range(50) if i % 4 != 1]


def test_put_many_persists(db_path):
    with Database.open(db_path) as db:
        db.put_many({b"m%d" % i: b"%d" % i for i in range(100)})
        db.delete_many([b"m%d" % i for i in range(0, 100, 10)])
    with Database.open(db_path) as db:
        values = db.get_many([b"m%d" % i for i in range(100)])
        assert values == [None if i % 10 == 0 else b"%d" % i for i in range(100)]


# --------------------------------------------------------------------------------------------
# Checkpoints and statistics

STAT_KEYS = [
    "memtable_bytes",
    "wal_bytes",
    "sstable_count",
    "last_lsn",
    "last_checkpoint_lsn",
    "active_transactions",
    "commits",
    "io_backend",
    "sync_mode",
    "row_cache_hits",
    "row_cache_misses",
    "row_cache_bytes",
]


def test_checkpoint_lsn(db):
    for i in range(10):
        db.put(b"c%d" % i, b"v")
    first = db.checkpoint()
    assert isinstance(first, int) and not isinstance(first, bool)
    assert first >= 10
    assert db.stats()["last_checkpoint_lsn"] == first
    again = db.checkpoint()
    assert again >= first
    assert db.stats()["last_checkpoint_lsn"] == again
    for i in range(5):
        db.put(b"d%d" % i, b"v")
    third = db.checkpoint()
    assert third >= again + 5
    assert db.stats()["last_checkpoint_lsn"] == third
    assert db.get(b"c0") == b"v"
    assert db.get(b"d4") == b"v"


def test_checkpoint_survives_reopen(db_path):
    with Database.open(db_path) as db:
        for i in range(20):
            db.put(b"k%d" % i, b"v")
        lsn = db.checkpoint()
        assert lsn >= 20
    with Database.open(db_path) as db:
        assert db.stats()["last_checkpoint_lsn"] >= lsn
        assert db.stats()["last_lsn"] >= lsn
        db.put(b"more", b"v")
        assert db.checkpoint() > lsn


def test_checkpoint_moves_data_to_sstables(db):
    for i in range(100):
        db.put(b"s%03d" % i, b"value")
    assert db.stats()["memtable_bytes"] > 0
    db.checkpoint()
    stats = db.stats()
    assert stats["sstable_count"] >= 1
    assert stats["memtable_bytes"] < 100 * len(b"s000value")
    assert db.get(b"s050") == b"value"


def test_stats_keys_and_types(db):
    stats = db.stats()
    assert isinstance(stats, dict)
    for key in STAT_KEYS:
        assert key in stats, key
    for key in STAT_KEYS:
        if key in ("io_backend", "sync_mode"):
            assert isinstance(stats[key], str) and stats[key], key
        else:
            assert isinstance(stats[key], int) and not isinstance(stats[key], bool), key
            assert stats[key] >= 0, key
    assert stats["active_transactions"] == 0


def test_stats_reflect_writes(db):
    before = db.stats()
    for i in range(5):
        db.put(b"w%d" % i, b"x" * 100)
    after = db.stats()
    assert after["commits"] >= before["commits"] + 5
    assert after["last_lsn"] >= before["last_lsn"] + 5
    assert after["last_lsn"] >= 5
    assert after["memtable_bytes"] > before["memtable_bytes"]
    assert after["wal_bytes"] > before["wal_bytes"]


def test_row_cache_answers_repeated_reads_of_table_keys(tmp_path):
    """After a checkpoint the keys are in tables; a key read a second time is kept by the row
    cache and later reads are answered from it (stats), with the same values; writes after
    that are seen at once; row_cache_size_bytes=0 turns it off."""
    with Database.open(str(tmp_path / "on"), {"sync_mode": "off"}) as db:
        for i in range(200):
            db.put(b"r%03d" % i, b"value %d" % i)
        db.checkpoint()
        for _ in range(3):
            assert [db.get(b"r%03d" % i) for i in range(200)] == [b"value %d" % i for i in range(200)]
        stats = db.stats()
        assert stats["row_cache_hits"] >= 190, stats
        assert stats["row_cache_misses"] >= 200 and stats["row_cache_bytes"] > 0
        db.put(b"r007", b"new")
        db.delete(b"r008")
        assert db.get(b"r007") == b"new" and db.get(b"r008") is None
        db.checkpoint()  # a new version: the cached answers of the old one are not used
        assert db.get(b"r007") == b"new" and db.get(b"r008") is None
    with Database.open(str(tmp_path / "off"), {"sync_mode": "off", "row_cache_size_bytes": 0}) as db:
        db.put(b"k", b"v")
        db.checkpoint()
        for _ in range(3):
            assert db.get(b"k") == b"v"
        assert db.stats()["row_cache_hits"] == 0
    with pytest.raises(DatabaseError, match="row_cache_size_bytes"):
        Database.open(str(tmp_path / "bad"), {"row_cache_size_bytes": -1})


@pytest.mark.parametrize("mapped", [True, False])
def test_table_truncated_under_an_open_database_is_an_error_not_a_crash(tmp_path, mapped):
    """Point reads of tables go through a read-only mapping of the file by default; a load the
    kernel cannot serve there (here: the file cut short by someone else while it is mapped)
    would be SIGBUS. It must surface as DatabaseError, and the process must go on; with
    table_mapped_reads off, the same damage is a short read. Keys before the cut still read."""
    config = {"sync_mode": "off", "table_mapped_reads": mapped, "row_cache_size_bytes": 0}
    keys = [b"t%05d" % i for i in range(20000)]
    with Database.open(str(tmp_path / "db"), config) as db:
        for key in keys:
            db.put(key, key * 8)
        db.checkpoint()
    with Database.open(str(tmp_path / "db"), config) as db:
        assert db.get(keys[0]) == keys[0] * 8  # opens the table (and maps it)
        tables = sorted((tmp_path / "db" / "tables").glob("*.sst"))
        assert len(tables) == 1
        os.truncate(tables[0], tables[0].stat().st_size // 4)
        with pytest.raises(DatabaseError) as raised:
            db.get(keys[-1])
        assert str(tables[0]) in str(raised.value)
        with pytest.raises(DatabaseError):
            db.get(keys[-1])
        assert db.get(keys[0]) == keys[0] * 8


def test_stats_active_transactions(db):
    assert db.stats()["active_transactions"] == 0
    txn = db.transaction()
    assert db.stats()["active_transactions"] == 1
    second = db.transaction()
    assert db.stats()["active_transactions"] == 2
    second.abort()
    assert db.stats()["active_transactions"] == 1
    txn.put(b"k", b"v")
    txn.commit()
    assert db.stats()["active_transactions"] == 0
    with db.transaction() as t:
        t.put(b"j", b"v")
        assert db.stats()["active_transactions"] == 1
    assert db.stats()["active_transactions"] == 0
