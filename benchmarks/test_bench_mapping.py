"""The dict protocol: single-key writes (each committed), cache hits, cold reads and the whole-store views."""

from __future__ import annotations

from typing import Any

from nanasqlite import NanaSQLite

from .conftest import N, key, value


def test_set_autocommit(benchmark: Any, store: NanaSQLite) -> None:
    counter = iter(range(10**9))

    def set_one() -> None:
        i = next(counter)
        store[key(i)] = value(i)

    benchmark(set_one)
    assert len(store) >= 1


def test_get_cached_hit(benchmark: Any, filled: NanaSQLite) -> None:
    k = key(7)
    filled[k]
    assert benchmark(filled.__getitem__, k) == value(7)


def test_get_method_cached_hit(benchmark: Any, filled: NanaSQLite) -> None:
    filled[key(7)]
    assert benchmark(filled.get, key(7)) == value(7)


def test_contains_cached_hit(benchmark: Any, filled: NanaSQLite) -> None:
    filled[key(7)]
    assert benchmark(filled.__contains__, key(7)) is True


def test_get_absent_key(benchmark: Any, filled: NanaSQLite) -> None:
    assert benchmark(filled.get, "no such key", 0) == 0


def test_get_cold(benchmark: Any, filled: NanaSQLite) -> None:
    """A cache miss: one SELECT and one decode (the cache is emptied before every round)."""
    result = benchmark.pedantic(
        filled.__getitem__, args=(key(N // 2),), setup=filled.clear_cache, rounds=200, iterations=1
    )
    assert result == value(N // 2)


def test_get_fresh(benchmark: Any, filled: NanaSQLite) -> None:
    assert benchmark(filled.get_fresh, key(3)) == value(3)


def test_delete(benchmark: Any, filled: NanaSQLite) -> None:
    counter = iter(range(N))

    def setup() -> tuple[tuple[str], dict[str, Any]]:
        return (key(next(counter)),), {}

    benchmark.pedantic(filled.__delitem__, setup=setup, rounds=min(N, 200), iterations=1)
    assert key(0) not in filled


def test_len(benchmark: Any, filled: NanaSQLite) -> None:
    assert benchmark(len, filled) == N


def test_keys(benchmark: Any, filled: NanaSQLite) -> None:
    assert len(benchmark(filled.keys)) == N


def test_items_cold(benchmark: Any, filled: NanaSQLite) -> None:
    result = benchmark.pedantic(filled.items, setup=filled.clear_cache, rounds=5, iterations=1)
    assert len(result) == N


def test_to_dict_cached(benchmark: Any, filled: NanaSQLite) -> None:
    filled.load_all()
    filled.values()  # decodes everything once
    assert len(benchmark(filled.to_dict)) == N


def test_iter_items(benchmark: Any, filled: NanaSQLite) -> None:
    assert benchmark(lambda: sum(1 for _ in filled.iter_items(batch_size=1000))) == N


def test_setdefault_existing(benchmark: Any, filled: NanaSQLite) -> None:
    assert benchmark(filled.setdefault, key(1), None) == value(1)


def test_pop(benchmark: Any, filled: NanaSQLite) -> None:
    counter = iter(range(N))

    def setup() -> tuple[tuple[str], dict[str, Any]]:
        return (key(next(counter)),), {}

    benchmark.pedantic(filled.pop, setup=setup, rounds=min(N, 200), iterations=1)
    assert key(0) not in filled
