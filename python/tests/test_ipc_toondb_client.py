"""ToonDB's own Python IPC client, unchanged, against our server.

The client is ``sochdb/ipc_client.py`` from ToonDB's published SDK (the ``sochdb`` wheel,
version 0.8.3, installed without dependencies by ``scripts/python-venv.sh test``). Only its two
modules are loaded (``ipc_client`` and the ``errors`` it imports), under a private package
name, so the SDK's other imports (gRPC and friends) are not needed. Nothing in it is patched.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest


def load_original_client() -> types.ModuleType:
    spec = importlib.util.find_spec("sochdb")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("ToonDB's SDK (the `sochdb` wheel) is not installed: run scripts/python-venv.sh .venv test",
                    pytrace=False)
    directory = Path(list(spec.submodule_search_locations)[0])
    package = types.ModuleType("original_toondb")
    package.__path__ = [str(directory)]
    sys.modules["original_toondb"] = package
    for name in ("errors", "ipc_client"):
        module_spec = importlib.util.spec_from_file_location(f"original_toondb.{name}", directory / f"{name}.py")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    return sys.modules["original_toondb.ipc_client"]


@pytest.fixture(scope="module")
def original():
    return load_original_client()


@pytest.fixture
def legacy(original, server):
    client = original.IpcClient.connect(server.socket_path, timeout=30)
    yield client
    client.close()


def test_key_value(legacy):
    assert legacy.ping() >= 0
    legacy.put(b"greeting", b"hello")
    assert legacy.get(b"greeting") == b"hello"
    assert legacy.get(b"missing") is None
    legacy.delete(b"greeting")
    assert legacy.get(b"greeting") is None


def test_paths_and_scan(legacy):
    legacy.put_path(["users", "alice", "email"], b"alice@example.com")
    legacy.put_path(["users", "alice", "name"], b"Alice")
    legacy.put_path(["users", "bob", "name"], b"Bob")
    assert legacy.get_path(["users", "alice", "name"]) == b"Alice"
    assert legacy.get_path(["users", "carol", "name"]) is None
    assert legacy.scan("users/") == [
        {"key": b"users/alice/email", "value": b"alice@example.com"},
        {"key": b"users/alice/name", "value": b"Alice"},
        {"key": b"users/bob/name", "value": b"Bob"},
    ]


def test_transactions(legacy, original, server):
    legacy.put(b"k", b"v")  # LSN 1
    txn = legacy.begin_transaction()
    assert txn > 0
    # ToonDB's protocol has no writes inside a transaction (our extensions add them), so this
    # one is read-only: its commit timestamp is the snapshot it read.
    assert legacy.commit(txn) == 1
    other = legacy.begin_transaction()
    legacy.abort(other)
    with pytest.raises(original.TransactionError, match="already aborted"):
        legacy.commit(other)


def test_query_returns_toon_text(legacy):
    legacy.put_path(["users", "alice", "name"], b"Alice")
    legacy.put_path(["users", "bob", "name"], b"Bob")
    text = legacy.query("users/", limit=1, columns=["name"])
    assert text == "result[1]{name}:\n  Alice"


def test_admin(legacy):
    legacy.put(b"k", b"v")
    legacy.checkpoint()  # ToonDB's client expects OK; ours carries the LSN in it
    stats = legacy.stats()
    for key in ("connections_total", "connections_active", "requests_total", "requests_success", "requests_error",
                "bytes_received", "bytes_sent", "uptime_secs", "memtable_size_bytes", "wal_size_bytes",
                "active_transactions"):
        assert key in stats, key
    assert stats["connections_active"] >= 1
    json.dumps(stats)


def test_create_table(legacy, original):
    legacy.create_table("users", [{"name": "id", "type": 1, "nullable": False}, {"name": "bio", "type": 3, "nullable": True}])
    with pytest.raises(original.DatabaseError, match="already exists"):
        legacy.create_table("users", [{"name": "id", "type": 1}])
