"""Native library discovery (TOONDB_LIB_PATH), checked in fresh child processes so the
library already loaded in the test process does not interfere."""
from __future__ import annotations

import json
import os

from conftest import REPO_ROOT, child_env, run_python

# Prints one JSON line describing what happened when opening a database.
PROBE = r"""
import json, sys
result = {}
try:
    import toondb
    db = toondb.Database.open(sys.argv[1])
    db.put(b"probe", b"ok")
    result["value"] = db.get(b"probe").decode()
    db.close()
    result["outcome"] = "opened"
except BaseException as exc:
    result["outcome"] = "raised"
    result["classes"] = [c.__name__ for c in type(exc).__mro__]
    result["message"] = str(exc)
print(json.dumps(result))
"""


def probe(db_path: str, **env):
    proc = run_python(PROBE, db_path, env=child_env(**env))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _library_dir():
    for name in (".build/debug", ".build/release"):
        if os.path.exists(os.path.join(REPO_ROOT, name, "libtoondb_storage.so")):
            return os.path.join(REPO_ROOT, name)
    raise AssertionError("libtoondb_storage.so not built under .build/debug or .build/release")


def test_lib_path_without_library_raises_database_error(tmp_path):
    empty = tmp_path / "no-library-here"
    empty.mkdir()
    result = probe(str(tmp_path / "db"), TOONDB_LIB_PATH=str(empty))
    assert result["outcome"] == "raised", result
    assert "DatabaseError" in result["classes"], result
    assert "ToonDBError" in result["classes"], result
    assert "TOONDB_LIB_PATH" in result["message"], result
    assert not (tmp_path / "db" / "CURRENT").exists()


def test_lib_path_missing_directory_raises_database_error(tmp_path):
    result = probe(str(tmp_path / "db"), TOONDB_LIB_PATH=str(tmp_path / "does" / "not" / "exist"))
    assert result["outcome"] == "raised", result
    assert "DatabaseError" in result["classes"], result
    assert "TOONDB_LIB_PATH" in result["message"], result


def test_lib_path_is_checked_first(tmp_path):
    # The repository's build would be found by walking up; TOONDB_LIB_PATH still wins, so a
    # wrong value is an error rather than silently falling back.
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "not-the-library.txt").write_text("x")
    result = probe(str(tmp_path / "db"), TOONDB_LIB_PATH=str(bogus))
    assert result["outcome"] == "raised", result
    assert "TOONDB_LIB_PATH" in result["message"], result


def test_lib_path_pointing_at_the_build_works(tmp_path):
    result = probe(str(tmp_path / "db"), TOONDB_LIB_PATH=_library_dir())
    assert result == {"outcome": "opened", "value": "ok"}


def test_library_found_without_lib_path(tmp_path):
    env = child_env()
    env.pop("TOONDB_LIB_PATH", None)
    proc = run_python(PROBE, str(tmp_path / "db"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"outcome": "opened", "value": "ok"}


def test_version_in_child_process():
    proc = run_python("import toondb; print(repr(toondb.__version__))")
    assert proc.returncode == 0, proc.stderr
    version = eval(proc.stdout.strip())  # noqa: S307 - our own repr output
    assert isinstance(version, str) and version
