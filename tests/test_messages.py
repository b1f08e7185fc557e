"""Error messages contain 1.6's phrase for the same error, so users' ``pytest.raises(match=...)`` keep working."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nanasqlite import (
    AsyncNanaSQLite,
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteTransactionError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
    messages,
)

# (name, call, 1.6's phrase). Every call is refused before it writes anything.
REFUSED: list[tuple[str, Callable[[NanaSQLite], Any], str]] = [
    ("table name", lambda db: db.create_table("bad name;", {"a": "TEXT"}), "Invalid identifier"),
    ("column name", lambda db: db.create_table("t", {"bad col;": "TEXT"}), "Invalid identifier"),
    ("index name", lambda db: db.create_index("idx;", "data", ["key"]), "Invalid identifier"),
    ("column type", lambda db: db.create_table("t", {"a": "TEXT; DROP"}), "Invalid or dangerous column type"),
    ("column type type", lambda db: db.create_table("t", {"a": 5}), "Column type for 'a' must be a string"),
    ("limit type", lambda db: db.query("data", limit="x"), "limit must be an integer"),
    ("limit sign", lambda db: db.query("data", limit=-1), "limit must be non-negative"),
    ("offset type", lambda db: db.query_with_pagination("data", limit=1, offset="x"), "offset must be an integer"),
    ("offset sign", lambda db: db.query_with_pagination("data", limit=1, offset=-1), "offset must be non-negative"),
    ("where", lambda db: db.query("data", where="1=1; DROP TABLE data"), "Invalid where clause"),
    ("order_by", lambda db: db.query("data", order_by="key; DROP"), "Invalid order_by clause"),
    ("length", lambda db: db.query("data", where="key = 'a' OR " * 200 + "1"), "exceeds maximum length"),
    ("pragma name", lambda db: db.pragma("foo_bar"), "PRAGMA 'foo_bar' is not allowed"),
    ("pragma value", lambda db: db.pragma("cache_size", [1]), "PRAGMA value must be int, float, or str"),
]


@pytest.mark.parametrize(("call", "phrase"), [(c, p) for _, c, p in REFUSED], ids=[n for n, _, _ in REFUSED])
def test_refused_calls_say_what_16_said(db: NanaSQLite, call: Callable[[NanaSQLite], Any], phrase: str) -> None:
    db["kept"] = 1
    with pytest.raises(ValueError, match=phrase) as info:
        call(db)
    assert isinstance(info.value, NanaSQLiteValidationError)
    assert db.to_dict() == {"kept": 1}
    assert not db.table_exists("t")


def test_a_column_type_that_is_not_a_str_is_also_a_type_error(db: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="must be a string, not int"):
        db.create_table("t", {"a": 5})
    assert not isinstance(NanaSQLiteTypeError, type) or issubclass(NanaSQLiteTypeError, NanaSQLiteValidationError)


def test_our_detail_is_kept_beside_the_phrase(db: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError, match=r"Invalid where clause: ';' .* at position 3"):
        db.query("data", where="1=1; DROP TABLE data")
    with pytest.raises(NanaSQLiteValidationError, match=r"Invalid identifier 'x-y' \(table name\)"):
        db.create_table("x-y", {"a": "TEXT"})


@pytest.mark.parametrize("what", ["commit", "rollback"])
def test_ending_no_transaction_says_no_transaction_in_progress(db: NanaSQLite, what: str) -> None:
    with pytest.raises(NanaSQLiteTransactionError, match="No transaction in progress"):
        getattr(db, what)()


def test_a_closed_store_says_connection_is_closed(db_path: str) -> None:
    db = NanaSQLite(db_path)
    db["a"] = 1
    db.close()
    for call in (lambda: db["a"], lambda: db.get("a"), lambda: len(db), lambda: db.__setitem__("a", 2)):
        with pytest.raises(NanaSQLiteClosedError, match="Database connection is closed"):
            call()


def test_a_sub_table_of_a_closed_store_says_parent_connection_is_closed(db_path: str) -> None:
    db = NanaSQLite(db_path)
    sub = db.table("sub")
    sub["a"] = 1
    db.close()
    for call in (lambda: sub["a"], lambda: len(sub), lambda: sub.__setitem__("a", 2)):
        with pytest.raises(NanaSQLiteClosedError, match="Parent database connection is closed") as info:
            call()
        assert "connection is closed" in str(info.value)


def test_a_sub_table_closed_on_its_own_is_not_blamed_on_its_parent(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        sub = db.table("sub")
        sub.close()
        with pytest.raises(NanaSQLiteClosedError, match="^Database connection is closed"):
            sub["a"]
        db["a"] = 1
        assert db["a"] == 1


async def test_the_async_store_says_the_same(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path)
    async with db:
        with pytest.raises(NanaSQLiteTransactionError, match="No transaction in progress"):
            await db.commit()
        with pytest.raises(NanaSQLiteValidationError, match="Invalid identifier"):
            await db.create_table("bad name;", {"a": "TEXT"})
    with pytest.raises(NanaSQLiteClosedError, match="connection is closed"):
        await db.aget("a")


def test_the_phrases_are_public_constants() -> None:
    assert messages.INVALID_IDENTIFIER in messages.invalid_identifier("table name", "x;")
    assert messages.PARENT_CLOSED in messages.closed("a.db", "t", parent=True)
    assert messages.CONNECTION_CLOSED in messages.closed("a.db", "t")
    assert messages.NO_TRANSACTION in messages.no_transaction("commit")
    assert messages.MAX_LENGTH in messages.too_long("where clause", 10)


async def test_an_async_sub_table_of_a_closed_store_says_parent_connection_is_closed(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path)
    async with db:
        sub = await db.table("sub")
        await sub.aset("a", 1)
    with pytest.raises(NanaSQLiteClosedError, match="Parent database connection is closed"):
        await sub.aget("a")
    with pytest.raises(NanaSQLiteClosedError, match="^Database connection is closed"):
        await db.aget("a")
