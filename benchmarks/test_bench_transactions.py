"""Transactions and atomic read-modify-write."""

from __future__ import annotations

from typing import Any

from nanasqlite import NanaSQLite

from .conftest import key, value


def test_transaction_of_100_sets(benchmark: Any, store: NanaSQLite) -> None:
    def hundred() -> None:
        with store.transaction():
            for i in range(100):
                store[key(i)] = value(i)

    benchmark(hundred)
    assert len(store) == 100


def test_begin_rollback(benchmark: Any, store: NanaSQLite) -> None:
    def undone() -> None:
        store.begin_transaction()
        store["k"] = 1
        store.rollback()

    benchmark(undone)
    assert "k" not in store


def test_increment(benchmark: Any, store: NanaSQLite) -> None:
    store["n"] = 0
    benchmark(store.increment, "n")
    assert store["n"] >= 1


def test_patch(benchmark: Any, store: NanaSQLite) -> None:
    store["doc"] = {"a": 1}
    result = benchmark(store.patch, "doc", {"b": 2})
    assert result == {"a": 1, "b": 2}
