"""Corrupt and foreign files: opening (or first using) a file that is not a store of ours raises the library's
clear error, and the attempt never modifies the file.

The cases: a store cut in half, its first 100 bytes alone, random bytes, a text file, and SQLite files whose
table has another shape (other columns; ``key``/``value`` without the primary key).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteError


def good_store(path: Path) -> bytes:
    with NanaSQLite(str(path)) as db:
        db.batch_update({f"k{i}": {"v": i, "pad": "x" * 100} for i in range(2000)})
    return path.read_bytes()


def sqlite_file(path: Path, *sql: str) -> None:
    con = apsw.Connection(str(path))
    for statement in sql:
        con.execute(statement)
    con.close()


MAKERS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(good_store(p.with_name("good.db"))[: 40 * 4096]),
    "header only": lambda p: p.write_bytes(good_store(p.with_name("good.db"))[:100]),
    "random bytes": lambda p: p.write_bytes(os.urandom(8192)),
    "text": lambda p: p.write_bytes(b"not a database at all\n" * 200),
    "other columns": lambda p: sqlite_file(
        p, "CREATE TABLE data (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO data (name) VALUES ('a')"
    ),
    "no primary key": lambda p: sqlite_file(
        p, "CREATE TABLE data (key TEXT, value TEXT, extra INT)", "INSERT INTO data VALUES ('a', '1', 2)"
    ),
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def use(path: Path) -> None:
    db = NanaSQLite(str(path))
    try:
        len(db)
        db.to_dict()
        db["new"] = 1
    finally:
        db.close()


@pytest.mark.parametrize("case", list(MAKERS))
def test_a_foreign_file_gets_a_clear_error_and_is_left_as_it_was(tmp_path: Path, case: str) -> None:
    path = tmp_path / "foreign.db"
    MAKERS[case](path)
    before = digest(path)
    with pytest.raises(NanaSQLiteError, match="foreign.db|data"):
        use(path)
    assert digest(path) == before
    assert not (tmp_path / "foreign.db-wal").exists() or (tmp_path / "foreign.db-wal").stat().st_size == 0


@pytest.mark.parametrize("case", ["random bytes", "other columns"])
async def test_the_async_store_reports_it_and_stops(tmp_path: Path, case: str) -> None:
    path = tmp_path / "foreign.db"
    MAKERS[case](path)
    before = digest(path)
    with pytest.raises(NanaSQLiteError):
        async with AsyncNanaSQLite(str(path), thread_name_prefix="foreign") as db:
            await db.to_dict()
    assert digest(path) == before


def test_a_sub_table_of_another_shape_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with NanaSQLite(str(path)) as db:
        db["k"] = 1
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users (name) VALUES ('a')")
        with pytest.raises(NanaSQLiteError, match="users"):
            db.table("users")
        assert db.fetch_all("SELECT id, name FROM users") == [(1, "a")]
        assert db["k"] == 1
