"""Batches: writes (idle, with a busy Python thread, on two threads), batch and bulk reads, deletes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from nanasqlite import NanaSQLite

from .conftest import N, items, key


def test_batch_update(benchmark: Any, store: NanaSQLite) -> None:
    data = items(N)
    benchmark(store.batch_update, data)
    assert len(store) == N


@pytest.mark.usefixtures("busy_thread")
def test_batch_update_while_python_runs(benchmark: Any, store: NanaSQLite) -> None:
    """Where per-row GIL hand-offs hurt most: a GIL-free batch should cost about what it costs idle."""
    data = items(1_000)
    benchmark(store.batch_update, data)
    assert len(store) == 1_000


def test_batch_update_two_threads_two_files(benchmark: Any, tmp_path: Any) -> None:
    stores = [NanaSQLite(str(tmp_path / f"t{i}.db")) for i in range(2)]
    data = [items(N // 2, start=i * N) for i in range(2)]

    def both() -> None:
        threads = [threading.Thread(target=s.batch_update, args=(d,)) for s, d in zip(stores, data, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    try:
        benchmark(both)
        assert [len(s) for s in stores] == [N // 2, N // 2]
    finally:
        for s in stores:
            s.close()


def test_update_mapping(benchmark: Any, store: NanaSQLite) -> None:
    data = items(1_000)
    benchmark(store.update, data)
    assert len(store) == 1_000


def test_batch_update_partial(benchmark: Any, store: NanaSQLite) -> None:
    data: dict[str, Any] = {**items(1_000), "bad": {1, 2}}
    failed = benchmark(store.batch_update_partial, data)
    assert list(failed) == ["bad"]


def test_batch_get_cold(benchmark: Any, filled: NanaSQLite) -> None:
    keys = [key(i) for i in range(0, N, 1)]
    result = benchmark.pedantic(filled.batch_get, args=(keys,), setup=filled.clear_cache, rounds=10, iterations=1)
    assert len(result) == N


def test_batch_get_cached(benchmark: Any, filled: NanaSQLite) -> None:
    keys = [key(i) for i in range(N)]
    filled.batch_get(keys)
    assert len(benchmark(filled.batch_get, keys)) == N


def test_batch_delete(benchmark: Any, store: NanaSQLite) -> None:
    data = items(1_000)

    def setup() -> None:
        store.batch_update(data)

    benchmark.pedantic(store.batch_delete, args=(list(data),), setup=setup, rounds=10, iterations=1)
    assert len(store) == 0


def test_bulk_load_open(benchmark: Any, filled: NanaSQLite, db_path: str) -> None:
    """Time to ready: opening a store with ``bulk_load=True`` over ``N`` rows."""

    def open_loaded() -> bool:
        with NanaSQLite(db_path, bulk_load=True) as db:
            return db.is_cached(key(N - 1))

    assert benchmark(open_loaded) is True


def test_load_all(benchmark: Any, filled: NanaSQLite) -> None:
    benchmark.pedantic(filled.load_all, setup=filled.clear_cache, rounds=10, iterations=1)
    assert filled.is_cached(key(0))
