"""Extension list and build switches; all metadata lives in pyproject.toml.

NANASQLITE_NO_EXTENSIONS=1       build the pure-Python package only.
NANASQLITE_REQUIRE_EXTENSIONS=1  a failed extension build is an error instead of a warning.
NANASQLITE_SANITIZE=1            build with AddressSanitizer and UndefinedBehaviorSanitizer.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXT = os.environ.get("NANASQLITE_NO_EXTENSIONS") == "1"
REQUIRE_EXT = os.environ.get("NANASQLITE_REQUIRE_EXTENSIONS") == "1"
SANITIZE = os.environ.get("NANASQLITE_SANITIZE") == "1"

MODULES = ["_codec", "_front", "_bridge"]


def extensions():
    cflags = ["-O2", "-fvisibility=hidden"]
    lflags = []
    if SANITIZE:
        cflags = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined"]
        lflags = ["-fsanitize=address,undefined"]
    return [
        Extension(
            f"nanasqlite._speedups.{name}",
            [f"src/_speedups/{name}.pyx"],
            include_dirs=["src/_speedups"],
            extra_compile_args=cflags,
            extra_link_args=lflags,
        )
        for name in MODULES
    ]


class OptionalBuildExt(build_ext):
    """Falls back to the pure package when compiling fails, unless extensions are required."""

    def finalize_options(self):
        super().finalize_options()
        if SANITIZE:
            # Separate object files, so that an up-to-date sanitizer object is never linked into a normal build
            # (or the other way round) just because its source did not change; and always relinked into
            # build_lib, which is what the wheel is made of (an up-to-date normal .so there would be installed
            # instead: scripts/dev.sh sanitize checks the installed one and empties build_lib afterwards).
            self.build_temp = self.build_temp.rstrip(os.sep) + "-sanitize"
            self.force = True

    def run(self):
        try:
            super().run()
        except Exception as exc:
            self._fail(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc):
        _build_failed(exc)


def _build_failed(exc):
    if REQUIRE_EXT:
        raise exc
    print(
        f"WARNING: nanasqlite's C extensions could not be built ({exc}); installing the pure-Python implementation.",
        file=sys.stderr,
    )


def cythonized():
    if NO_EXT:
        return []
    try:
        from Cython.Build import cythonize

        return cythonize(extensions(), compiler_directives={"language_level": "3"})
    except Exception as exc:  # no Cython, or a source that does not translate
        _build_failed(exc)
        return []


ext_modules = cythonized()

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
