"""Write-back mode (``v2_mode=True``): single sets that land in memory, and the side-by-side run of
``benchmarks/writeback.py`` at small sizes (so it never rots)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nanasqlite import NanaSQLite

from . import writeback
from .conftest import key, value


@pytest.fixture
def wb_store(db_path: str) -> Iterator[NanaSQLite]:
    db = NanaSQLite(db_path, v2_mode=True, flush_mode="immediate")
    yield db
    db.close()


def test_set_write_back(benchmark: Any, wb_store: NanaSQLite) -> None:
    counter = iter(range(10**9))

    def set_one() -> None:
        i = next(counter)
        wb_store[key(i)] = value(i)

    benchmark(set_one)
    wb_store.flush(wait=True)
    assert len(wb_store) >= 1 and wb_store.get_dlq() == []


def test_side_by_side_run(tmp_path: Any) -> None:
    report = writeback.run(sets=500, pending=2000)
    assert report["default_sets_per_s"] > 0 and report["writeback_immediate_sets_per_s"] > 0
    assert report["flush_s"] > 0
