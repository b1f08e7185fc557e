"""What ``cache_consistency="auto"`` costs a cached read, beside ``"manual"`` and a plain dict lookup.

Each group holds the three side by side (``--benchmark-group-by=group``); ``auto`` compares 48 bytes of the WAL
index before answering. ``changed`` is the cost of a read right after another connection committed: the cache is
dropped and the key read from the file again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nanasqlite import NanaSQLite

from .conftest import key, value

KINDS = ["dict", "manual", "auto"]
KEYS = [key(i) for i in range(100)]


@pytest.fixture(params=KINDS)
def reader(request: pytest.FixtureRequest, db_path: str) -> Iterator[Any]:
    if request.param == "dict":
        yield {k: value(i) for i, k in enumerate(KEYS)}
        return
    with NanaSQLite(db_path, cache_consistency=request.param) as db:
        db.batch_update({k: value(i) for i, k in enumerate(KEYS)})
        for k in KEYS:
            db[k]  # decoded and cached
        yield db


@pytest.mark.benchmark(group="coherence: db[k] hit")
def test_getitem_hit(benchmark: Any, reader: Any) -> None:
    assert benchmark(reader.__getitem__, KEYS[7]) == value(7)


@pytest.mark.benchmark(group="coherence: get hit")
def test_get_hit(benchmark: Any, reader: Any) -> None:
    assert benchmark(reader.get, KEYS[7]) == value(7)


@pytest.mark.benchmark(group="coherence: in hit")
def test_contains_hit(benchmark: Any, reader: Any) -> None:
    assert benchmark(reader.__contains__, KEYS[7]) is True


@pytest.mark.benchmark(group="coherence: batch_get 100 hits")
def test_batch_get_hits(benchmark: Any, reader: Any) -> None:
    if isinstance(reader, dict):
        result = benchmark(lambda: {k: reader[k] for k in KEYS if k in reader})
    else:
        result = benchmark(reader.batch_get, KEYS)
    assert len(result) == len(KEYS)


@pytest.mark.benchmark(group="coherence: read after another connection's commit")
def test_read_after_a_foreign_commit(benchmark: Any, db_path: str) -> None:
    with NanaSQLite(db_path, cache_consistency="auto") as db, NanaSQLite(db_path) as other:
        counter = iter(range(10**9))

        def commit_elsewhere() -> tuple[tuple[str], dict[str, Any]]:
            other[KEYS[0]] = next(counter)
            return (KEYS[0],), {}

        result = benchmark.pedantic(db.__getitem__, setup=commit_elsewhere, rounds=200, iterations=1)
        assert result == other[KEYS[0]]
