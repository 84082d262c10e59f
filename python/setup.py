"""The optional C extension, and the wheel's platform tag when it bundles libtoondb_storage.so.

Everything else is in pyproject.toml.

``toondb._speedups`` (toondb/_speedups.c) makes the per-key calls without ctypes. It is
optional: where it cannot be compiled (no C compiler or Python headers) the build goes on
without it and the SDK uses ctypes alone. A wheel with the extension is tagged for the CPython
version that built it; without it, a wheel that bundles the library is tagged
py3-none-<platform> (any CPython 3.9+ on that platform loads the library with ctypes).
"""

import os
from pathlib import Path

from setuptools import Extension, setup

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # building an sdist or installing from source without `wheel`
    bdist_wheel = None

BUNDLED = any((Path(__file__).parent / "toondb" / "lib").glob("**/libtoondb_storage.so"))
commands = {}

if bdist_wheel is not None and BUNDLED:
    class PlatformWheel(bdist_wheel):
        def finalize_options(self) -> None:
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):  # type: ignore[no-untyped-def]
            python, abi, platform = super().get_tag()
            if self.distribution.has_ext_modules():
                return python, abi, platform
            return "py3", "none", platform

    commands["bdist_wheel"] = PlatformWheel

extensions = []
if not os.environ.get("TOONDB_PURE_PYTHON"):
    extensions.append(Extension("toondb._speedups", ["toondb/_speedups.c"], optional=True))

setup(cmdclass=commands, ext_modules=extensions)
