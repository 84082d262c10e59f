"""IpcClient against a fake server (socketserver on a temporary Unix socket): the request
frames byte for byte as docs/ipc-protocol.md lays them out, reply parsing, the ERROR code →
exception mapping, lost connections, garbage replies, pipelining and sharing a client between
threads. Needs neither the native library nor the real server.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import struct
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest

import toondb
from toondb import (
    DatabaseError,
    IpcClient,
    IpcTransaction,
    ProtocolError,
    ToonDBError,
    TransactionConflictError,
    TransactionError,
)
from toondb._collection import Collection, SearchResult
from toondb.errors import CollectionError, CollectionExistsError, CollectionNotFoundError, ErrorCode

OK, ERROR, VALUE, TXN_ID, ROW, END_STREAM, STATS, PONG = 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87


def frame(op: int, payload: bytes = b"") -> bytes:
    return bytes([op]) + len(payload).to_bytes(4, "little") + payload


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def row_frame(pairs: List[Tuple[bytes, bytes]]) -> bytes:
    body = u32(len(pairs)) + b"".join(u32(len(k)) + k + u32(len(v)) + v for k, v in pairs)
    return frame(ROW, body)


CLOSE = object()  # a responder's answer: close the connection without replying
Responder = Callable[[int, bytes], object]


class MiniStore:
    """A responder implementing enough of the protocol for behaviour tests (transactions are
    not isolated: the fake only checks what the client sends and how it reads replies)."""

    def __init__(self) -> None:
        self.data: Dict[bytes, bytes] = {}
        self.next_txn = 100

    def __call__(self, op: int, payload: bytes) -> object:
        if op == 0x01:  # PUT
            (n,) = struct.unpack_from("<I", payload)
            self.data[payload[4:4 + n]] = payload[4 + n:]
            return frame(OK)
        if op == 0x10:  # KV_PUT
            n = struct.unpack_from("<I", payload, 8)[0]
            self.data[payload[12:12 + n]] = payload[12 + n:]
            return frame(OK)
        if op == 0x11:  # KV_GET
            key = payload[8:]
            return frame(VALUE, b"\x01" + self.data[key] if key in self.data else b"\x00")
        if op in (0x03, 0x12):  # DELETE, KV_DELETE
            self.data.pop(payload if op == 0x03 else payload[8:], None)
            return frame(OK)
        if op == 0x04:
            self.next_txn += 1
            return frame(TXN_ID, u64(self.next_txn))
        if op == 0x05:
            return frame(TXN_ID, u64(5000 + struct.unpack("<Q", payload)[0]))
        if op == 0x06:
            return frame(OK)
        if op == 0x0E:
            return frame(PONG)
        if op == 0x16:  # SCAN_STREAM, prefix mode only
            a_len = struct.unpack_from("<I", payload, 13)[0]
            prefix = payload[17:17 + a_len]
            pairs = sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))
            out = b"".join(row_frame(pairs[i:i + 3]) for i in range(0, len(pairs), 3))
            return out + frame(END_STREAM, u64(len(pairs)))
        return frame(ERROR, f"unknown_opcode: opcode 0x{op:02x}".encode())


class FakeServer:
    """Serves a Unix socket in a thread; every request frame is recorded (``raw`` keeps the
    bytes exactly as received) and answered by ``respond(op, payload)``, which returns the
    bytes to send, CLOSE, or ``(bytes, CLOSE)`` to send them and then close. ``gather=N`` holds the replies until N requests arrived."""

    def __init__(self, respond: Responder, *, on_connect: Optional[Callable[[socket.socket], bool]] = None,
                 gather: int = 0) -> None:
        self.dir = tempfile.mkdtemp(prefix="tdbfake", dir="/tmp")
        self.path = os.path.join(self.dir, "s.sock")
        self.requests: List[Tuple[int, bytes]] = []
        self.raw = bytearray()
        self.lock = threading.Lock()
        self.connections = 0
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                with fake.lock:
                    fake.connections += 1
                if on_connect is not None and not on_connect(conn):
                    return
                reader = conn.makefile("rb")
                held: List[bytes] = []
                while True:
                    head = reader.read(5)
                    if len(head) < 5:
                        return
                    op, size = struct.unpack("<BI", head)
                    payload = reader.read(size)
                    with fake.lock:
                        fake.requests.append((op, payload))
                        fake.raw += head + payload
                    out = respond(op, payload)
                    if out is CLOSE or isinstance(out, tuple):  # (bytes, CLOSE): send, then close
                        if isinstance(out, tuple):
                            conn.sendall(out[0])
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    assert isinstance(out, bytes)
                    if gather and len(fake.requests) < gather:
                        held.append(out)
                        continue
                    if held:
                        out = b"".join(held) + out
                        held.clear()
                    try:
                        conn.sendall(out)
                    except OSError:
                        return

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def client(self, **kwargs: object) -> IpcClient:
        kwargs.setdefault("timeout", 10.0)
        return IpcClient.connect(self.path, **kwargs)  # type: ignore[arg-type]

    def take_raw(self) -> bytes:
        with self.lock:
            data = bytes(self.raw)
            self.raw.clear()
            return data

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def make_server():
    servers: List[FakeServer] = []

    def make(respond: Responder, **kwargs: object) -> FakeServer:
        server = FakeServer(respond, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def store_server(make_server) -> FakeServer:
    return make_server(MiniStore())


# -- request frames, byte for byte ---------------------------------------------------------------


def scripted(replies: Dict[int, bytes]) -> Responder:
    return lambda op, payload: replies[op]


ALL_REPLIES = {
    0x01: frame(OK), 0x03: frame(OK), 0x04: frame(TXN_ID, u64(7)), 0x05: frame(TXN_ID, u64(99)),
    0x06: frame(OK), 0x07: frame(VALUE, b"result[0]:"), 0x08: frame(OK), 0x09: frame(OK),
    0x0C: frame(OK, u64(1234)), 0x0D: frame(STATS, b'{"role":"standalone","requests_total":3}'),
    0x0E: frame(PONG), 0x10: frame(OK), 0x11: frame(VALUE, b"\x01val"), 0x12: frame(OK),
    0x13: frame(OK), 0x14: frame(VALUE, b"\x00"), 0x15: frame(OK),
    0x16: frame(END_STREAM, u64(0)), 0x17: frame(OK, u32(2)),
    0x18: frame(VALUE, b"\x01\x00t\x02\x00\x02\x00id\x00\x00\x04\x00name\x03\x01"),
}


@pytest.mark.parametrize("call, expected", [
    (lambda c: c.put(b"k", b"v"), b"\x01\x06\x00\x00\x00" b"\x01\x00\x00\x00" b"kv"),
    (lambda c: c.get(b"key"), b"\x11\x0b\x00\x00\x00" + b"\x00" * 8 + b"key"),
    (lambda c: c.delete(b"k"), b"\x03\x01\x00\x00\x00k"),
    (lambda c: c.put_path(["a", "bc"], b"v"), b"\x09\x0a\x00\x00\x00" b"\x02\x00" b"\x01\x00a" b"\x02\x00bc" b"v"),
    (lambda c: c.get_path(["a"]), b"\x14\x0d\x00\x00\x00" + b"\x00" * 8 + b"\x01\x00\x01\x00a"),
    (lambda c: c.delete_path("a/b"), b"\x15\x10\x00\x00\x00" + b"\x00" * 8 + b"\x02\x00\x01\x00a\x01\x00b"),
    (lambda c: c.scan(b"p"),
     b"\x16\x16\x00\x00\x00" + b"\x00" * 8 + b"\x01" b"\x00\x00\x00\x00" b"\x01\x00\x00\x00p" b"\x00\x00\x00\x00"),
    (lambda c: list(c.scan_range(b"a", b"c", limit=5)),
     b"\x16\x17\x00\x00\x00" + b"\x00" * 8 + b"\x00" b"\x05\x00\x00\x00" b"\x01\x00\x00\x00a" b"\x01\x00\x00\x00c"),
    (lambda c: c.begin_transaction(), b"\x04\x00\x00\x00\x00"),
    (lambda c: c.commit(7), b"\x05\x08\x00\x00\x00" b"\x07" + b"\x00" * 7),
    (lambda c: c.abort(7), b"\x06\x08\x00\x00\x00" b"\x07" + b"\x00" * 7),
    (lambda c: c.write_batch([(b"k", b"v"), (b"d", None)]),
     b"\x17\x1d\x00\x00\x00" + b"\x00" * 8 + b"\x02\x00\x00\x00"
     b"\x00\x01\x00\x00\x00k\x01\x00\x00\x00v" b"\x01\x01\x00\x00\x00d"),
    (lambda c: c.checkpoint(), b"\x0c\x00\x00\x00\x00"),
    (lambda c: c.stats(), b"\x0d\x00\x00\x00\x00"),
    (lambda c: c.ping(), b"\x0e\x00\x00\x00\x00"),
    (lambda c: c.query("users/").limit(10).offset(2).select(["email", "name"]).execute(),
     b"\x07\x1f\x00\x00\x00" b"\x06\x00users/" b"\x0a\x00\x00\x00" b"\x02\x00\x00\x00"
     b"\x02\x00" b"\x05\x00email" b"\x04\x00name"),
    (lambda c: c.query("p").execute(), b"\x07\x0d\x00\x00\x00\x01\x00p" + b"\x00" * 10),
    (lambda c: c.create_table("t", [("id", "int64", False), ("name", "Text")]),
     b"\x08\x13\x00\x00\x00" b"\x01\x00t" b"\x02\x00" b"\x02\x00id\x00\x00" b"\x04\x00name\x03\x01"),
    (lambda c: c.describe_table("t"), b"\x18\x03\x00\x00\x00\x01\x00t"),
], ids=["put", "get", "delete", "put_path", "get_path", "delete_path", "scan", "scan_range", "begin",
        "commit", "abort", "write_batch", "checkpoint", "stats", "ping", "query", "query_plain",
        "create_table", "describe_table"])
def test_request_frames_are_byte_exact(make_server, call, expected) -> None:
    server = make_server(scripted(ALL_REPLIES))
    with server.client() as client:
        call(client)
        assert server.take_raw() == expected


def test_transaction_frames_carry_the_txn_id(make_server) -> None:
    server = make_server(scripted(ALL_REPLIES))
    with server.client() as client:
        txn = client.transaction()
        assert isinstance(txn, IpcTransaction) and txn.id == 7
        server.take_raw()
        tid = b"\x07" + b"\x00" * 7
        txn.put(b"k", b"v")
        assert server.take_raw() == b"\x10\x0e\x00\x00\x00" + tid + b"\x01\x00\x00\x00kv"
        assert txn.get(b"k") == b"val"
        assert server.take_raw() == b"\x11\x09\x00\x00\x00" + tid + b"k"
        txn.delete(b"k")
        assert server.take_raw() == b"\x12\x09\x00\x00\x00" + tid + b"k"
        txn.put_path(["a"], b"v")
        assert server.take_raw() == b"\x13\x0e\x00\x00\x00" + tid + b"\x01\x00\x01\x00av"
        assert txn.get_path("a") is None
        assert server.take_raw() == b"\x14\x0d\x00\x00\x00" + tid + b"\x01\x00\x01\x00a"
        txn.delete_path(["a"])
        assert server.take_raw() == b"\x15\x0d\x00\x00\x00" + tid + b"\x01\x00\x01\x00a"
        assert txn.scan("p") == []
        assert server.take_raw() == b"\x16\x16\x00\x00\x00" + tid + b"\x01" + u32(0) + u32(1) + b"p" + u32(0)
        assert txn.write_batch([(b"k", b"v")]) == 2
        assert server.take_raw() == b"\x17\x17\x00\x00\x00" + tid + u32(1) + b"\x00" + u32(1) + b"k" + u32(1) + b"v"
        assert txn.commit() == 99
        assert server.take_raw() == b"\x05\x08\x00\x00\x00" + tid
        assert not txn.active
        with pytest.raises(TransactionError, match="already committed"):
            txn.put(b"k", b"v")
        assert server.take_raw() == b""  # refused without a request


# -- replies ---------------------------------------------------------------------------------------


def test_replies_are_parsed(make_server) -> None:
    server = make_server(scripted(ALL_REPLIES))
    with server.client() as client:
        assert client.get(b"k") == b"val"
        assert client.get_path(["a"]) is None
        assert client.checkpoint() == 1234
        assert client.stats() == {"role": "standalone", "requests_total": 3}
        assert client.begin_transaction() == 7
        assert client.commit(7) == 99
        assert client.write_batch([(b"a", b"1"), (b"b", None)]) == 2
        assert client.describe_table("t") == {"name": "t", "columns": [
            {"name": "id", "type": "Int64", "nullable": False},
            {"name": "name", "type": "Text", "nullable": True},
        ]}
        assert 0 <= client.ping() < 5
        assert client.query("x").execute() == "result[0]:"
        assert client.query("x").to_list() == []


def test_found_empty_value_is_not_missing(store_server) -> None:
    with store_server.client() as client:
        client.put(b"empty", b"")
        assert client.get(b"empty") == b""
        assert client.get(b"missing") is None


def test_streamed_scan_reads_every_batch(store_server) -> None:
    with store_server.client() as client:
        pairs = {f"s/{i:03d}".encode(): f"v{i}".encode() for i in range(10)}
        client.put(b"t/other", b"x")
        for key, value in pairs.items():
            client.put(key, value)
        assert client.scan("s/") == [{"key": k, "value": v} for k, v in sorted(pairs.items())]
        assert list(client.iter_scan(b"s/")) == sorted(pairs.items())
        assert client.scan(b"none/") == []


def test_scan_iteration_interleaves_with_other_requests(store_server) -> None:
    with store_server.client() as client:
        for i in range(10):
            client.put(f"s/{i}".encode(), b"v")
        iterator = client.iter_scan(b"s/")
        first = next(iterator)
        client.put(b"other", b"x")  # reads the rest of the stream into the iterator's buffer
        assert client.get(b"other") == b"x"
        assert [first, *iterator] == [(f"s/{i}".encode(), b"v") for i in range(10)]
        abandoned = client.iter_scan(b"s/")
        next(abandoned)
        abandoned.close()
        assert client.get(b"s/3") == b"v"  # the abandoned stream was drained first


def test_end_stream_count_mismatch_is_a_protocol_error(make_server) -> None:
    server = make_server(lambda op, p: row_frame([(b"k", b"v")]) + frame(END_STREAM, u64(2)))
    with server.client() as client:
        with pytest.raises(ProtocolError, match="END_STREAM"):
            client.scan(b"")
        assert client.closed


def test_error_during_stream_raises_from_the_iterator(make_server) -> None:
    server = make_server(lambda op, p: row_frame([(b"k", b"v")]) + frame(ERROR, b"storage: disk on fire"))
    with server.client() as client:
        iterator = client.iter_scan(b"")
        assert next(iterator) == (b"k", b"v")
        with pytest.raises(DatabaseError, match="storage: disk on fire"):
            next(iterator)
        assert not client.closed


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, cls", [
    ("conflict", TransactionConflictError),
    ("unknown_transaction", TransactionError),
    ("transaction", TransactionError),
    ("too_many_transactions", TransactionError),
    ("malformed", ProtocolError),
    ("unknown_opcode", ProtocolError),
    ("frame_too_large", ProtocolError),
    ("invalid_argument", DatabaseError),
    ("key_too_large", DatabaseError),
    ("value_too_large", DatabaseError),
    ("result_too_large", DatabaseError),
    ("not_found", DatabaseError),
    ("already_exists", DatabaseError),
    ("not_implemented", DatabaseError),
    ("busy", DatabaseError),
    ("shutting_down", DatabaseError),
    ("storage", DatabaseError),
    ("some_future_code", DatabaseError),
])
def test_error_codes_map_to_exceptions(make_server, code, cls) -> None:
    text = f"{code}: the server's own words, with: colons"
    server = make_server(lambda op, p: frame(ERROR, text.encode()) if op == 0x01 else frame(PONG))
    with server.client() as client:
        with pytest.raises(cls) as info:
            client.put(b"k", b"v")
        assert type(info.value) is cls
        assert str(info.value) == text and info.value.message == text
        assert info.value.server_code == code
        if cls is not TransactionConflictError and issubclass(cls, TransactionError):
            assert not isinstance(info.value, TransactionConflictError)
        if code in ("frame_too_large", "busy"):
            assert client.closed  # the server closes the connection after these
            with pytest.raises(toondb.ConnectionError):
                client.ping()
        else:
            assert not client.closed
            client.ping()  # still usable


def test_conflict_error_code_and_transaction_state(make_server) -> None:
    replies = dict(ALL_REPLIES)
    replies[0x05] = frame(ERROR, b"conflict: key k was written by a later commit")
    server = make_server(scripted(replies))
    with server.client() as client:
        txn = client.transaction()
        txn.put(b"k", b"v")
        with pytest.raises(TransactionConflictError) as info:
            txn.commit()
        assert info.value.code == toondb.ErrorCode.CONFLICT
        assert not txn.active
        with pytest.raises(TransactionError, match="already aborted"):
            txn.get(b"k")


def test_transaction_context_manager_commits_or_aborts(make_server) -> None:
    server = make_server(scripted(ALL_REPLIES))
    with server.client() as client:
        with client.transaction() as txn:
            txn.put(b"k", b"v")
        assert [op for op, _ in server.requests][-1] == 0x05
        with pytest.raises(RuntimeError, match="boom"):
            with client.transaction() as txn:
                txn.put(b"k", b"v")
                raise RuntimeError("boom")
        assert [op for op, _ in server.requests][-1] == 0x06
        assert not txn.active


def test_eof_mid_reply_is_a_connection_error_naming_the_path(make_server) -> None:
    server = make_server(lambda op, p: (frame(VALUE, b"\x01abcdef")[:-3], CLOSE))  # truncated reply, then EOF
    with server.client() as client:
        with pytest.raises(toondb.ConnectionError) as info:
            client.get(b"k")
        assert server.path in str(info.value)
        assert isinstance(info.value, ConnectionError)  # also the builtin
        assert client.closed


def test_server_closing_before_the_reply(make_server) -> None:
    server = make_server(lambda op, p: CLOSE)
    with server.client() as client:
        with pytest.raises(toondb.ConnectionError, match="closed the connection") as info:
            client.put(b"k", b"v")
        assert server.path in str(info.value)


def test_connect_to_nothing_names_the_path(tmp_path) -> None:
    path = str(tmp_path / "nobody.sock")
    with pytest.raises(toondb.ConnectionError) as info:
        IpcClient.connect(path, timeout=2)
    assert path in str(info.value)


def test_timeout_closes_the_client(make_server) -> None:
    server = make_server(lambda op, p: b"")  # never answers
    client = server.client(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(toondb.ConnectionError, match="timed out") as info:
        client.ping()
    assert time.monotonic() - started < 5
    assert server.path in str(info.value) and client.closed


@pytest.mark.parametrize("reply, match", [
    (b"\x42\x00\x00\x00\x00", "opcode 0x42"),  # not a reply opcode
    (frame(OK), "expected a VALUE reply, got OK"),
    (frame(VALUE, b""), "found byte"),
    (frame(VALUE, b"\x07abc"), "found byte"),
    (frame(ERROR, b"\xff\xfe not utf-8"), "not UTF-8"),
    (frame(ERROR, b"no code here"), "code"),
    (b"\x82\xff\xff\xff\x7f", "payload"),  # absurd length
])
def test_garbage_replies_are_protocol_errors(make_server, reply, match) -> None:
    server = make_server(lambda op, p: reply)
    with server.client() as client:
        with pytest.raises(ProtocolError, match=match):
            client.get(b"k")
        assert client.closed  # the stream can no longer be trusted


def test_bad_fixed_size_replies(make_server) -> None:
    replies = dict(ALL_REPLIES)
    replies[0x0C] = frame(OK, b"\x01\x02")
    replies[0x0D] = frame(STATS, b"not json")
    replies[0x07] = frame(VALUE, b"result[2]: oops")
    for call, match in ((lambda c: c.checkpoint(), "u64"), (lambda c: c.stats(), "JSON"),
                        (lambda c: c.query("p").to_list(), "TOON|result")):
        server = make_server(scripted(replies))
        with server.client() as client:
            with pytest.raises(ProtocolError, match=match):
                call(client)


def test_busy_server_refusal(make_server) -> None:
    def refuse(conn: socket.socket) -> bool:
        conn.sendall(frame(ERROR, b"busy: 100 clients connected"))
        conn.shutdown(socket.SHUT_RDWR)
        return False

    server = make_server(MiniStore(), on_connect=refuse)
    client = server.client()
    time.sleep(0.1)
    with pytest.raises(DatabaseError, match="busy: 100 clients") as info:
        client.put(b"k", b"v")
    assert not isinstance(info.value, (ProtocolError, TransactionError))
    assert client.closed


# -- client-side checks ----------------------------------------------------------------------------


def test_oversized_request_is_refused_before_sending(store_server) -> None:
    with store_server.client(max_frame_size=100) as client:
        with pytest.raises(ProtocolError, match="frame_too_large"):
            client.put(b"k", b"x" * 200)
        with pytest.raises(ProtocolError, match="frame_too_large"):
            client.put_many([(b"a", b"1"), (b"b", b"x" * 200)], atomic=False)
        assert not client.closed
        assert client.get(b"b") is None
        client.put(b"k", b"small")
        assert client.get(b"k") == b"small"


def test_argument_validation(store_server) -> None:
    with store_server.client() as client:
        with pytest.raises(TypeError):
            client.put("k", b"v")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            client.put_path(42, b"v")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            client.put_path([], b"v")
        with pytest.raises(ValueError):
            client.put_path(["x" * 70000], b"v")
        with pytest.raises(ValueError):
            client.put_path(["\ud800"], b"v")
        with pytest.raises(ValueError):
            list(client.scan_range(limit=-1))
        with pytest.raises(ValueError):
            client.create_table("t", [("c", "decimal")])
        query = client.query("users/")
        assert query.limit(5) is query and query.offset(1) is query and query.select(["a"]) is query
        for bad in (lambda: query.limit(-1), lambda: query.offset(-3), lambda: query.limit(2 ** 32),
                    lambda: query.select([""])):
            with pytest.raises(ValueError):
                bad()
        with pytest.raises(TypeError):
            query.limit("5")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            query.select([1])  # type: ignore[list-item]
        assert store_server.requests == []  # nothing reached the server


def test_close_is_idempotent_and_context_managed(store_server) -> None:
    client = store_server.client()
    with client as same:
        assert same is client
        same.put(b"k", b"v")
    assert client.closed
    client.close()
    with pytest.raises(toondb.ConnectionError, match="closed"):
        client.get(b"k")
    assert "closed" in repr(client)


# -- pipelining and threads ------------------------------------------------------------------------


def test_get_many_pipelines_requests(make_server) -> None:
    store = MiniStore()
    for i in range(20):
        store.data[f"k{i}".encode()] = f"v{i}".encode()
    # The fake answers nothing until 21 requests arrived: a client waiting for each reply
    # before the next request would time out here.
    server = make_server(store, gather=21)
    with server.client(timeout=5) as client:
        keys = [f"k{i}".encode() for i in range(20)] + [b"missing"]
        assert client.get_many(keys) == [f"v{i}".encode() for i in range(20)] + [None]
        assert [payload[8:] for _, payload in server.requests] == keys  # sent in order


def test_large_pipelines_keep_order(store_server) -> None:
    with store_server.client() as client:
        pairs = [(f"key{i:05d}".encode(), os.urandom(i % 50)) for i in range(5000)]
        assert client.put_many(pairs, atomic=False) == 5000
        keys = [k for k, _ in pairs]
        assert client.get_many(keys[::-1]) == [v for _, v in pairs][::-1]
        assert [op for op, _ in store_server.requests[:5000]] == [0x01] * 5000


def test_pipeline_error_surfaces_after_its_window(make_server) -> None:
    store = MiniStore()

    def respond(op: int, payload: bytes) -> object:
        if op == 0x11 and payload[8:] == b"bad":
            return frame(ERROR, b"key_too_large: key of 70000 bytes")
        return store(op, payload)

    server = make_server(respond)
    with server.client() as client:
        client.put(b"a", b"1")
        with pytest.raises(DatabaseError, match="key_too_large"):
            client.get_many([b"a", b"bad", b"a"])
        assert client.get(b"a") == b"1"  # every reply of the window was read: still in sync


def test_threads_share_one_client(store_server) -> None:
    errors: List[BaseException] = []
    with store_server.client() as client:
        def work(n: int) -> None:
            try:
                for i in range(200):
                    key = f"t{n}/{i}".encode()
                    client.put(key, key * 2)
                    assert client.get(key) == key * 2
                    if i % 50 == 0:
                        assert len(client.scan(f"t{n}/")) == i + 1
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert len(client.scan(b"t")) == 6 * 200


def test_close_from_another_thread_wakes_a_blocked_request(make_server) -> None:
    server = make_server(lambda op, p: b"")  # never answers
    client = server.client(timeout=30)
    caught: List[BaseException] = []

    def blocked() -> None:
        try:
            client.ping()
        except BaseException as error:  # noqa: BLE001
            caught.append(error)

    thread = threading.Thread(target=blocked)
    thread.start()
    time.sleep(0.2)
    client.close()
    thread.join(10)
    assert not thread.is_alive()
    assert caught and isinstance(caught[0], toondb.ConnectionError)


# -- vector collections ----------------------------------------------------------------------------

C_INFO = {"name": "c", "dimension": 2, "metric": "l2", "m": 16, "ef_construction": 100, "ef_search": 64}
C_NAME = b"\x01\x00c"


def hit_list(hits: List[Tuple[int, float, bytes]]) -> bytes:
    return u32(len(hits)) + b"".join(struct.pack("<QfI", i, d, len(m)) + m for i, d, m in hits)


COLLECTION_REPLIES = {
    0x19: frame(OK), 0x1A: frame(OK),
    0x1B: frame(VALUE, json.dumps([C_INFO]).encode()),
    0x1C: frame(VALUE, json.dumps({**C_INFO, "count": 1, "tombstones": 0, "unindexable": 0}).encode()),
    0x1D: frame(OK, u64(77)),
    0x1E: frame(OK, b"\x01"),
    0x1F: frame(VALUE, b"\x01" + b"\x01\x00\x00\x00" + u32(2) + struct.pack("<2f", 1.5, -2) + b'{"a":1}'),
    0x20: frame(VALUE, hit_list([(7, 0.25, b'{"t":"x"}'), (2**64 - 1, 1.5, b"")])),
}


def collection_replies(op: int, payload: bytes) -> bytes:
    if op == 0x20 and payload[len(C_NAME) + 8] == 1:  # format 1: TOON text
        return frame(VALUE, "result[1]{id,distance,t}:\n  7,0.25,x".encode())
    return COLLECTION_REPLIES[op]


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


@pytest.mark.parametrize("call, expected", [
    (lambda c: c.create_collection("c", 2, "l2"),
     b"\x19" + u32(20) + C_NAME + u32(2) + b"\x02" + u32(16) + u32(100) + u32(64)),
    (lambda c: c.create_collection("c", 768, metric="ip", m=32, ef_construction=200, ef_search=50),
     b"\x19" + u32(20) + C_NAME + u32(768) + b"\x01" + u32(32) + u32(200) + u32(50)),
    (lambda c: c.create_collection("c", 3), b"\x19" + u32(20) + C_NAME + u32(3) + b"\x00" + u32(16) + u32(100) + u32(64)),
    (lambda c: c.drop_collection("c"), b"\x1a" + u32(3) + C_NAME),
    (lambda c: c.list_collections(), b"\x1b" + u32(0)),
    (lambda c: c.collection("c"), b"\x1c" + u32(3) + C_NAME),
    (lambda c: Collection(c, C_INFO).insert(5, [1.0, -2.0], {"a": 1}),
     b"\x1d" + u32(39) + C_NAME + u32(1) + u32(2) + b"\x01" + u64(5) + f32(1, -2) + u32(7) + b'{"a":1}'),
    (lambda c: Collection(c, C_INFO).insert(5, [1.0, -2.0]),
     b"\x1d" + u32(28) + C_NAME + u32(1) + u32(2) + b"\x00" + u64(5) + f32(1, -2)),
    (lambda c: Collection(c, C_INFO).insert_many([1, 2], np.array([[1, 2], [3, 4]], dtype=np.float64),
                                                 [None, {"x": 1}]),
     b"\x1d" + u32(59) + C_NAME + u32(2) + u32(2) + b"\x01" + u64(1) + u64(2) + f32(1, 2, 3, 4)
     + u32(0) + u32(7) + b'{"x":1}'),
    (lambda c: Collection(c, C_INFO).insert_many([9], [[0.5, 0.25]]),
     b"\x1d" + u32(28) + C_NAME + u32(1) + u32(2) + b"\x00" + u64(9) + f32(0.5, 0.25)),
    (lambda c: Collection(c, C_INFO).delete(2**64 - 1), b"\x1e" + u32(11) + C_NAME + u64(2**64 - 1)),
    (lambda c: Collection(c, C_INFO).get(3), b"\x1f" + u32(11) + C_NAME + u64(3)),
    (lambda c: Collection(c, C_INFO).search([1.0, 0.5], k=3),
     b"\x20" + u32(28) + C_NAME + u32(3) + u32(0) + b"\x00" + u32(0) + u32(2) + f32(1, 0.5)),
    (lambda c: Collection(c, C_INFO).search_toon(np.array([1, 0.5]), k=10, ef_search=200, filter={"lang": "en"}),
     b"\x20" + u32(41) + C_NAME + u32(10) + u32(200) + b"\x01" + u32(13) + b'{"lang":"en"}' + u32(2) + f32(1, 0.5)),
], ids=["create", "create_ip", "create_cosine", "drop", "list", "collection", "insert", "insert_bare",
        "insert_many_numpy", "insert_many_bare", "delete", "get", "search", "search_toon"])
def test_collection_frames_are_byte_exact(make_server, call, expected) -> None:
    server = make_server(collection_replies)
    with server.client() as client:
        call(client)
        assert server.take_raw() == expected


def test_collection_replies_are_parsed(make_server) -> None:
    server = make_server(collection_replies)
    with server.client() as client:
        created = client.create_collection("c", 2, "l2", ef_search=10)
        assert isinstance(created, Collection) and (created.name, created.dimension, created.ef_search) == ("c", 2, 10)
        found = client.collection("c")
        assert (found.name, found.dimension, found.metric, found.m, found.ef_construction, found.ef_search) == \
            ("c", 2, "l2", 16, 100, 64)
        assert found.count() == 1 and len(found) == 1
        assert client.list_collections() == [C_INFO]
        assert found.insert(1, [1.0, 2.0]) == 77
        assert found.delete(1) is True
        assert found.get(1) == ([1.5, -2.0], {"a": 1})
        assert found.search([1.0, 2.0]) == [SearchResult(7, 0.25, {"t": "x"}), SearchResult(2**64 - 1, 1.5, None)]
        assert found.search_toon([1.0, 2.0]) == "result[1]{id,distance,t}:\n  7,0.25,x"
        assert client.drop_collection("c") is None
        assert not client.closed


def test_collection_get_missing_and_delete_absent(make_server) -> None:
    replies = dict(COLLECTION_REPLIES)
    replies[0x1E] = frame(OK, b"\x00")
    replies[0x1F] = frame(VALUE, b"\x00")
    server = make_server(scripted(replies))
    with server.client() as client:
        c = Collection(client, C_INFO)
        assert c.delete(1) is False
        assert c.get(1) is None


@pytest.mark.parametrize("code, cls, number", [
    ("collection_not_found", CollectionNotFoundError, ErrorCode.COLLECTION_NOT_FOUND),
    ("collection_exists", CollectionExistsError, ErrorCode.COLLECTION_EXISTS),
    ("wrong_dimension", CollectionError, ErrorCode.WRONG_DIMENSION),
    ("invalid_vector", CollectionError, ErrorCode.INVALID_VECTOR),
    ("invalid_metadata", CollectionError, ErrorCode.INVALID_METADATA),
    ("corrupt_record", CollectionError, ErrorCode.CORRUPT_RECORD),
    ("invalid_argument", CollectionError, ErrorCode.COLLECTION_INVALID_ARGUMENT),
    ("storage", DatabaseError, None),
    ("result_too_large", DatabaseError, None),
])
def test_collection_error_codes_map_to_exceptions(make_server, code, cls, number) -> None:
    text = f"{code}: the server's words"
    server = make_server(lambda op, p: frame(ERROR, text.encode()) if op != 0x0E else frame(PONG))
    with server.client() as client:
        c = Collection(client, C_INFO)
        for call in (lambda: client.create_collection("c", 2), lambda: client.collection("c"),
                     lambda: client.drop_collection("c"), lambda: client.list_collections(),
                     lambda: c.insert(1, [1.0, 2.0]), lambda: c.delete(1), lambda: c.get(1),
                     lambda: c.search([1.0, 2.0]), lambda: c.search_toon([1.0, 2.0])):
            with pytest.raises(cls) as info:
                call()
            assert type(info.value) is cls
            assert str(info.value) == text and info.value.server_code == code and info.value.code == number
        assert not client.closed
        client.ping()


def test_collection_codes_outside_collection_requests(make_server) -> None:
    """The collection codes map the same everywhere; invalid_argument stays a DatabaseError
    outside collection requests."""
    replies = {0x01: frame(ERROR, b"invalid_argument: empty key"), 0x03: frame(ERROR, b"collection_not_found: x")}
    server = make_server(scripted(replies))
    with server.client() as client:
        with pytest.raises(DatabaseError) as info:
            client.put(b"", b"v")
        assert type(info.value) is DatabaseError and info.value.code == ErrorCode.INVALID_ARGUMENT
        with pytest.raises(CollectionNotFoundError):
            client.delete(b"k")


@pytest.mark.parametrize("op, reply, match", [
    (0x20, frame(VALUE, u32(2) + struct.pack("<QfI", 1, 0.5, 0)), "hit list"),
    (0x20, frame(VALUE, hit_list([(1, 0.5, b"{}")]) + b"x"), "does not match"),
    (0x1E, frame(OK, b"\x01\x00"), "existed"),
    (0x1E, frame(OK, b"\x02"), "existed"),
    (0x1D, frame(OK, b""), "u64"),
    (0x1C, frame(VALUE, b"[1]"), "JSON object"),
    (0x1B, frame(VALUE, b'{"a":1}'), "JSON array"),
    (0x1B, frame(VALUE, b"[1]"), "not a JSON object"),
    (0x1F, frame(VALUE, b"\x05"), "found byte"),
])
def test_bad_collection_replies_are_protocol_errors(make_server, op, reply, match) -> None:
    replies = dict(COLLECTION_REPLIES)
    replies[op] = reply
    server = make_server(scripted(replies))
    calls = {0x20: lambda c: Collection(c, C_INFO).search([1.0, 2.0]), 0x1E: lambda c: Collection(c, C_INFO).delete(1),
             0x1D: lambda c: Collection(c, C_INFO).insert(1, [1.0, 2.0]), 0x1C: lambda c: c.collection("c"),
             0x1B: lambda c: c.list_collections(), 0x1F: lambda c: Collection(c, C_INFO).get(1)}
    with server.client() as client:
        with pytest.raises(ProtocolError, match=match):
            calls[op](client)
        assert client.closed


def test_collection_arguments_are_checked_before_sending(store_server) -> None:
    with store_server.client(max_frame_size=1000) as client:
        c = Collection(client, C_INFO)
        with pytest.raises(ValueError, match="metric"):
            client.create_collection("c", 2, metric="hamming")
        with pytest.raises(ValueError, match="dimension"):
            client.create_collection("c", 0)
        with pytest.raises(ValueError, match="at most"):
            client.create_collection("c", 2**32)
        with pytest.raises(TypeError):
            client.create_collection(b"c", 2)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            client.drop_collection(None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="2 components"):
            c.insert(1, [1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="k must"):
            c.search([1.0, 2.0], k=0)
        with pytest.raises(ValueError, match="at most"):
            c.search([1.0, 2.0], k=2**32)
        with pytest.raises(ProtocolError, match="frame_too_large"):
            c.insert_many(list(range(100)), np.ones((100, 2), dtype=np.float32))  # 1,611 bytes
        assert store_server.requests == []  # nothing reached the server
        assert not client.closed
        client.put(b"k", b"v")


def test_exports() -> None:
    assert toondb.IpcClient is IpcClient and toondb.Query.__name__ == "Query"
    assert issubclass(TransactionConflictError, TransactionError)
    assert issubclass(ProtocolError, ToonDBError)
