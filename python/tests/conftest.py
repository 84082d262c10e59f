"""Shared fixtures and helpers for the ToonDB embedded-mode SDK tests.

Every database lives under pytest's tmp_path. Subprocess helpers run the same interpreter
with PYTHONPATH pointing at the SDK, so child processes load the same toondb package.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_THIS_PYTHON_DIR = Path(__file__).resolve().parents[1]  # .../python, next to toondb/
REPO_ROOT = _THIS_PYTHON_DIR.parent

# Make `import toondb` work even when pytest is started without PYTHONPATH=python (an
# explicit PYTHONPATH still wins).
if str(_THIS_PYTHON_DIR) not in sys.path:
    sys.path.append(str(_THIS_PYTHON_DIR))

import toondb  # noqa: E402
from toondb import Database  # noqa: E402

# The IPC tests' server fixtures (a real toondb-server per test).
from ipc_server import client, make_server, server, socket_dir  # noqa: E402,F401 - fixtures

# Child processes import the very package this process imported.
PYTHON_DIR = Path(toondb.__file__).resolve().parents[1]


def child_env(**overrides: str) -> dict:
    """The environment of a child Python process that imports the SDK under test."""
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(PYTHON_DIR) + (os.pathsep + old if old else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def run_python(code: str, *args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `python -c code args...` to completion and returns the finished process."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env if env is not None else child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """A path (not yet created) for a fresh database directory."""
    return str(tmp_path / "db")


@pytest.fixture
def db(db_path: str):
    """A freshly opened database with the default configuration, closed after the test."""
    database = Database.open(db_path)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def fast_db(db_path: str):
    """A fresh database with sync_mode off, for tests that write many keys."""
    database = Database.open(db_path, {"sync_mode": "off"})
    try:
        yield database
    finally:
        database.close()
