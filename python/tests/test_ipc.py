"""IPC mode against the real server (`toondb-server`), per docs/ipc-protocol.md.

Every test starts its own server on a fresh database:
``<TOONDB_SERVER or <repo>/.build/debug/toondb-server> --db <tmp>/db --socket <short tmp>/s.sock``,
waits (at most 30 s) until the socket answers a PING, and stops it with SIGTERM (waiting at
most 30 s) afterwards. A missing or non-working server binary FAILS these tests (build it with
``swift build --product toondb-server``); they are never skipped.

Query results are cross-checked with the official TOON decoder (``toon_format``).
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import pytest
import toon_format

import toondb
from toondb import (
    DatabaseError,
    IpcClient,
    ProtocolError,
    TransactionConflictError,
    TransactionError,
)
from toondb import toon
from toondb._collection import Collection, SearchResult
from toondb.errors import CollectionError, CollectionExistsError, CollectionNotFoundError, ErrorCode

from ipc_server import OK, ERROR, VALUE, TXN_ID, PONG, STOP_TIMEOUT, ServerProcess
from collection_cases import brute_force, check_filters, check_search_toon, random_vectors


# -- raw frames ----------------------------------------------------------------------------------


def frame(op: int, payload: bytes = b"") -> bytes:
    return struct.pack("<BI", op, len(payload)) + payload


def path_bytes(*segments: bytes) -> bytes:
    return struct.pack("<H", len(segments)) + b"".join(struct.pack("<H", len(s)) + s for s in segments)


class Raw:
    """A hand-driven connection for frames the client would never send."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Optional[Tuple[int, bytes]]:
        """The next frame, or None at end of stream."""
        head = self.reader.read(5)
        if len(head) < 5:
            return None
        op, size = struct.unpack("<BI", head)
        payload = self.reader.read(size)
        assert len(payload) == size, "truncated frame from the server"
        return op, payload

    def request(self, op: int, payload: bytes = b"") -> Tuple[int, bytes]:
        self.send(frame(op, payload))
        reply = self.read()
        assert reply is not None, f"connection closed instead of answering opcode 0x{op:02x}"
        return reply

    def error_code(self, op: int, payload: bytes = b"") -> str:
        reply_op, reply = self.request(op, payload)
        assert reply_op == ERROR, f"expected ERROR, got 0x{reply_op:02x} {reply[:80]!r}"
        code, sep, text = reply.decode("utf-8").partition(": ")
        assert sep and text, f"ERROR payload is not '<code>: <text>': {reply!r}"
        return code

    def assert_usable(self) -> None:
        assert self.request(0x0E) == (PONG, b"")

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Raw]:
    connection = Raw(server.socket_path)
    yield connection
    connection.close()


def assert_serves(server: ServerProcess) -> None:
    """Another client can still use the server."""
    with server.client(timeout=10) as other:
        other.put(b"health/check", b"ok")
        assert other.get(b"health/check") == b"ok"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- basics --------------------------------------------------------------------------------------


def test_ping_and_stats(client: IpcClient) -> None:
    assert 0 < client.ping() < 5
    stats = client.stats()
    for key in ("connections_total", "connections_active", "requests_total", "requests_success",
                "requests_error", "bytes_received", "bytes_sent", "uptime_secs", "memtable_size_bytes",
                "wal_size_bytes", "active_transactions", "connections_rejected", "transactions_open", "role"):
        assert key in stats, key
    assert stats["role"] == "standalone"
    assert stats["connections_active"] >= 1
    before = stats["requests_total"]
    client.put(b"k", b"v")
    assert client.stats()["requests_total"] >= before + 2


def test_put_get_delete(client: IpcClient) -> None:
    assert client.get(b"missing") is None
    client.put(b"greeting", b"hello")
    assert client.get(b"greeting") == b"hello"
    client.put(b"greeting", b"again")
    assert client.get(b"greeting") == b"again"
    client.put(b"empty", b"")
    assert client.get(b"empty") == b""  # found-empty, not missing
    binary_key = bytes(range(256))
    client.put(binary_key, b"\x00\xff" * 100)
    assert client.get(binary_key) == b"\x00\xff" * 100
    client.delete(b"greeting")
    assert client.get(b"greeting") is None
    client.delete(b"never-existed")  # not an error


def test_large_values_and_limits(client: IpcClient) -> None:
    big = os.urandom(1 << 20)
    client.put(b"big", big)
    assert client.get(b"big") == big
    largest = b"x" * (16 << 20)  # a 16 MiB value with its key fits in a frame
    client.put(b"largest", largest)
    assert client.get(b"largest") == largest
    with pytest.raises(DatabaseError) as info:
        client.put(b"k" * 65537, b"v")
    assert info.value.server_code == "key_too_large"
    assert info.value.code == toondb.ErrorCode.KEY_TOO_LARGE
    client.put(b"k" * 65536, b"v")  # the largest key
    assert client.get(b"k" * 65536) == b"v"
    with pytest.raises(DatabaseError) as info:
        client.put(b"too-big", b"x" * ((16 << 20) + 1))
    assert info.value.server_code == "value_too_large"
    assert client.ping() > 0


def test_paths(client: IpcClient) -> None:
    client.put_path(["users", "alice", "email"], b"alice@example.com")
    assert client.get_path(["users", "alice", "email"]) == b"alice@example.com"
    assert client.get(b"users/alice/email") == b"alice@example.com"  # the key is the joined path
    assert client.get_path("users/alice/email") == b"alice@example.com"
    assert client.get_path(["users", "alice", "phone"]) is None
    client.put_path(["ünï", "кей", "🚀"], b"unicode")
    assert client.get("ünï/кей/🚀".encode()) == b"unicode"
    client.put_path(["e"], b"")
    assert client.get_path(["e"]) == b""
    client.delete_path(["users", "alice", "email"])
    assert client.get_path(["users", "alice", "email"]) is None
    for bad in (["a", ""], ["a/b"], ["x", "y/"]):
        with pytest.raises(DatabaseError) as info:
            client.put_path(bad, b"v")
        assert info.value.server_code == "invalid_argument", bad
    assert client.ping() > 0


def test_scans(client: IpcClient) -> None:
    pairs = {f"s/{i:04d}".encode(): f"value {i}".encode() for i in range(50)}
    client.put_many(pairs)
    client.put(b"s", b"not under s/")
    client.put(b"t/0", b"after")
    expected = sorted(pairs.items())
    assert client.scan(b"s/") == [{"key": k, "value": v} for k, v in expected]
    assert client.scan("s/") == client.scan(b"s/")
    assert list(client.iter_scan(b"s/")) == expected
    assert client.scan(b"nothing/") == []
    assert list(client.scan_range(b"s/0010", b"s/0020")) == expected[10:20]
    assert list(client.scan_range(b"s/0045")) == expected[45:] + [(b"t/0", b"after")]
    assert list(client.scan_range(b"", b"s/0002")) == [(b"s", b"not under s/")] + expected[:2]
    assert list(client.scan_range(b"s/", b"t", limit=7)) == expected[:7]
    everything = list(client.scan_range())
    assert [k for k, _ in everything] == sorted(k for k, _ in everything)


def test_streamed_scan_of_many_batches(client: IpcClient) -> None:
    value = b"v" * 1024
    client.put_many(((f"big/{i:05d}".encode(), value) for i in range(3000)), atomic=True)
    keys = [k for k, _ in client.iter_scan(b"big/")]  # ~3 MiB: many 256 KiB ROW batches
    assert keys == [f"big/{i:05d}".encode() for i in range(3000)]
    iterator = client.iter_scan(b"big/")
    assert next(iterator)[0] == b"big/00000"
    assert client.get(b"big/02999") == value  # a request while the stream is open
    assert sum(1 for _ in iterator) == 2999
    abandoned = client.iter_scan(b"big/")
    next(abandoned)
    abandoned.close()
    assert client.ping() > 0


def test_batches_and_pipelines(client: IpcClient) -> None:
    assert client.write_batch([(b"b/1", b"one"), (b"b/2", b"two"), (b"b/1", None)]) == 3
    assert client.get(b"b/1") is None and client.get(b"b/2") == b"two"
    assert client.put_many({b"m/1": b"a", b"m/2": b"b"}) == 2
    assert client.put_many([(f"p/{i:04d}".encode(), str(i).encode()) for i in range(2000)], atomic=False) == 2000
    keys = [f"p/{i:04d}".encode() for i in range(2000)] + [b"p/missing"]
    assert client.get_many(keys) == [str(i).encode() for i in range(2000)] + [None]
    assert client.delete_many([b"m/1", b"m/2"]) == 2
    assert client.get_many([b"m/1", b"m/2"]) == [None, None]


def test_malformed_batch_writes_nothing(server: ServerProcess, raw: Raw) -> None:
    good = b"\x00" + struct.pack("<I", 5) + b"batch" + struct.pack("<I", 1) + b"v"
    bad_op = b"\x07" + struct.pack("<I", 1) + b"x"
    payload = struct.pack("<QI", 0, 2) + good + bad_op
    assert raw.error_code(0x17, payload) in ("malformed", "invalid_argument")
    short = struct.pack("<QI", 0, 3) + good  # declares 3 operations, carries 1
    assert raw.error_code(0x17, short) == "malformed"
    raw.assert_usable()
    with server.client() as c:
        assert c.get(b"batch") is None


def test_checkpoint(client: IpcClient) -> None:
    client.put(b"k", b"v")
    first = client.checkpoint()
    assert isinstance(first, int) and first > 0
    client.put(b"k2", b"v2")
    assert client.checkpoint() >= first
    assert client.get(b"k") == b"v"


def test_tables(client: IpcClient) -> None:
    columns = [("id", "Int64", False), ("owner", "UInt64"), ("score", "float64", True), ("name", "Text"),
               ("blob", "Binary", False), ("flag", 5, True)]
    client.create_table("items", columns)
    described = client.describe_table("items")
    assert described == {"name": "items", "columns": [
        {"name": "id", "type": "Int64", "nullable": False},
        {"name": "owner", "type": "UInt64", "nullable": True},
        {"name": "score", "type": "Float64", "nullable": True},
        {"name": "name", "type": "Text", "nullable": True},
        {"name": "blob", "type": "Binary", "nullable": False},
        {"name": "flag", "type": "Bool", "nullable": True},
    ]}
    assert client.get(b"_toondb/tables/items") is not None  # stored with the data
    with pytest.raises(DatabaseError) as info:
        client.create_table("items", [("id", "Int64")])
    assert info.value.server_code == "already_exists"
    with pytest.raises(DatabaseError) as info:
        client.describe_table("nope")
    assert info.value.server_code == "not_found"
    for name, bad in (("t1", [("a", 9)]), ("t2", [("a", "Int64"), ("a", "Text")]), ("t3", []),
                      ("t/4", [("a", "Int64")]), ("", [("a", "Int64")]), ("t5", [("", "Int64")])):
        with pytest.raises(DatabaseError) as info:
            client.create_table(name, bad)
        assert info.value.server_code == "invalid_argument", (name, bad)
    assert client.ping() > 0


# -- transactions --------------------------------------------------------------------------------


def test_transaction_is_isolated(server: ServerProcess) -> None:
    with server.client() as a, server.client() as b:
        a.put(b"shared", b"before")
        txn = a.transaction()
        txn.put(b"iso/new", b"uncommitted")
        txn.put_path(["iso", "path"], b"p")
        txn.delete(b"shared")
        assert b.get(b"iso/new") is None and b.get_path(["iso", "path"]) is None
        assert b.get(b"shared") == b"before"
        assert b.scan(b"iso/") == []
        assert txn.get(b"iso/new") == b"uncommitted"  # its own writes
        assert txn.get(b"shared") is None
        assert [k for k, _ in txn.iter_scan(b"iso/")] == [b"iso/new", b"iso/path"]
        b.put(b"iso/later", b"outside")  # committed after the snapshot
        assert txn.get(b"iso/later") is None
        assert a.get(b"iso/later") == b"outside"  # auto-commit read on the same connection
        commit_ts = txn.commit()
        assert commit_ts > 0
        assert b.get(b"iso/new") == b"uncommitted" and b.get(b"shared") is None
        assert b.get_path("iso/path") == b"p"


def test_transaction_operations_and_context_manager(client: IpcClient, server: ServerProcess) -> None:
    with client.transaction() as txn:
        assert txn.active and txn.id > 0
        txn.put_many({b"tx/a": b"1", b"tx/b": b"2"})
        assert txn.write_batch([(b"tx/c", b"3"), (b"tx/a", None)]) == 2
        assert txn.scan(b"tx/") == [{"key": b"tx/b", "value": b"2"}, {"key": b"tx/c", "value": b"3"}]
        assert list(txn.scan_range(b"tx/", b"tx/c")) == [(b"tx/b", b"2")]
        txn.delete_path(["tx", "b"])
        assert txn.get_path(["tx", "b"]) is None
    assert not txn.active
    assert client.scan(b"tx/") == [{"key": b"tx/c", "value": b"3"}]
    with pytest.raises(KeyError):
        with client.transaction() as failing:
            failing.put(b"tx/never", b"x")
            raise KeyError("boom")
    assert not failing.active
    with server.client() as other:
        assert other.get(b"tx/never") is None
    read_only = client.transaction()
    assert read_only.commit() >= 0


def test_write_write_conflict(server: ServerProcess) -> None:
    with server.client() as a, server.client() as b:
        ta = a.transaction()
        tb = b.transaction()
        ta.put(b"contended", b"from a")
        tb.put(b"contended", b"from b")
        ta.commit()
        with pytest.raises(TransactionConflictError) as info:
            tb.commit()
        assert info.value.server_code == "conflict" and str(info.value).startswith("conflict: ")
        assert a.get(b"contended") == b"from a"
        with pytest.raises(TransactionError) as info:
            b.commit(tb.id)  # the conflicting transaction is gone
        assert info.value.server_code in ("transaction", "unknown_transaction")
        assert b.ping() > 0


def test_transaction_ids_belong_to_their_connection(server: ServerProcess) -> None:
    with server.client() as a, server.client() as b:
        txn_id = a.begin_transaction()
        with pytest.raises(TransactionError) as info:
            b.commit(txn_id)
        assert info.value.server_code == "unknown_transaction"
        with pytest.raises(TransactionError):
            b.abort(txn_id)
        a.abort(txn_id)


def test_finished_transactions_say_how_they_ended(client: IpcClient) -> None:
    committed = client.begin_transaction()
    client.commit(committed)
    with pytest.raises(TransactionError, match="committed") as info:
        client.commit(committed)
    assert info.value.server_code == "transaction"
    aborted = client.begin_transaction()
    client.abort(aborted)
    with pytest.raises(TransactionError, match="aborted") as info:
        client.abort(aborted)
    assert info.value.server_code == "transaction"
    with pytest.raises(TransactionError) as info:
        client.commit(0xDEADBEEF)
    assert info.value.server_code == "unknown_transaction"


def test_too_many_transactions(client: IpcClient) -> None:
    ids = [client.begin_transaction() for _ in range(1024)]
    assert len(set(ids)) == 1024
    with pytest.raises(TransactionError) as info:
        client.begin_transaction()
    assert info.value.server_code == "too_many_transactions"
    client.abort(ids[0])
    client.abort(client.begin_transaction())


def test_disconnect_mid_transaction_aborts_it(server: ServerProcess) -> None:
    with server.client() as observer:
        baseline = observer.stats()["transactions_open"]
        leaver = server.client()
        txn = leaver.transaction()
        txn.put(b"dangling", b"uncommitted")
        txn.put_path(["dangling", "p"], b"uncommitted")
        wait_until(lambda: observer.stats()["transactions_open"] == baseline + 1, what="the transaction to open")
        leaver.close()  # without commit or abort
        wait_until(lambda: observer.stats()["transactions_open"] == baseline, what="the server to abort it")
        assert observer.get(b"dangling") is None
        with observer.transaction() as other:
            other.put(b"dangling", b"committed")  # the same key: no conflict with the dead one
            other.put_path(["dangling", "p"], b"committed")
        assert observer.get(b"dangling") == b"committed"
        assert observer.get_path(["dangling", "p"]) == b"committed"
        assert b"uncommitted" not in [item["value"] for item in observer.scan(b"dangling")]


def test_disconnect_mid_frame_in_a_transaction(server: ServerProcess) -> None:
    connection = Raw(server.socket_path)
    op, payload = connection.request(0x04)
    assert op == TXN_ID
    txn_id = payload
    key = b"half"
    connection.request(0x10, txn_id + struct.pack("<I", len(key)) + key + b"pending")
    connection.send(frame(0x10, txn_id + struct.pack("<I", 3) + b"abcdef")[:9])  # half a frame
    connection.close()
    with server.client() as c:
        wait_until(lambda: c.stats()["transactions_open"] == 0, what="the server to abort the transaction")
        assert c.get(key) is None
        c.put(key, b"fine")
        assert c.get(key) == b"fine"


def test_concurrent_clients(server: ServerProcess) -> None:
    errors: List[BaseException] = []

    def writer(n: int) -> None:
        try:
            with server.client() as c:
                for i in range(150):
                    key = f"conc/{n}/{i:03d}".encode()
                    c.put(key, key)
                    assert c.get(key) == key
                assert len(c.scan(f"conc/{n}/")) == 150
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    def incrementer() -> None:
        try:
            with server.client() as c:
                done = attempts = 0
                while done < 15:
                    attempts += 1
                    assert attempts < 2000, "too many conflicts"
                    try:
                        with c.transaction() as txn:
                            value = int(txn.get(b"counter") or b"0")
                            txn.put(b"counter", str(value + 1).encode())
                        done += 1
                    except TransactionConflictError:
                        continue
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    threads += [threading.Thread(target=incrementer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    assert not errors, errors
    with server.client() as c:
        assert c.get(b"counter") == b"60"  # 4 x 15 increments, none lost
        assert len(c.scan(b"conc/")) == 6 * 150


def test_shared_client_across_threads(client: IpcClient) -> None:
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                key = f"shared/{n}/{i}".encode()
                client.put(key, key)
                assert client.get(key) == key
            assert len(list(client.iter_scan(f"shared/{n}/"))) == 100
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(client.scan(b"shared/")) == 400


# -- bad frames ----------------------------------------------------------------------------------


def test_unknown_opcodes(server: ServerProcess, raw: Raw) -> None:
    for op in (0x00, 0x21, 0x7F, 0x80, 0x87, 0xFF):
        assert raw.error_code(op, b"whatever") == "unknown_opcode", hex(op)
    raw.assert_usable()
    assert_serves(server)


def test_truncated_and_trailing_payloads(server: ServerProcess, raw: Raw) -> None:
    cases = [
        (0x01, struct.pack("<I", 100) + b"short"),  # PUT key_len beyond the payload
        (0x01, b"\x01\x00"),  # PUT without a whole key_len
        (0x10, b"\x00" * 4),  # KV_PUT without a whole txn_id
        (0x11, b"\x00" * 7),  # KV_GET without a whole txn_id
        (0x05, b"\x00" * 9),  # COMMIT_TXN with a trailing byte
        (0x06, b"\x00" * 3),  # ABORT_TXN truncated
        (0x09, struct.pack("<H", 2) + struct.pack("<H", 1) + b"a"),  # PUT_PATH missing a segment
        (0x16, b"\x00" * 10),  # SCAN_STREAM truncated
        (0x07, struct.pack("<H", 10) + b"abc"),  # QUERY path_len beyond the payload
        (0x08, struct.pack("<H", 1) + b"t" + struct.pack("<H", 2)),  # CREATE_TABLE missing columns
        (0x18, b"\x05"),  # DESCRIBE_TABLE truncated
    ]
    for op, payload in cases:
        assert raw.error_code(op, payload) == "malformed", (hex(op), payload)
        raw.assert_usable()
    assert_serves(server)


def test_invalid_paths(server: ServerProcess, raw: Raw) -> None:
    value = b"v"
    for payload in (path_bytes(b"ok", b"\xff\xfe") + value,  # invalid UTF-8
                    path_bytes(b"a", b"") + value,  # empty segment
                    path_bytes(b"a/b") + value):  # a slash inside a segment
        assert raw.error_code(0x09, payload) == "invalid_argument", payload
        raw.assert_usable()
    assert raw.error_code(0x14, b"\x00" * 8 + path_bytes(b"\xc3")) == "invalid_argument"
    assert raw.error_code(0x09, struct.pack("<H", 0) + value) in ("invalid_argument", "malformed")
    raw.assert_usable()
    assert_serves(server)


def test_bad_scan_modes(raw: Raw) -> None:
    head = struct.pack("<QBI", 0, 2, 0)
    assert raw.error_code(0x16, head + struct.pack("<I", 0) + struct.pack("<I", 0)) == "invalid_argument"
    prefix_with_b = struct.pack("<QBI", 0, 1, 0) + struct.pack("<I", 1) + b"a" + struct.pack("<I", 1) + b"b"
    assert raw.error_code(0x16, prefix_with_b) in ("invalid_argument", "malformed")
    raw.assert_usable()


def test_over_limit_frames_close_only_that_connection(server: ServerProcess) -> None:
    limit = 16 * 1024 * 1024 + 64 * 1024  # the default max_frame_size
    for declared in (0x7FFFFFFF, limit + 1):
        over = Raw(server.socket_path)
        over.send(struct.pack("<BI", 0x01, declared))
        reply = over.read()
        assert reply is not None and reply[0] == ERROR, declared
        assert reply[1].startswith(b"frame_too_large: "), reply
        assert over.read() is None  # then the server closes the connection
        over.close()
        assert_serves(server)
    at_limit = Raw(server.socket_path)  # exactly max_frame_size is still a frame
    payload = struct.pack("<I", 4) + b"kkkk" + b"v" * (limit - 8)
    assert at_limit.error_code(0x01, payload) == "value_too_large"
    at_limit.assert_usable()
    at_limit.close()


def test_execute_sql_is_not_implemented(raw: Raw) -> None:
    assert raw.error_code(0x0F, b"SELECT 1") == "not_implemented"
    raw.assert_usable()


def test_toondb_legacy_opcodes(raw: Raw) -> None:
    key = b"legacy/key"
    assert raw.request(0x01, struct.pack("<I", len(key)) + key + b"value") == (OK, b"")
    assert raw.request(0x02, key) == (VALUE, b"value")
    assert raw.request(0x02, b"legacy/missing") == (VALUE, b"")  # empty = not found
    assert raw.request(0x09, path_bytes(b"legacy", b"p") + b"pv") == (OK, b"")
    assert raw.request(0x0A, path_bytes(b"legacy", b"p")) == (VALUE, b"pv")
    op, payload = raw.request(0x0B, b"legacy/")
    assert op == VALUE
    (count,) = struct.unpack_from("<I", payload)
    items, offset = [], 4
    for _ in range(count):
        (klen,) = struct.unpack_from("<H", payload, offset)
        k = payload[offset + 2:offset + 2 + klen]
        offset += 2 + klen
        (vlen,) = struct.unpack_from("<I", payload, offset)
        items.append((k, payload[offset + 4:offset + 4 + vlen]))
        offset += 4 + vlen
    assert offset == len(payload)
    assert items == [(b"legacy/key", b"value"), (b"legacy/p", b"pv")]
    assert raw.request(0x03, key) == (OK, b"")
    assert raw.request(0x02, key) == (VALUE, b"")
    op, payload = raw.request(0x0C)
    assert op == OK and len(payload) == 8


def test_half_frame_then_disconnect(server: ServerProcess) -> None:
    for partial in (b"\x01", b"\x01\x10\x00", frame(0x01, struct.pack("<I", 3) + b"keyvalue")[:8]):
        connection = Raw(server.socket_path)
        connection.send(partial)
        connection.close()
    assert_serves(server)


# -- server lifecycle ----------------------------------------------------------------------------


def test_socket_file_mode(server: ServerProcess) -> None:
    assert os.stat(server.socket_path).st_mode & 0o777 == 0o600


def test_restart_keeps_data_and_removes_the_socket(make_server, tmp_path: Path) -> None:
    first = make_server()
    c = first.client()
    c.put(b"persist/kv", b"value")
    c.put_path(["persist", "path"], b"path value")
    c.write_batch([(b"persist/batch", b"b")])
    c.create_table("kept", [("id", "Int64", False)])
    with c.transaction() as txn:
        txn.put(b"persist/txn", b"t")
    pending = c.transaction()  # still open at SIGTERM: the server aborts it
    pending.put(b"persist/pending", b"never committed")
    started = time.monotonic()
    code = first.stop()
    assert code is not None, "the server ignored SIGTERM"
    assert time.monotonic() - started < STOP_TIMEOUT
    assert not os.path.exists(first.socket_path), "the socket file was left behind"
    with pytest.raises(toondb.ConnectionError):
        c.ping()
    c.close()
    second = make_server()
    with second.client() as c:
        assert c.get(b"persist/kv") == b"value"
        assert c.get_path(["persist", "path"]) == b"path value"
        assert c.get(b"persist/batch") == b"b"
        assert c.get(b"persist/txn") == b"t"
        assert c.get(b"persist/pending") is None
        assert c.describe_table("kept")["columns"] == [{"name": "id", "type": "Int64", "nullable": False}]


def test_second_server_on_a_live_socket_exits(make_server) -> None:
    first = make_server()
    second = make_server(db=first.db.parent / "db2", start=False)
    second.socket_path = first.socket_path
    result = subprocess.run(second.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert first.socket_path in result.stdout.decode(errors="replace")
    assert_serves(first)


def test_stale_socket_file_is_replaced(make_server, socket_dir: str) -> None:
    stale = os.path.join(socket_dir, "stale.sock")
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(stale)
    leftover.close()  # the file stays; nothing accepts on it
    assert os.path.exists(stale)
    server = make_server(socket_name="stale.sock")
    assert_serves(server)


def admitted_client(server: ServerProcess) -> IpcClient:
    """A client the server admitted (a just-closed connection may hold its slot briefly)."""
    found: List[IpcClient] = []

    def attempt() -> bool:
        candidate = server.client(timeout=5)
        try:
            candidate.ping()
        except DatabaseError as error:
            assert error.server_code == "busy"
            return False
        found.append(candidate)
        return True

    wait_until(attempt, what="the server to admit a client")
    return found[0]


def test_max_clients(make_server) -> None:
    server = make_server(["--max-clients", "2"])
    first = admitted_client(server)
    second = admitted_client(server)
    try:
        third = server.client()
        with pytest.raises(DatabaseError) as info:
            third.ping()
        assert info.value.server_code == "busy"
        assert not isinstance(info.value, (ProtocolError, TransactionError))
        assert third.closed
        first.close()
        admitted_client(server).close()  # the freed slot is reused
        assert second.stats()["connections_rejected"] >= 1
    finally:
        first.close()
        second.close()


def test_idle_connections_are_closed(make_server) -> None:
    server = make_server(["--timeout-ms", "500"])
    with server.client() as idle:
        txn = idle.transaction()
        txn.put(b"idle/key", b"x")
        time.sleep(1.5)
        with pytest.raises(toondb.ConnectionError):
            idle.ping()
        assert idle.closed
    with server.client() as observer:
        assert observer.get(b"idle/key") is None
        wait_until(lambda: observer.stats()["transactions_open"] == 0, what="the idle transaction to end")


# -- queries -------------------------------------------------------------------------------------

TRICKY_VALUES = {
    "comma": "Bob, Jr.",
    "quote": 'say "hi"',
    "number": "42",
    "boolean": "true",
    "null": "null",
    "newline": "line one\nline two",
    "unicode": "Zoë 🚀 日本",
    "space": " padded ",
    "hash": "#tag",
    "dash": "- item",
    "colon": "a: b",
    "backslash": "C:\\temp",
    "tab": "a\tb",
    "empty": "",
    "brackets": "[1]{x}",
    "pipe": "a|b",
}


def fill_users(c: IpcClient) -> None:
    c.put_path(["users", "alice", "email"], b"alice@example.com")
    c.put_path(["users", "alice", "name"], b"Alice")
    c.put_path(["users", "alice", "note"], "Zoë, \"the\" boss\n2nd line".encode())
    c.put_path(["users", "bob", "email"], b"bob@example.com")
    c.put_path(["users", "bob", "name"], b"Bob, Jr.")
    c.put_path(["users", "carol", "name"], b"42")
    c.put_path(["users", "carol", "address", "city"], b"Oslo")  # column "address/city"
    c.put(b"users/dave", b"two segments: not a row")
    c.put(b"users", b"one segment")
    c.put_path(["other", "x", "name"], b"not under users/")


def cross_check(query: "toondb.Query") -> list:
    text = query.execute()
    rows = query.to_list()
    assert toon_format.decode(text) == {"result": rows}, text
    return rows


def test_query_rows_and_columns(client: IpcClient) -> None:
    fill_users(client)
    rows = cross_check(client.query("users/"))
    assert rows == [
        {"address/city": None, "email": "alice@example.com", "name": "Alice", "note": "Zoë, \"the\" boss\n2nd line"},
        {"address/city": None, "email": "bob@example.com", "name": "Bob, Jr.", "note": None},
        {"address/city": "Oslo", "email": None, "name": "42", "note": None},
    ]
    assert all(list(row) == ["address/city", "email", "name", "note"] for row in rows)  # sorted columns
    text = client.query("users/").execute()
    assert text.startswith("result[3]{")


def test_query_select_order_limit_offset(client: IpcClient) -> None:
    fill_users(client)
    rows = cross_check(client.query("users/").select(["name", "email"]))
    assert [list(row) for row in rows] == [["name", "email"]] * 3
    assert rows == [{"name": "Alice", "email": "alice@example.com"},
                    {"name": "Bob, Jr.", "email": "bob@example.com"},
                    {"name": "42", "email": None}]
    assert cross_check(client.query("users/").select(["email"]).limit(1)) == [{"email": "alice@example.com"}]
    assert cross_check(client.query("users/").select(["name"]).offset(1)) == [{"name": "Bob, Jr."}, {"name": "42"}]
    assert cross_check(client.query("users/").select(["name"]).offset(1).limit(1)) == [{"name": "Bob, Jr."}]
    assert cross_check(client.query("users/").offset(3)) == []
    assert cross_check(client.query("users/").select("missing")) == [{"missing": None}] * 3
    assert cross_check(client.query("users/b")) == [{"email": "bob@example.com", "name": "Bob, Jr."}]


def test_query_empty_result(client: IpcClient) -> None:
    query = client.query("nothing/")
    assert query.execute().strip() == "result[0]:"
    assert cross_check(query) == []
    client.put(b"nothing/x", b"too few segments")
    assert cross_check(client.query("nothing/")) == []


def test_query_tricky_values(client: IpcClient) -> None:
    for column, value in TRICKY_VALUES.items():
        client.put_path(["t", "row", column], value.encode())
    client.put_path(["t", "row2", "comma"], b"plain")
    client.put_path(["t", "bad", "comma"], b"\xff\xfeok")  # not UTF-8
    rows = cross_check(client.query("t/").select(sorted(TRICKY_VALUES)))
    assert rows[0] == {"comma": "\ufffd\ufffdok", **{c: None for c in sorted(TRICKY_VALUES) if c != "comma"}}
    assert rows[1] == dict(sorted(TRICKY_VALUES.items()))
    assert rows[2]["comma"] == "plain"
    for row in rows:
        for value in row.values():
            assert value is None or isinstance(value, str)  # text, never numbers or booleans


def test_query_many_rows(client: IpcClient) -> None:
    client.put_many([(f"many/{i:05d}/v".encode(), f"{i}, {i}".encode()) for i in range(3000)])
    rows = cross_check(client.query("many/"))
    assert rows == [{"v": f"{i}, {i}"} for i in range(3000)]
    assert cross_check(client.query("many/").offset(2990).limit(5)) == [{"v": f"{i}, {i}"} for i in range(2990, 2995)]


# -- vector collections --------------------------------------------------------------------------



@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_collection_search_equals_brute_force(client: IpcClient, metric: str) -> None:
    docs = client.create_collection("docs", dimension=16, metric=metric, m=12, ef_construction=80, ef_search=40)
    assert isinstance(docs, Collection)
    assert (docs.name, docs.dimension, docs.metric, docs.m, docs.ef_construction, docs.ef_search) == \
        ("docs", 16, metric, 12, 80, 40)
    base = random_vectors(200, seed=1)
    ids = [i * 7 + 1 for i in range(200)]
    lsn = docs.insert_many(ids, base, [{"n": i, "odd": i % 2 == 1} for i in range(200)])
    assert lsn > 0
    assert len(docs) == 200
    for query in random_vectors(10, seed=2):
        hits = docs.search(query, k=8, ef_search=200)
        assert [h.id for h in hits] == brute_force(base, ids, query, 8, metric)
        assert all(isinstance(h, SearchResult) for h in hits)
        assert [h.distance for h in hits] == sorted(h.distance for h in hits)
        assert all(h.metadata == {"n": (h.id - 1) // 7, "odd": (h.id - 1) // 7 % 2 == 1} for h in hits)
        odd = docs.search(query, k=5, ef_search=200, filter={"odd": True})
        odd_rows = [i for i in range(200) if i % 2 == 1]
        assert [h.id for h in odd] == brute_force(base[odd_rows], [ids[i] for i in odd_rows], query, 5, metric)


def test_collection_encoding_reaches_the_server(client: IpcClient) -> None:
    docs = client.create_collection("int8docs", dimension=16, metric="l2", encoding="int8")
    assert docs.encoding == "int8"
    assert client.collection("int8docs").encoding == "int8"
    assert client.collection("int8docs").info()["encoding"] == "int8"
    base = random_vectors(100, seed=8)
    docs.insert_many(list(range(100)), base)
    query = random_vectors(1, seed=9)[0]
    assert [h.id for h in docs.search(query, k=5, ef_search=100)] == brute_force(base, list(range(100)), query, 5, "l2")
    assert client.create_collection("plain", dimension=4).encoding == "f32"
    assert client.collection("plain").info()["encoding"] == "f32"
    with pytest.raises(ValueError, match="encoding"):
        client.create_collection("bad", dimension=4, encoding="f64")


def test_collection_items_get_delete_and_replace(client: IpcClient) -> None:
    c = client.create_collection("items", dimension=4, metric="l2")
    assert c.insert(1, [1.0, 0.0, 0.0, 0.0], {"title": "one", "tags": ["a", "b"], "score": 1.5}) > 0
    c.insert(2, np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float64))  # converted to float32
    c.insert(3, [0.25, 0.5, -1e-3, 3.0e8], {})
    assert c.get(1) == ([1.0, 0.0, 0.0, 0.0], {"title": "one", "tags": ["a", "b"], "score": 1.5})
    assert c.get(2) == ([0.0, 1.0, 0.0, 0.0], None)
    vector, metadata = c.get(3)
    assert vector == [float(np.float32(x)) for x in (0.25, 0.5, -1e-3, 3.0e8)] and metadata == {}
    assert c.get(99) is None
    c.insert(1, [0.0, 0.0, 5.0, 0.0], {"title": "moved"})  # replaces id 1
    assert c.search([0.0, 0.0, 5.0, 0.0], k=1)[0] == SearchResult(1, 0.0, {"title": "moved"})
    assert c.count() == 3
    assert c.delete(1) is True
    assert c.delete(1) is False
    assert c.get(1) is None
    assert 1 not in [h.id for h in c.search([0.0, 0.0, 5.0, 0.0], k=5)]
    info = c.info()
    assert info["count"] == 2 and info["name"] == "items" and info["metric"] == "l2"
    assert set(info) >= {"dimension", "m", "ef_construction", "ef_search", "tombstones", "unindexable"}
    # The items are ordinary records, visible to key-value scans.
    assert len(client.scan(b"_toondb/collections/items/")) == 2


def test_collection_search_toon(client: IpcClient) -> None:
    text = check_search_toon(client)
    assert toon_format.decode(text) == toon.decode(text)


def test_collection_filters(client: IpcClient) -> None:
    c, base = check_filters(client, "f")
    assert {h.id for h in c.search(base[1], k=200, ef_search=200, filter={"lang": {"$ne": "en"}})} == \
        {i for i in range(200) if i % 3 != 0}


def test_collection_list_drop_and_lookup(server: ServerProcess) -> None:
    with server.client() as a, server.client() as b:
        assert a.list_collections() == []
        a.create_collection("beta", dimension=2)
        a.create_collection("alpha", dimension=8, metric="ip", m=8, ef_construction=50, ef_search=32)
        assert b.list_collections() == [
            {"name": "alpha", "dimension": 8, "metric": "ip", "m": 8, "ef_construction": 50, "ef_search": 32,
             "encoding": "f32"},
            {"name": "beta", "dimension": 2, "metric": "cosine", "m": 16, "ef_construction": 100, "ef_search": 64,
             "encoding": "f32"},
        ]
        alpha = b.collection("alpha")
        assert (alpha.dimension, alpha.metric, alpha.m, alpha.ef_construction, alpha.ef_search) == (8, "ip", 8, 50, 32)
        alpha.insert(5, [1.0] * 8)
        a.drop_collection("alpha")
        with pytest.raises(CollectionNotFoundError):
            alpha.search([1.0] * 8)
        with pytest.raises(CollectionNotFoundError):
            b.collection("alpha")
        assert [c["name"] for c in a.list_collections()] == ["beta"]
        assert a.scan(b"_toondb/collections/alpha") == []
        again = a.create_collection("alpha", dimension=3)  # the name is free again, and empty
        assert again.count() == 0 and b.collection("alpha").dimension == 3


def test_collection_writes_are_seen_by_other_connections(server: ServerProcess) -> None:
    with server.client() as writer, server.client() as reader:
        w = writer.create_collection("live", dimension=16, metric="l2")
        r = reader.collection("live")
        base = random_vectors(50, seed=11)
        for i, vector in enumerate(base):
            w.insert(i, vector, {"i": i})
            assert r.search(vector, k=1)[0].id == i  # acknowledged on one connection, found on the other
        assert r.get(7)[1] == {"i": 7}
        assert r.delete(7) is True
        assert w.get(7) is None and len(w) == 49


def test_collection_errors_keep_the_connection(client: IpcClient, server: ServerProcess) -> None:
    c = client.create_collection("e", dimension=4)
    with pytest.raises(CollectionExistsError) as exists:
        client.create_collection("e", dimension=4)
    assert exists.value.code == ErrorCode.COLLECTION_EXISTS and exists.value.server_code == "collection_exists"
    for call in (lambda: client.collection("missing"), lambda: client.drop_collection("missing"),
                 lambda: Collection(client, {**c.info(), "name": "missing"}).search([1, 2, 3, 4])):
        with pytest.raises(CollectionNotFoundError) as missing:
            call()
        assert missing.value.code == ErrorCode.COLLECTION_NOT_FOUND
    with pytest.raises(CollectionError, match="invalid collection name") as bad_name:
        client.create_collection("bad/name", dimension=4)
    assert bad_name.value.code == ErrorCode.COLLECTION_INVALID_ARGUMENT
    with pytest.raises(CollectionError, match="m must be in"):
        client.create_collection("x", dimension=4, m=1000)
    with pytest.raises(ValueError, match="metric"):
        client.create_collection("x", dimension=4, metric="hamming")
    with pytest.raises(ValueError, match="dimension"):
        client.create_collection("x", dimension=0)
    with pytest.raises(CollectionError, match="all zeros") as zero:
        c.insert(1, [0.0, 0.0, 0.0, 0.0])
    assert zero.value.code == ErrorCode.INVALID_VECTOR
    with pytest.raises(CollectionError, match="unknown operator") as bad_filter:
        c.search([1.0, 2.0, 3.0, 4.0], k=5, filter={"year": {"$near": 3}})
    assert bad_filter.value.code == ErrorCode.INVALID_METADATA
    # The server checks dimensions too (a Collection object with a stale dimension).
    stale = Collection(client, {**c.info(), "dimension": 3})
    with pytest.raises(CollectionError) as wrong:
        stale.insert(1, [1.0, 2.0, 3.0])
    assert wrong.value.code == ErrorCode.WRONG_DIMENSION and wrong.value.server_code == "wrong_dimension"
    with pytest.raises(CollectionError) as wrong:
        stale.search([1.0, 2.0, 3.0])
    assert wrong.value.code == ErrorCode.WRONG_DIMENSION
    with pytest.raises(CollectionError, match="k = 200000"):
        c.search([1.0, 2.0, 3.0, 4.0], k=200_000)
    assert c.count() == 0
    assert client.ping() > 0
    assert_serves(server)


def test_malformed_collection_frames(server: ServerProcess, raw: Raw) -> None:
    name = struct.pack("<H", 1) + b"c"
    assert raw.request(0x19, name + struct.pack("<IBIII", 2, 2, 16, 100, 64)) == (OK, b"")
    cases = [
        (0x19, name + struct.pack("<IB", 2, 2)),  # CREATE truncated
        (0x1D, name + struct.pack("<IIB", 4_000_000_000, 2, 0)),  # INSERT count beyond the payload
        (0x1D, name + struct.pack("<IIB", 1, 2, 0) + struct.pack("<Q", 1) + b"\x00" * 4),  # half a vector
        (0x1D, name + struct.pack("<IIB", 1, 2, 1) + struct.pack("<Q", 1) + b"\x00" * 8 + struct.pack("<I", 50)),
        (0x1E, name + b"\x01"),  # DELETE without a whole id
        (0x1F, name + b"\x00" * 9),  # GET with a trailing byte
        (0x20, name + struct.pack("<IIBI", 1, 0, 0, 9) + b"{}"),  # SEARCH filter_len beyond the payload
        (0x20, name + struct.pack("<IIBII", 1, 0, 0, 0, 2) + b"\x00" * 4),  # half a query
        (0x1B, b"x"),  # LIST takes no payload
        (0x1C, struct.pack("<H", 9) + b"c"),  # INFO name_len beyond the payload
    ]
    for op, payload in cases:
        assert raw.error_code(op, payload) == "malformed", (hex(op), payload)
        raw.assert_usable()
    for op, payload in [(0x19, name + struct.pack("<IBIII", 2, 7, 16, 100, 64)),  # unknown metric
                        (0x20, name + struct.pack("<IIBII", 1, 0, 5, 0, 2) + b"\x00" * 8),  # unknown format
                        (0x1D, name + struct.pack("<IIB", 0, 2, 3))]:  # has_metadata must be 0 or 1
        assert raw.error_code(op, payload) == "invalid_argument", (hex(op), payload)
    assert raw.error_code(0x1C, struct.pack("<H", 2) + b"\xc3\x28") == "invalid_argument"  # not UTF-8
    raw.assert_usable()
    with server.client() as c:
        assert c.collection("c").count() == 0
        assert c.collection("c").insert(1, [1.0, 2.0]) > 0
    assert_serves(server)


def test_collections_survive_a_restart(make_server) -> None:
    first = make_server()
    base = random_vectors(120, seed=12)
    with first.client() as c:
        docs = c.create_collection("kept", dimension=16, metric="l2")
        docs.insert_many(list(range(120)), base, [{"i": i} for i in range(120)])
        docs.delete(5)
        before = [[h.id for h in docs.search(q, k=5, ef_search=120)] for q in base[:10]]
    assert first.stop() is not None
    # The server saved the collection's index when it shut down.
    assert os.path.isfile(os.path.join(first.db, "collections", "kept.hnsw"))
    second = make_server()
    with second.client() as c:
        docs = c.collection("kept")
        assert docs.count() == 119 and docs.get(5) is None and docs.get(6)[1] == {"i": 6}
        assert [[h.id for h in docs.search(q, k=5, ef_search=120)] for q in base[:10]] == before
