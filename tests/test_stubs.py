"""The .pyi stubs shipped for the compiled modules match what the modules really export (mypy.stubtest)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import NO_EXT

MODULES = ["nanasqlite._speedups._codec", "nanasqlite._speedups._front", "nanasqlite._speedups._bridge"]


@pytest.mark.skipif(NO_EXT, reason="the compiled modules are disabled in this run")
@pytest.mark.parametrize("module", MODULES)
def test_every_compiled_module_ships_its_stub(module: str) -> None:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    assert spec.origin.endswith((".so", ".pyd")), spec.origin  # really the compiled module
    assert (Path(spec.origin).parent / (module.rpartition(".")[2] + ".pyi")).is_file()


@pytest.mark.skipif(NO_EXT, reason="the compiled modules are disabled in this run")
def test_stubs_of_compiled_modules_match_them() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", *MODULES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
