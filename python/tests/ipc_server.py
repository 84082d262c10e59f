"""A real `toondb-server` process per test, for the IPC tests (conftest.py registers the
fixtures below).

A missing or non-working server binary FAILS the tests that use it (build it with
``swift build --product toondb-server`` or point TOONDB_SERVER at one); they are never skipped.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence

import pytest

import toondb
from toondb import IpcClient

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / ".build" / "debug" / "toondb-server"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0

OK, ERROR, VALUE, TXN_ID, ROW, END_STREAM, STATS, PONG = 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87


def server_binary() -> str:
    binary = os.environ.get("TOONDB_SERVER") or str(DEFAULT_BINARY)
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        pytest.fail(
            f"toondb-server binary not found or not executable: {binary}. Build it with "
            "`swift build --product toondb-server`, or point TOONDB_SERVER at one.",
            pytrace=False,
        )
    return binary


class ServerProcess:
    """One toondb-server process on ``db`` listening on ``socket_path``."""

    def __init__(self, db: Path, socket_path: str, log: Path, extra: Sequence[str] = ()) -> None:
        self.db = db
        self.socket_path = socket_path
        self.log_path = log
        self.extra = list(extra)
        self.process: Optional[subprocess.Popen] = None

    def command(self) -> List[str]:
        return [server_binary(), "--db", str(self.db), "--socket", self.socket_path, *self.extra]

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self) -> "ServerProcess":
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no socket file yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                pytest.fail(f"toondb-server exited with code {code} before serving {self.socket_path}; "
                            f"command: {' '.join(self.command())}; output:\n{self.output()}", pytrace=False)
            if os.path.exists(self.socket_path):
                try:
                    with IpcClient.connect(self.socket_path, timeout=5) as client:
                        client.ping()
                    return self
                except toondb.ToonDBError as error:
                    last_error = str(error)
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"toondb-server did not answer on {self.socket_path} within {START_TIMEOUT} s "
                    f"({last_error}); output:\n{self.output()}", pytrace=False)

    def stop(self, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """SIGTERM, then waits; returns the exit code (None if it had to be killed)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self.process = None
        return process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def client(self, timeout: float = 30.0) -> IpcClient:
        return IpcClient.connect(self.socket_path, timeout=timeout)


@pytest.fixture
def socket_dir() -> Iterator[str]:
    # Unix socket paths are limited to ~107 bytes: pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="tdb", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_server(tmp_path: Path, socket_dir: str) -> Iterator[Callable[..., ServerProcess]]:
    servers: List[ServerProcess] = []
    stuck: List[str] = []

    def make(extra: Sequence[str] = (), *, db: Optional[Path] = None, socket_name: str = "s.sock",
             start: bool = True) -> ServerProcess:
        server = ServerProcess(db or tmp_path / "db", os.path.join(socket_dir, socket_name),
                               tmp_path / f"server{len(servers)}.log", extra)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        if server.process is not None and server.stop() is None:
            stuck.append(server.socket_path)
    assert not stuck, f"toondb-server did not stop within {STOP_TIMEOUT} s of SIGTERM: {stuck}"


@pytest.fixture
def server(make_server) -> ServerProcess:
    return make_server()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[IpcClient]:
    with server.client() as c:
        yield c
