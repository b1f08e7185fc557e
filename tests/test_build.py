"""The build's promises: without a working compiler it falls back to the pure package with a visible warning,
unless the extensions are required; with NANASQLITE_NO_EXTENSIONS it builds none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "setup.py"

pytestmark = pytest.mark.skipif(not SETUP.exists(), reason="needs the source tree (setup.py)")


def build(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NANASQLITE_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, str(SETUP), "-q", "build_ext", "-b", str(tmp_path / "lib"), "-t", str(tmp_path / "tmp")],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def built(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "lib").rglob("*.so"))


def test_a_failing_compiler_falls_back_to_pure_python_with_a_warning(tmp_path: Path) -> None:
    result = build(tmp_path, CC="false", LDSHARED="false")
    assert result.returncode == 0, result.stderr
    assert "could not be built" in result.stderr
    assert "pure-Python implementation" in result.stderr
    assert built(tmp_path) == []


def test_a_failing_compiler_is_an_error_when_extensions_are_required(tmp_path: Path) -> None:
    result = build(tmp_path, CC="false", LDSHARED="false", NANASQLITE_REQUIRE_EXTENSIONS="1")
    assert result.returncode != 0
    assert built(tmp_path) == []


def test_no_extensions_builds_nothing(tmp_path: Path) -> None:
    result = build(tmp_path, NANASQLITE_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert built(tmp_path) == []
