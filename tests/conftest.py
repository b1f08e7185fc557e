"""Shared fixtures. The suite runs twice in CI: with the compiled extensions required and with them disabled;
``test_native_selection`` proves which implementation each run really used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nanasqlite import NanaSQLite

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
