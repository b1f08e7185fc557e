"""The async facade: cache hits, 1000 concurrent cold reads, single writes, 100 concurrent writers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import nanasqlite

from .conftest import N, items, key, value

AsyncNanaSQLite = getattr(nanasqlite, "AsyncNanaSQLite", None)
pytestmark = pytest.mark.skipif(AsyncNanaSQLite is None, reason="AsyncNanaSQLite is not in this build")


@pytest.fixture
def adb(loop: asyncio.AbstractEventLoop, db_path: str) -> Iterator[Any]:
    """An open AsyncNanaSQLite holding ``N`` items."""
    assert AsyncNanaSQLite is not None
    db = AsyncNanaSQLite(db_path, max_workers=4)
    loop.run_until_complete(db.__aenter__())
    loop.run_until_complete(db.batch_update(items(N)))
    yield db
    loop.run_until_complete(db.close())


def test_aget_cached(benchmark: Any, loop: asyncio.AbstractEventLoop, adb: Any) -> None:
    loop.run_until_complete(adb.aget(key(1)))
    assert benchmark(lambda: loop.run_until_complete(adb.aget(key(1)))) == value(1)


def test_aget_1000_concurrent_cold(benchmark: Any, loop: asyncio.AbstractEventLoop, adb: Any, db_path: str) -> None:
    keys = [key(i) for i in range(0, N, N // 1000)]

    async def cold_reads() -> list[Any]:
        async with AsyncNanaSQLite(db_path, max_workers=4) as fresh:  # type: ignore[misc]
            return await asyncio.gather(*(fresh.aget(k) for k in keys))

    values = benchmark.pedantic(lambda: loop.run_until_complete(cold_reads()), rounds=5, iterations=1)
    assert len(values) == len(keys) and all(v is not None for v in values)


def test_aset(benchmark: Any, loop: asyncio.AbstractEventLoop, adb: Any) -> None:
    benchmark(lambda: loop.run_until_complete(adb.aset("k", {"v": 1})))
    assert loop.run_until_complete(adb.aget("k")) == {"v": 1}


def test_100_concurrent_writers(benchmark: Any, loop: asyncio.AbstractEventLoop, adb: Any) -> None:
    async def writers() -> None:
        async def writer(w: int) -> None:
            for j in range(5):
                await adb.aset(f"w{w}-{j}", value(j))

        await asyncio.gather(*(writer(w) for w in range(100)))

    benchmark.pedantic(lambda: loop.run_until_complete(writers()), rounds=5, iterations=1)
    assert loop.run_until_complete(adb.aget("w99-4")) == value(4)


def test_async_batch_update(benchmark: Any, loop: asyncio.AbstractEventLoop, adb: Any) -> None:
    data = items(N, start=N)
    benchmark(lambda: loop.run_until_complete(adb.batch_update(data)))
    assert loop.run_until_complete(adb.aget(key(2 * N - 1))) == value(2 * N - 1)


def test_async_batch_get(benchmark: Any, loop: asyncio.AbstractEventLoop, adb: Any) -> None:
    keys = [key(i) for i in range(1_000)]
    result = benchmark(lambda: loop.run_until_complete(adb.abatch_get(keys)))
    assert len(result) == 1_000
