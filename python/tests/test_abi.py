"""The shared library itself: its export table is exactly the header's functions, and it
needs no Swift runtime from a toolchain (the runtime is linked in statically)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from toondb import _native

HEADER = Path(__file__).resolve().parents[2] / "Sources" / "CToonDBABI" / "include" / "toondb.h"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} (binutils) is not installed")
    return path


def test_exports_are_exactly_the_header_functions():
    declared = set(re.findall(r"\b(toondb_\w+)\s*\(", HEADER.read_text()))
    assert "toondb_open" in declared and len(declared) > 30
    output = subprocess.run([tool("nm"), "-D", "--defined-only", _native.find_library()],
                            check=True, capture_output=True, text=True).stdout
    exported = {parts[2] for parts in (line.split() for line in output.splitlines())
                if len(parts) == 3 and parts[1].isupper()}
    assert exported == declared, (
        f"exported but not declared: {sorted(exported - declared)}; declared but not exported: {sorted(declared - exported)}")


def test_library_needs_no_swift_runtime():
    output = subprocess.run([tool("objdump"), "-p", _native.find_library()],
                            check=True, capture_output=True, text=True).stdout
    needed = re.findall(r"NEEDED\s+(\S+)", output)
    assert "libc.so.6" in needed
    assert not [name for name in needed if "swift" in name.lower() or "Foundation" in name], needed
