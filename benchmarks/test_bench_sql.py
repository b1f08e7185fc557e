"""A few SQL helpers of the store: raw statements, parameterised reads, inserts and the query builder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nanasqlite import NanaSQLite

ROWS = 1_000


@pytest.fixture
def users(store: NanaSQLite) -> Iterator[NanaSQLite]:
    if not hasattr(store, "fetch_all"):
        pytest.skip("the SQL helpers are not in this build")
    store.create_table("users", {"id": "INTEGER PRIMARY KEY", "name": "TEXT", "age": "INTEGER"})
    store.execute_many("INSERT INTO users (name, age) VALUES (?, ?)", [(f"u{i}", i % 90) for i in range(ROWS)])
    yield store


def test_execute_insert(benchmark: Any, users: NanaSQLite) -> None:
    benchmark(users.execute, "INSERT INTO users (name, age) VALUES (?, ?)", ("x", 1))
    assert users.fetch_one("SELECT COUNT(*) FROM users")[0] > ROWS


def test_fetch_one(benchmark: Any, users: NanaSQLite) -> None:
    assert benchmark(users.fetch_one, "SELECT name FROM users WHERE id = ?", (10,)) == ("u9",)


def test_fetch_all(benchmark: Any, users: NanaSQLite) -> None:
    assert len(benchmark(users.fetch_all, "SELECT id, name FROM users WHERE age < ?", (45,))) > 0


def test_sql_insert(benchmark: Any, users: NanaSQLite) -> None:
    benchmark(users.sql_insert, "users", {"name": "y", "age": 2})
    assert users.count("users", "name = ?", ("y",)) >= 1


def test_query(benchmark: Any, users: NanaSQLite) -> None:
    rows = benchmark(users.query, table_name="users", where="age = ?", parameters=(30,), order_by="id", limit=5)
    assert [r["age"] for r in rows] == [30] * len(rows) and rows
