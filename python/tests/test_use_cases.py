"""The four use cases of the SDK documentation, written as small applications on top of
the embedded API: a session cache with TTL, a user store with a unique secondary index, a
document store scanned by prefix, and feature flags stored under paths."""
from __future__ import annotations

import json
import random
import struct
import threading

import pytest

from toondb import Database, TransactionConflictError

# ============================================================================================
# (a) Session cache with TTL


class FakeClock:
    """A controllable clock in milliseconds; the tests never sleep."""

    def __init__(self, start_ms: int = 1_700_000_000_000):
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


class SessionCache:
    """Values are an 8-byte big-endian expiry (ms) followed by the payload."""

    PREFIX = b"sessions/"

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock

    def key(self, session_id: str) -> bytes:
        return self.PREFIX + session_id.encode()

    def set(self, session_id: str, payload: bytes, ttl_ms: int) -> None:
        self.db.put(self.key(session_id), struct.pack(">Q", self.clock() + ttl_ms) + payload)

    def get(self, session_id: str):
        raw = self.db.get(self.key(session_id))
        if raw is None:
            return None
        (expiry,) = struct.unpack(">Q", raw[:8])
        if self.clock() >= expiry:
            return None
        return raw[8:]

    def touch(self, session_id: str, ttl_ms: int) -> bool:
        with self.db.transaction() as txn:
            raw = txn.get(self.key(session_id))
            if raw is None or struct.unpack(">Q", raw[:8])[0] <= self.clock():
                return False
            txn.put(self.key(session_id), struct.pack(">Q", self.clock() + ttl_ms) + raw[8:])
            return True

    def cleanup(self) -> int:
        now = self.clock()
        expired = [key for key, raw in self.db.scan_prefix(self.PREFIX) if struct.unpack(">Q", raw[:8])[0] <= now]
        if not expired:
            return 0
        return self.db.delete_many(expired)


def test_session_cache_expiry_and_cleanup(db):
    clock = FakeClock()
    cache = SessionCache(db, clock)
    cache.set("s1", b'{"user": 1}', ttl_ms=10_000)
    cache.set("s2", b'{"user": 2}', ttl_ms=20_000)
    cache.set("s3", b"", ttl_ms=30_000)
    db.put(b"sessionsX", b"not a session")  # shares the prefix without the slash

    assert cache.get("s1") == b'{"user": 1}'
    assert cache.get("s3") == b""
    assert cache.get("missing") is None

    clock.advance(10_000)  # s1 expires exactly now
    assert cache.get("s1") is None
    assert cache.get("s2") == b'{"user": 2}'
    # Expired but not yet cleaned: the raw record is still stored.
    assert db.get(b"sessions/s1") is not None
    assert cache.cleanup() == 1
    assert db.get(b"sessions/s1") is None
    assert [k for k, _ in db.scan_prefix(b"sessions/")] == [b"sessions/s2", b"sessions/s3"]
    assert cache.cleanup() == 0

    clock.advance(15_000)  # s2 expired, s3 still valid
    assert cache.get("s2") is None
    assert cache.get("s3") == b""
    assert cache.cleanup() == 1

    clock.advance(1_000_000)
    assert cache.cleanup() == 1
    assert list(db.scan_prefix(b"sessions/")) == []
    assert db.get(b"sessionsX") == b"not a session"


def test_session_touch_extends_ttl(db):
    clock = FakeClock()
    cache = SessionCache(db, clock)
    cache.set("s", b"payload", ttl_ms=1_000)
    clock.advance(900)
    assert cache.touch("s", ttl_ms=1_000)
    clock.advance(900)
    assert cache.get("s") == b"payload"
    clock.advance(200)
    assert cache.get("s") is None
    assert not cache.touch("s", ttl_ms=1_000)
    assert not cache.touch("never", ttl_ms=1_000)


def test_session_cache_many_sessions_and_reopen(db_path):
    clock = FakeClock()
    rng = random.Random(1234)
    ttls = {"sess-%04d" % i: rng.randrange(1, 100) * 1000 for i in range(500)}
    with Database.open(db_path, {"sync_mode": "off"}) as db:
        cache = SessionCache(db, clock)
        for session_id, ttl in ttls.items():
            cache.set(session_id, session_id.encode() * 3, ttl)
    clock.advance(50_000)
    with Database.open(db_path) as db:
        cache = SessionCache(db, clock)
        alive = {s for s, ttl in ttls.items() if ttl > 50_000}
        for session_id in ttls:
            expected = session_id.encode() * 3 if session_id in alive else None
            assert cache.get(session_id) == expected
        assert cache.cleanup() == len(ttls) - len(alive)
        assert {k[len(b"sessions/"):].decode() for k, _ in db.scan_prefix(b"sessions/")} == alive


# ============================================================================================
# (b) User store with a unique secondary index


class DuplicateEmail(Exception):
    pass


class UserStore:
    def __init__(self, db):
        self.db = db

    @staticmethod
    def user_key(user_id: str) -> bytes:
        return b"users/" + user_id.encode()

    @staticmethod
    def email_key(email: str) -> bytes:
        return b"index/email/" + email.encode()

    def create_in(self, txn, user_id: str, email: str, name: str) -> None:
        if txn.get(self.email_key(email)) is not None:
            raise DuplicateEmail(email)
        if txn.get(self.user_key(user_id)) is not None:
            raise ValueError("user exists: " + user_id)
        txn.put(self.user_key(user_id), json.dumps({"id": user_id, "email": email, "name": name}).encode())
        txn.put(self.email_key(email), user_id.encode())

    def create(self, user_id: str, email: str, name: str) -> None:
        with self.db.transaction() as txn:
            self.create_in(txn, user_id, email, name)

    def get(self, user_id: str):
        raw = self.db.get(self.user_key(user_id))
        return None if raw is None else json.loads(raw)

    def find_by_email(self, email: str):
        user_id = self.db.get(self.email_key(email))
        return None if user_id is None else self.get(user_id.decode())

    def change_email(self, user_id: str, new_email: str) -> None:
        with self.db.transaction() as txn:
            raw = txn.get(self.user_key(user_id))
            if raw is None:
                raise KeyError(user_id)
            record = json.loads(raw)
            if txn.get(self.email_key(new_email)) is not None:
                raise DuplicateEmail(new_email)
            txn.delete(self.email_key(record["email"]))
            record["email"] = new_email
            txn.put(self.user_key(user_id), json.dumps(record).encode())
            txn.put(self.email_key(new_email), user_id.encode())


def _index(db):
    return {k.decode(): v.decode() for k, v in db.scan_prefix(b"index/email/")}


def test_user_store_unique_email(db):
    users = UserStore(db)
    users.create("1", "alice@example.com", "Alice")
    users.create("2", "bob@example.com", "Bob")
    with pytest.raises(DuplicateEmail):
        users.create("3", "alice@example.com", "Mallory")
    assert users.get("3") is None
    assert users.find_by_email("alice@example.com")["name"] == "Alice"
    assert _index(db) == {"index/email/alice@example.com": "1", "index/email/bob@example.com": "2"}
    assert [k for k, _ in db.scan_prefix(b"users/")] == [b"users/1", b"users/2"]
    assert db.stats()["active_transactions"] == 0


def test_user_store_concurrent_creation_one_wins(db):
    users = UserStore(db)
    t1 = db.transaction()
    t2 = db.transaction()
    # Both check the index before either commits: neither sees the other.
    users.create_in(t1, "10", "same@example.com", "First")
    users.create_in(t2, "20", "same@example.com", "Second")
    t1.commit()
    with pytest.raises(TransactionConflictError):
        t2.commit()
    assert users.get("10")["name"] == "First"
    assert users.get("20") is None
    assert _index(db) == {"index/email/same@example.com": "10"}
    # A retry of the loser now sees the index entry and stops.
    with pytest.raises(DuplicateEmail):
        users.create("20", "same@example.com", "Second")


def test_user_store_concurrent_creation_threads(db_path):
    attempts = 6
    with Database.open(db_path, {"sync_mode": "off"}) as db:
        users = UserStore(db)
        barrier = threading.Barrier(attempts)
        results = [None] * attempts

        def create(index):
            barrier.wait(timeout=30)
            try:
                users.create("u%d" % index, "contested@example.com", "User %d" % index)
                results[index] = "created"
            except DuplicateEmail:
                results[index] = "duplicate"
            except TransactionConflictError:
                results[index] = "conflict"
            except BaseException as exc:  # noqa: BLE001
                results[index] = repr(exc)

        threads = [threading.Thread(target=create, args=(i,), daemon=True) for i in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive()
        assert results.count("created") == 1, results
        assert all(r in ("created", "duplicate", "conflict") for r in results), results
        winner = "u%d" % results.index("created")
        assert _index(db) == {"index/email/contested@example.com": winner}
        assert [k for k, _ in db.scan_prefix(b"users/")] == [b"users/" + winner.encode()]
        assert db.stats()["active_transactions"] == 0


def test_user_store_change_email_moves_index_atomically(db):
    users = UserStore(db)
    users.create("1", "old@example.com", "Alice")
    users.create("2", "taken@example.com", "Bob")
    users.change_email("1", "new@example.com")
    assert users.get("1")["email"] == "new@example.com"
    assert users.find_by_email("old@example.com") is None
    assert users.find_by_email("new@example.com")["id"] == "1"
    assert _index(db) == {"index/email/new@example.com": "1", "index/email/taken@example.com": "2"}

    # Moving to a taken email aborts the whole change.
    with pytest.raises(DuplicateEmail):
        users.change_email("1", "taken@example.com")
    assert users.get("1")["email"] == "new@example.com"
    assert _index(db) == {"index/email/new@example.com": "1", "index/email/taken@example.com": "2"}
    # The old address is free again.
    users.create("3", "old@example.com", "Carol")
    assert users.find_by_email("old@example.com")["id"] == "3"


def test_user_store_change_email_races_creation(db):
    users = UserStore(db)
    users.create("1", "a@example.com", "Alice")
    mover = db.transaction()
    record = json.loads(mover.get(UserStore.user_key("1")))
    assert mover.get(UserStore.email_key("b@example.com")) is None
    mover.delete(UserStore.email_key(record["email"]))
    record["email"] = "b@example.com"
    mover.put(UserStore.user_key("1"), json.dumps(record).encode())
    mover.put(UserStore.email_key("b@example.com"), b"1")
    # Meanwhile another user takes b@example.com and commits first.
    users.create("2", "b@example.com", "Bob")
    with pytest.raises(TransactionConflictError):
        mover.commit()
    # Nothing of the move was applied: user 1 still owns a@, user 2 owns b@.
    assert users.get("1")["email"] == "a@example.com"
    assert _index(db) == {"index/email/a@example.com": "1", "index/email/b@example.com": "2"}


# ============================================================================================
# (c) Document store scanned by prefix


def doc_key(collection: str, doc_id: str) -> bytes:
    return ("docs/%s/%s" % (collection, doc_id)).encode()


def list_collection(db, collection: str):
    prefix = ("docs/%s/" % collection).encode()
    return [(key[len(prefix):].decode(), json.loads(value)) for key, value in db.scan_prefix(prefix)]


def test_document_store_prefix_scans(db):
    rng = random.Random(42)
    collections = {"a": 40, "ab": 25, "b": 30, "a-b": 5, "a.b": 5}
    written = {}
    items = [(c, "id-%03d" % i) for c, n in collections.items() for i in range(n)]
    rng.shuffle(items)
    for collection, doc_id in items:
        document = {"collection": collection, "id": doc_id, "n": rng.randrange(1000), "tags": ["x", doc_id]}
        db.put(doc_key(collection, doc_id), json.dumps(document).encode())
        written[(collection, doc_id)] = document
    db.put(b"docs/a", b"not a document")  # a key equal to the collection name
    db.put(b"docsa/1", b"{}")

    for collection, count in collections.items():
        rows = list_collection(db, collection)
        assert [doc_id for doc_id, _ in rows] == ["id-%03d" % i for i in range(count)]
        for doc_id, document in rows:
            assert document == written[(collection, doc_id)]
            assert document["collection"] == collection  # no leakage from docs/ab into docs/a
    total = sum(collections.values())
    assert sum(1 for _ in db.scan_prefix(b"docs/")) == total + 1  # plus the key b"docs/a"
    assert len(list(db.scan_prefix(b"docs/a"))) == 1 + 40 + 25 + 5 + 5


def test_document_store_update_delete_and_range(db):
    for i in range(20):
        db.put(doc_key("notes", "%02d" % i), json.dumps({"v": 1, "i": i}).encode())
    db.put(doc_key("notes", "05"), json.dumps({"v": 2, "i": 5}).encode())
    db.delete(doc_key("notes", "07"))
    rows = list_collection(db, "notes")
    assert [doc_id for doc_id, _ in rows] == ["%02d" % i for i in range(20) if i != 7]
    assert dict(rows)["05"] == {"v": 2, "i": 5}
    # A page of the collection via a bounded range scan.
    page = [k for k, _ in db.scan(doc_key("notes", "10"), doc_key("notes", "15"))]
    assert page == [doc_key("notes", "%02d" % i) for i in range(10, 15)]
    # A filter over a collection, done client-side.
    assert [d["i"] for _, d in rows if d["v"] == 2] == [5]


def test_document_store_bulk_load_and_reopen(db_path):
    with Database.open(db_path, {"sync_mode": "off"}) as db:
        docs = {doc_key("big", "%05d" % i): json.dumps({"i": i, "body": "x" * 200}).encode() for i in range(3000)}
        assert db.put_many(docs) == 3000
        db.put_many({doc_key("small", "1"): b'{"i": 1}'})
    with Database.open(db_path) as db:
        rows = list_collection(db, "big")
        assert len(rows) == 3000
        assert [d["i"] for _, d in rows] == list(range(3000))
        assert list_collection(db, "small") == [("1", {"i": 1})]


def test_document_store_transactional_move(db):
    db.put(doc_key("inbox", "m1"), b'{"subject": "hi"}')
    with db.transaction() as txn:
        body = txn.get(doc_key("inbox", "m1"))
        txn.delete(doc_key("inbox", "m1"))
        txn.put(doc_key("archive", "m1"), body)
        # Inside the transaction the move is already visible to prefix scans.
        assert list(txn.scan_prefix(b"docs/inbox/")) == []
        assert [k for k, _ in txn.scan_prefix(b"docs/archive/")] == [doc_key("archive", "m1")]
        assert list_collection(db, "inbox") == [("m1", {"subject": "hi"})]
    assert list_collection(db, "inbox") == []
    assert list_collection(db, "archive") == [("m1", {"subject": "hi"})]


# ============================================================================================
# (d) Feature flags via paths


def set_flag(db, service: str, flag: str, enabled: bool) -> None:
    db.put_path("flags/%s/%s" % (service, flag), b"on" if enabled else b"off")


def flag_enabled(db, service: str, flag: str, default: bool = False) -> bool:
    value = db.get_path("flags/%s/%s" % (service, flag))
    return default if value is None else value == b"on"


def list_flags(db, service: str):
    prefix = ("flags/%s/" % service).encode()
    return {key[len(prefix):].decode(): value == b"on" for key, value in db.scan_prefix(prefix)}


def test_feature_flags(db):
    set_flag(db, "checkout", "new_ui", True)
    set_flag(db, "checkout", "express", False)
    set_flag(db, "checkout", "apple_pay", True)
    set_flag(db, "checkout-v2", "new_ui", False)
    set_flag(db, "search", "fuzzy", True)

    assert list_flags(db, "checkout") == {"apple_pay": True, "express": False, "new_ui": True}
    assert [k for k, _ in db.scan_prefix(b"flags/checkout/")] == [
        b"flags/checkout/apple_pay",
        b"flags/checkout/express",
        b"flags/checkout/new_ui",
    ]
    assert list_flags(db, "checkout-v2") == {"new_ui": False}
    assert list_flags(db, "search") == {"fuzzy": True}
    assert list_flags(db, "billing") == {}

    # Toggle.
    assert flag_enabled(db, "checkout", "express") is False
    set_flag(db, "checkout", "express", True)
    assert flag_enabled(db, "checkout", "express") is True
    assert db.get(b"flags/checkout/express") == b"on"

    # Delete: falls back to the default.
    db.delete_path("flags/checkout/new_ui")
    assert flag_enabled(db, "checkout", "new_ui") is False
    assert flag_enabled(db, "checkout", "new_ui", default=True) is True
    assert list_flags(db, "checkout") == {"apple_pay": True, "express": True}
    assert list_flags(db, "checkout-v2") == {"new_ui": False}


def test_feature_flags_unicode_and_nested(db):
    set_flag(db, "café", "menú_nuevo", True)
    set_flag(db, "café", "región/eu", True)  # a nested flag path
    assert flag_enabled(db, "café", "menú_nuevo")
    assert flag_enabled(db, "café", "región/eu")
    assert list_flags(db, "café") == {"menú_nuevo": True, "región/eu": True}


def test_feature_flags_bulk_toggle_in_transaction(db_path):
    with Database.open(db_path) as db:
        for i in range(10):
            set_flag(db, "svc", "f%d" % i, False)
        with db.transaction() as txn:
            for key, _ in txn.scan_prefix(b"flags/svc/"):
                txn.put(key, b"on")
            txn.put_path("flags/svc/added", b"on")
        assert list_flags(db, "svc") == dict({"f%d" % i: True for i in range(10)}, added=True)
    with Database.open(db_path) as db:
        assert all(list_flags(db, "svc").values())
        assert len(list_flags(db, "svc")) == 11
