"""Fixtures of the pytest-benchmark suites. Sizes are small enough that ``pytest benchmarks
--benchmark-disable`` (every benchmark run once, as CI does so they never rot) takes seconds; the peer
comparison (``compare.py``) runs the full sizes of docs/bench/targets.md."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import NanaSQLite

#: Items in the filled store and in one batch.
N = 10_000


def key(i: int) -> str:
    return f"key{i:08d}"


def value(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"user{i}", "active": i % 2 == 0, "score": i / 4, "tags": ["red", "green"]}


def items(n: int, start: int = 0) -> dict[str, Any]:
    return {key(i): value(i) for i in range(start, start + n)}


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "bench.db")


@pytest.fixture
def store(db_path: str) -> Iterator[NanaSQLite]:
    db = NanaSQLite(db_path)
    yield db
    db.close()


@pytest.fixture
def filled(store: NanaSQLite) -> NanaSQLite:
    """A store holding ``N`` items, its cache empty."""
    store.batch_update(items(N))
    store.clear_cache()
    return store


@pytest.fixture
def busy_thread() -> Iterator[None]:
    """Another thread running a pure-Python loop (an event loop with work to do) while the test runs."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop for async benchmarks: the benchmark fixture is synchronous, so they drive it by hand."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
