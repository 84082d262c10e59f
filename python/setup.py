"""Marks the wheel as platform-specific when it bundles libtoondb_storage.so.

Everything else is in pyproject.toml. The library is not a Python extension module, so the
wheel is tagged py3-none-<platform>: any CPython 3.9+ on that platform loads it with ctypes.
"""

from pathlib import Path

from setuptools import setup

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
            _, _, platform = super().get_tag()
            return "py3", "none", platform

    commands["bdist_wheel"] = PlatformWheel

setup(cmdclass=commands)
