"""Shared fixtures. The suite runs twice in CI: with the compiled extensions required and with them disabled;
``test_native_selection`` proves which implementation each run really used."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nanasqlite import NanaSQLite
from nanasqlite import codec as pure_codec

REQUIRE_EXT = os.environ.get("NANASQLITE_REQUIRE_EXTENSIONS") == "1"
NO_EXT = os.environ.get("NANASQLITE_NO_EXTENSIONS") == "1"


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture
def db(db_path: str) -> Iterator[NanaSQLite]:
    store = NanaSQLite(db_path)
    yield store
    store.close()


def file_data(path: str, table: str = "data") -> dict[str, Any]:
    """What a fresh sync store reads from the file."""
    with NanaSQLite(path, table=table) as store:
        return store.to_dict()


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Make the interpreter switch threads far more often, so races get a chance to show."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


# -- the codecs: the pure module and its compiled twin ---------------------------------------------------------


def _import_compiled_codec() -> tuple[ModuleType | None, str]:
    if NO_EXT:
        return None, "NANASQLITE_NO_EXTENSIONS=1"
    try:
        return importlib.import_module("nanasqlite._speedups._codec"), ""
    except ImportError as exc:
        return None, f"nanasqlite._speedups._codec cannot be imported: {exc}"


_COMPILED_CODEC, _WHY_NO_COMPILED_CODEC = _import_compiled_codec()


def need_compiled_codec() -> ModuleType:
    """The compiled codec; a failure when extensions are required and it is missing, else a skip."""
    if _COMPILED_CODEC is None:
        if REQUIRE_EXT:
            pytest.fail(f"NANASQLITE_REQUIRE_EXTENSIONS=1 but {_WHY_NO_COMPILED_CODEC}")
        pytest.skip(_WHY_NO_COMPILED_CODEC)
    return _COMPILED_CODEC


@pytest.fixture(params=["pure"] if NO_EXT else ["pure", "compiled"])
def codec(request: pytest.FixtureRequest) -> ModuleType:
    """Each codec in turn (only the pure one with NANASQLITE_NO_EXTENSIONS=1)."""
    return pure_codec if request.param == "pure" else need_compiled_codec()


@pytest.fixture
def compiled() -> ModuleType:
    return need_compiled_codec()


# -- the public 1.6.2 package, run in a subprocess for compatibility checks ----------------------------------

NANA16_VERSION = "1.6.2"
# Where a copy installed beforehand is looked for (``pip install --target /tmp/nana16 nanasqlite==1.6.2``).
NANA16_DEFAULT_DIR = Path(os.environ.get("NANASQLITE_TEST_NANA16_DIR", "/tmp/nana16"))


def in_ci() -> bool:
    """True under CI (``CI=true``, set by GitHub Actions and by ``.ci/run``'s runner)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _holds_nana16(directory: Path) -> bool:
    return (directory / f"nanasqlite-{NANA16_VERSION}.dist-info").is_dir() and (
        directory / "nanasqlite" / "__init__.py"
    ).is_file()


@pytest.fixture(scope="session")
def nana16(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the 1.6.2 package and its apsw, for ``PYTHONPATH``; installed with pip when missing
    (into the pytest cache, so CI installs it once per cache).

    When it cannot be installed (no network, say) the tests that need it are skipped with the reason, except
    under CI, where they fail: there a skipped compatibility check would pass unnoticed."""
    import subprocess
    import sys

    if _holds_nana16(NANA16_DEFAULT_DIR):
        return NANA16_DEFAULT_DIR
    cache = getattr(request.config, "cache", None)
    target = cache.mkdir("nanasqlite-1.6.2") if cache is not None else tmp_path_factory.mktemp("nanasqlite-1.6.2")
    if not _holds_nana16(target):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--upgrade",
                "--target",
                str(target),
                f"nanasqlite=={NANA16_VERSION}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 or not _holds_nana16(target):
            why = (result.stderr or result.stdout).strip().splitlines() or [f"pip exited with {result.returncode}"]
            if in_ci():
                pytest.fail(
                    f"CI=true and nanasqlite=={NANA16_VERSION} could not be installed into {target}; the 1.6 "
                    f"compatibility tests must run in CI:\n{result.stderr}"
                )
            pytest.skip(
                f"needs nanasqlite=={NANA16_VERSION}, which pip could not install (offline?): {why[-1]} "
                f"[install it with 'pip install --target {NANA16_DEFAULT_DIR} nanasqlite=={NANA16_VERSION}'; "
                "under CI=true this is a failure]"
            )
    return target


def run_nana16(nana16: Path, code: str, cwd: Path, stdin: str | None = None) -> str:
    """Run ``code`` under the 1.6.2 package in a fresh interpreter and return its stdout."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(nana16)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import nanasqlite\nassert nanasqlite.__version__ == {NANA16_VERSION!r}, nanasqlite.__file__\n" + code,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, f"the 1.6.2 subprocess failed:\n{result.stderr}"
    return result.stdout
