from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nanasqlite
from nanasqlite import _native

from .conftest import NO_EXT, REQUIRE_EXT


def test_required_extensions_are_really_used() -> None:
    if REQUIRE_EXT:
        assert nanasqlite.NATIVE is True
        assert _native.codec.__name__ == "nanasqlite._speedups._codec"
        assert _native.front.__name__ == "nanasqlite._speedups._front"


def test_disabled_extensions_are_really_not_used() -> None:
    if NO_EXT:
        assert nanasqlite.NATIVE is False
        assert _native.codec.__name__ == "nanasqlite.codec"
        assert _native.front.__name__ == "nanasqlite._front"


def test_store_front_is_the_selected_implementation() -> None:
    assert issubclass(nanasqlite.NanaSQLite, _native.front.CacheFront)


# -- a package whose extensions are missing or broken, in a subprocess ---------------------------------------
#
# The installed package is copied into tmp_path and put first on PYTHONPATH, minus some compiled modules:
# what a user gets from a build without a compiler, or from one where a single extension failed to build.

INSTALLED = Path(nanasqlite.__file__).resolve().parent
COMPILED = sorted(
    p.name.split(".")[0] for p in (INSTALLED / "_speedups").iterdir() if p.suffix in (".so", ".pyd")
)  # the compiled modules of this installation: _bridge, _codec, _front (none in a pure install)

PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import nanasqlite
    import nanasqlite.cli  # more modules of the package: the choice (and its warning) was made once
    from nanasqlite import NanaSQLite, _native
with NanaSQLite(":memory:") as db:  # and the store works on what was chosen
    db.batch_update({"a": [1, {"b": None}], "c": "d"})
    assert db.batch_get(["a", "c"]) == {"a": [1, {"b": None}], "c": "d"}
print(json.dumps({
    "file": nanasqlite.__file__,
    "native": nanasqlite.NATIVE,
    "modules": [_native.codec.__name__, _native.front.__name__, _native.bridge.__name__],
    "missing": _native.MISSING,
    "warnings": [
        {"category": w.category.__name__, "runtime": issubclass(w.category, RuntimeWarning),
         "message": str(w.message), "filename": w.filename}
        for w in caught
    ],
}))
"""
PURE_MODULES = ["nanasqlite.codec", "nanasqlite._front", "nanasqlite._bridge"]


def package_copy(tmp_path: Path, remove: list[str], broken: list[str] | None = None) -> Path:
    """A copy of the installed package under tmp_path/site, without the compiled modules in ``remove`` and
    with those in ``broken`` replaced by files that are not shared libraries; returns tmp_path/site."""
    site = tmp_path / "site"
    shutil.copytree(INSTALLED, site / "nanasqlite", ignore=shutil.ignore_patterns("__pycache__"))
    for path in (site / "nanasqlite" / "_speedups").iterdir():
        name = path.name.split(".")[0]
        if path.suffix in (".so", ".pyd") and name in remove:
            path.unlink()
        elif path.suffix in (".so", ".pyd") and name in (broken or []):
            path.write_bytes(b"not a shared library\n")
    return site


def need_compiled(*names: str) -> None:
    """These tests take compiled modules away, so they need a build that has them."""
    missing = [n for n in names if n not in COMPILED]
    if missing:
        if REQUIRE_EXT:
            pytest.fail(f"NANASQLITE_REQUIRE_EXTENSIONS=1 but {missing} are not installed")
        pytest.skip(f"this installation has no compiled {', '.join(missing)}")


def run_in(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NANASQLITE_") and k != "PYTHONWARNINGS"}
    environ.update(env, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=environ, cwd=site.parent, timeout=120
    )


def probe(site: Path, **env: str) -> dict[str, Any]:
    result = run_in(site, "-c", PROBE, **env)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert Path(report["file"]).resolve().is_relative_to(site)  # the copy, not the installed package
    return report


def test_a_package_without_extensions_warns_once_and_runs_pure(tmp_path: Path) -> None:
    report = probe(package_copy(tmp_path, remove=["_codec", "_front", "_bridge"]))
    assert report["native"] is False
    assert report["modules"] == PURE_MODULES
    assert report["missing"] == {"_codec": "not built", "_front": "not built", "_bridge": "not built"}
    [warning] = report["warnings"]
    assert warning["category"] == "NanaSQLiteExtensionWarning" and warning["runtime"]
    assert warning["filename"] == "<string>"  # points at the line that imported nanasqlite
    message = warning["message"]
    for fragment in (
        "pure-Python implementation",
        "nanasqlite._speedups._codec is not built",
        "nanasqlite._speedups._bridge is not built",
        "libsqlite3-dev",
        "pip install",
        "NANASQLITE_NO_EXTENSIONS=1",
    ):
        assert fragment in message, fragment
    assert "partly built" not in message and "\n" not in message
    assert issubclass(nanasqlite.NanaSQLiteExtensionWarning, RuntimeWarning)


def test_asking_for_the_pure_build_is_silent(tmp_path: Path) -> None:
    report = probe(package_copy(tmp_path, remove=["_codec", "_front", "_bridge"]), NANASQLITE_NO_EXTENSIONS="1")
    assert (report["native"], report["modules"], report["missing"], report["warnings"]) == (
        False,
        PURE_MODULES,
        {},
        [],
    )


def test_a_complete_build_is_silent(tmp_path: Path) -> None:
    need_compiled("_codec", "_front", "_bridge")
    report = probe(package_copy(tmp_path, remove=[]))
    assert (report["native"], report["missing"], report["warnings"]) == (True, {}, [])
    assert report["modules"] == [f"nanasqlite._speedups.{m}" for m in ("_codec", "_front", "_bridge")]


def import_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The run failed with an ImportError of one line and no chained exceptions (no importlib noise)."""
    assert result.returncode == 1, result.stderr
    assert "ModuleNotFoundError" not in result.stderr
    assert "During handling" not in result.stderr and "direct cause" not in result.stderr
    assert "importlib" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("ImportError: NANASQLITE_REQUIRE_EXTENSIONS=1, but ")
    assert "pip install" in last and "libsqlite3-dev" in last
    return last


def test_required_extensions_that_are_missing_are_one_clear_import_error(tmp_path: Path) -> None:
    site = package_copy(tmp_path, remove=["_codec", "_front", "_bridge"])
    line = import_error_line(run_in(site, "-c", "import nanasqlite", NANASQLITE_REQUIRE_EXTENSIONS="1"))
    assert "nanasqlite._speedups._codec is not built" in line and "partly built" not in line


def test_a_partly_built_package_names_the_missing_module(tmp_path: Path) -> None:
    need_compiled("_codec", "_front", "_bridge")
    site = package_copy(tmp_path, remove=["_bridge"])
    line = import_error_line(run_in(site, "-c", "import nanasqlite", NANASQLITE_REQUIRE_EXTENSIONS="1"))
    assert "nanasqlite._speedups._bridge is not built" in line
    assert "partly built: _codec, _front are there" in line
    assert "_codec is not built" not in line and "_front is not built" not in line
    # Without the requirement: the pure implementation throughout (never a mix), and the warning says why.
    report = probe(site)
    assert (report["native"], report["modules"], report["missing"]) == (False, PURE_MODULES, {"_bridge": "not built"})
    [warning] = report["warnings"]
    assert "nanasqlite._speedups._bridge is not built (the package is partly built" in warning["message"]


def test_a_broken_extension_is_reported_with_its_import_error(tmp_path: Path) -> None:
    need_compiled("_codec", "_front", "_bridge")
    site = package_copy(tmp_path, remove=[], broken=["_front"])
    report = probe(site)
    assert report["native"] is False and list(report["missing"]) == ["_front"]
    assert report["missing"]["_front"].startswith("ImportError: ")
    [warning] = report["warnings"]
    assert "nanasqlite._speedups._front is broken (ImportError: " in warning["message"]
    line = import_error_line(run_in(site, "-c", "import nanasqlite", NANASQLITE_REQUIRE_EXTENSIONS="1"))
    assert "_front is broken" in line


def test_the_command_line_says_which_implementation_runs_and_why(tmp_path: Path) -> None:
    site = package_copy(tmp_path, remove=["_codec", "_front", "_bridge"])
    version = run_in(site, "-m", "nanasqlite", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == (
        f"nanasqlite {nanasqlite.__version__} (pure Python: C extensions not usable: _codec, _front, _bridge)"
    )
    assert "NanaSQLiteExtensionWarning" in version.stderr  # and the warning, where the user looks
    info = run_in(site, "-m", "nanasqlite", "info")
    assert info.returncode == 0, info.stderr
    assert "missing: nanasqlite._speedups._bridge (not built)" in info.stdout and "pip install" in info.stdout
    forced = run_in(site, "-m", "nanasqlite", "--version", NANASQLITE_NO_EXTENSIONS="1")
    assert forced.stdout.strip().endswith("(pure Python, as NANASQLITE_NO_EXTENSIONS=1 asks)")
    assert forced.stderr == ""
