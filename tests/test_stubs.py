"""The .pyi stubs shipped for the compiled modules match what the modules really export (mypy.stubtest)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import NO_EXT

MODULES = ["nanasqlite._speedups._codec", "nanasqlite._speedups._front", "nanasqlite._speedups._bridge"]


@pytest.mark.skipif(NO_EXT, reason="the compiled modules are disabled in this run")
def test_stubs_of_compiled_modules_match_them() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", *MODULES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
