"""The SQL helpers: raw SQL, schema, rows, queries and utilities over the key-value store's connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import apsw
import pytest

from nanasqlite import (
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteDatabaseError,
    NanaSQLiteTransactionError,
    NanaSQLiteValidationError,
)


@pytest.fixture
def users(db: NanaSQLite) -> NanaSQLite:
    db.create_table("users", {"id": "INTEGER PRIMARY KEY", "name": "TEXT NOT NULL", "age": "INTEGER"})
    for name, age in (("alice", 30), ("bob", 20), ("carol", 40)):
        db.sql_insert("users", {"name": name, "age": age})
    return db


# -- raw SQL ------------------------------------------------------------------------------------------------


def test_execute_returns_a_cursor_with_positional_or_named_parameters(users: NanaSQLite) -> None:
    cursor = users.execute("SELECT name FROM users WHERE age > ? ORDER BY name", (25,))
    assert isinstance(cursor, apsw.Cursor)
    assert cursor.fetchall() == [("alice",), ("carol",)]
    assert users.execute("SELECT name FROM users WHERE age = :age", {"age": 20}).fetchall() == [("bob",)]
    assert users.execute("SELECT 1").fetchall() == [(1,)]


def test_execute_refuses_a_str_as_parameters(users: NanaSQLite) -> None:
    # APSW would bind a str letter by letter.
    with pytest.raises(NanaSQLiteValidationError, match="sequence or a mapping"):
        users.execute("SELECT ?, ?", "ab")


def test_sql_errors_carry_the_apsw_error(users: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteDatabaseError) as info:
        users.execute("SELEC nonsense")
    assert isinstance(info.value.original_error, apsw.SQLError)
    with pytest.raises(NanaSQLiteDatabaseError) as info:
        users.sql_insert("users", {"name": None})
    assert isinstance(info.value.original_error, apsw.ConstraintError)


def test_raw_writes_to_the_key_value_table_reach_the_mapping(db: NanaSQLite) -> None:
    db["k"] = "old"
    assert db["k"] == "old"  # cached now
    db.execute("UPDATE data SET value = ? WHERE key = ?", ('"new"', "k"))
    assert db["k"] == "new"
    db.execute_many("INSERT INTO data (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2")])
    assert db.batch_get(["a", "b"]) == {"a": 1, "b": 2}


def test_raw_statements_of_a_script_invalidate_when_they_run(db: NanaSQLite) -> None:
    db["k"] = 1
    assert db["k"] == 1
    cursor = db.execute("SELECT 1; UPDATE data SET value = '2' WHERE key = 'k'")
    assert db["k"] == 1  # the UPDATE has not run yet
    cursor.fetchall()
    assert db["k"] == 2


def test_execute_many_is_atomic(users: NanaSQLite) -> None:
    rows = [(10, "dave", 1), (11, "erin", 2), (10, "again", 3)]
    with pytest.raises(NanaSQLiteDatabaseError, match="UNIQUE"):
        users.execute_many("INSERT INTO users (id, name, age) VALUES (?, ?, ?)", rows)
    assert users.count("users") == 3
    users.execute_many("INSERT INTO users (id, name, age) VALUES (?, ?, ?)", rows[:2])
    assert users.count("users") == 5


def test_execute_many_inside_a_transaction_uses_a_savepoint(users: NanaSQLite) -> None:
    with users.transaction():
        users.sql_insert("users", {"name": "dave"})
        with pytest.raises(NanaSQLiteDatabaseError):
            users.execute_many("INSERT INTO users (id, name) VALUES (?, ?)", [(50, "x"), (50, "y")])
        users.execute_many("INSERT INTO users (id, name) VALUES (?, ?)", [(60, "z")])
    assert [r["name"] for r in users.query("users", ["name"], where="id >= 4", order_by="id")] == [
        "dave",
        "z",
    ]


def test_execute_many_validates_every_parameter_set_first(users: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        users.execute_many("INSERT INTO users (name) VALUES (?)", [("ok",), "bad"])
    assert users.count("users") == 3


def test_fetch_one_and_fetch_all(users: NanaSQLite) -> None:
    assert users.fetch_one("SELECT name, age FROM users ORDER BY age") == ("bob", 20)
    assert users.fetch_one("SELECT name FROM users WHERE age > 100") is None
    assert users.fetch_all("SELECT name FROM users ORDER BY name") == [("alice",), ("bob",), ("carol",)]
    # fetch_one ended its statement: nothing keeps a read open that would block VACUUM.
    users.vacuum()


# -- schema -------------------------------------------------------------------------------------------------


def test_create_table_with_constraints_and_schema(db: NanaSQLite) -> None:
    db.create_table(
        "posts",
        {
            "id": "INTEGER",
            "title": "VARCHAR(200) NOT NULL DEFAULT 'untitled'",
            "score": "REAL CHECK (score >= 0)",
            "created": "TEXT DEFAULT CURRENT_TIMESTAMP",
        },
        primary_key="id",
    )
    schema = {c["name"]: c for c in db.get_table_schema("posts")}
    assert list(schema) == ["id", "title", "score", "created"]
    assert schema["id"]["pk"] is True and schema["title"]["pk"] is False
    assert schema["title"] == {
        "cid": 1,
        "name": "title",
        "type": "VARCHAR(200)",
        "notnull": True,
        "default_value": "'untitled'",
        "pk": False,
    }
    rowid = db.sql_insert("posts", {"id": 7})
    assert rowid == 7
    assert db.query("posts", ["title"]) == [{"title": "untitled"}]
    with pytest.raises(NanaSQLiteDatabaseError, match="CHECK"):
        db.sql_insert("posts", {"id": 8, "score": -1})


def test_create_table_primary_key_must_be_a_column(db: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="not one of the columns"):
        db.create_table("t", {"a": "TEXT"}, primary_key="b")
    assert not db.table_exists("t")


def test_create_table_declared_primary_key_is_not_repeated(db: NanaSQLite) -> None:
    db.create_table("t", {"a": "INTEGER PRIMARY KEY", "b": "TEXT"}, primary_key="a")
    assert [c["pk"] for c in db.get_table_schema("t")] == [True, False]


def test_create_table_if_not_exists(db: NanaSQLite) -> None:
    db.create_table("t", {"a": "TEXT"})
    db.create_table("t", {"a": "TEXT"})
    with pytest.raises(NanaSQLiteDatabaseError, match="already exists"):
        db.create_table("t", {"a": "TEXT"}, if_not_exists=False)


@pytest.mark.parametrize("columns", [{}, [("a", "TEXT")], "a TEXT", None])
def test_create_table_needs_a_dict_of_columns(db: NanaSQLite, columns: Any) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        db.create_table("t", columns)


def test_tables_and_indexes(users: NanaSQLite) -> None:
    assert users.list_tables() == ["data", "users"]
    assert users.table_exists("users") and not users.table_exists("nope")
    users.create_index("ix_age", "users", ["age"])
    users.create_index("ix_name", "users", ["name", "age"], unique=True)
    users.create_index("ix_age", "users", ["age"])  # if_not_exists
    indexes = users.list_indexes("users")
    assert [i["name"] for i in indexes] == ["ix_age", "ix_name"]
    assert indexes[1] == {
        "name": "ix_name",
        "table": "users",
        "sql": 'CREATE UNIQUE INDEX "ix_name" ON "users" ("name", "age")',
    }
    assert users.list_indexes() == indexes
    with pytest.raises(NanaSQLiteDatabaseError, match="UNIQUE"):
        users.sql_insert("users", {"name": "alice", "age": 30})
    users.drop_index("ix_name")
    users.drop_index("ix_name")  # if_exists
    with pytest.raises(NanaSQLiteDatabaseError):
        users.drop_index("ix_name", if_exists=False)
    assert [i["name"] for i in users.list_indexes()] == ["ix_age"]
    users.drop_table("users")
    assert users.list_tables() == ["data"] and users.list_indexes() == []
    with pytest.raises(NanaSQLiteDatabaseError):
        users.drop_table("users", if_exists=False)


def test_create_index_needs_a_list_of_columns(users: NanaSQLite) -> None:
    for columns in ("age", [], None):
        with pytest.raises(NanaSQLiteValidationError):
            users.create_index("ix", "users", columns)  # type: ignore[arg-type]
    assert users.list_indexes() == []


def test_own_table_schema(db: NanaSQLite) -> None:
    assert [(c["name"], c["type"], c["pk"]) for c in db.get_table_schema()] == [
        ("key", "TEXT", True),
        ("value", "TEXT", False),
    ]
    assert db.get_table_schema("missing") == []


@pytest.mark.parametrize(
    ("default", "stored"),
    [("active", "active"), ("'quoted'", "quoted"), ("it's", "it's"), (True, 1), (7, 7), (2.5, 2.5), (-3, -3)],
)
def test_alter_table_add_column_defaults(users: NanaSQLite, default: Any, stored: Any) -> None:
    users.alter_table_add_column("users", "extra", "TEXT" if isinstance(stored, str) else "NUMERIC", default)
    assert {r["extra"] for r in users.query("users", ["extra"])} == {stored}


def test_alter_table_add_column_without_default(users: NanaSQLite) -> None:
    users.alter_table_add_column("users", "email", "TEXT")
    assert users.get_table_schema("users")[-1]["name"] == "email"
    assert users.query("users", ["email"], limit=1) == [{"email": None}]


# -- rows ---------------------------------------------------------------------------------------------------


def test_sql_insert_returns_the_rowid(users: NanaSQLite) -> None:
    assert users.sql_insert("users", {"name": "dave", "age": None}) == 4
    assert users.get_last_insert_rowid() == 4
    assert users.sql_insert("users", {"id": 100, "name": "eve"}) == 100


def test_sql_insert_of_an_empty_dict_uses_the_defaults(db: NanaSQLite) -> None:
    db.create_table("t", {"id": "INTEGER PRIMARY KEY", "v": "TEXT DEFAULT 'd'"})
    assert db.sql_insert("t", {}) == 1
    assert db.query("t") == [{"id": 1, "v": "d"}]


@pytest.mark.parametrize("value", [{"a": 1}, [1], {1}, object()])
def test_sql_insert_refuses_values_sqlite_cannot_store(users: NanaSQLite, value: Any) -> None:
    with pytest.raises(TypeError, match="name"):
        users.sql_insert("users", {"name": value})
    assert users.count("users") == 3


def test_values_of_every_sqlite_type_round_trip(db: NanaSQLite) -> None:
    db.create_table("v", {"x": ""})
    values = [None, 1, -(2**63), 2**63 - 1, 1.5, "text ✓", b"\x00\xff", bytearray(b"ab")]
    for value in values:
        db.sql_insert("v", {"x": value})
    assert [r["x"] for r in db.query("v")] == [
        None,
        1,
        -(2**63),
        2**63 - 1,
        1.5,
        "text ✓",
        b"\x00\xff",
        b"ab",
    ]


def test_sql_update_and_sql_delete_return_row_counts(users: NanaSQLite) -> None:
    assert users.sql_update("users", {"age": 21}, "age < ?", (25,)) == 1
    assert users.sql_update("users", {"age": 0}, "name = :n", {"n": "carol"}) == 1
    assert users.sql_update("users", {"age": 99}, "name = ?", ("nobody",)) == 0
    assert users.query("users", ["name", "age"], order_by="id") == [
        {"name": "alice", "age": 30},
        {"name": "bob", "age": 21},
        {"name": "carol", "age": 0},
    ]
    assert users.sql_delete("users", "age < ?", (25,)) == 2
    assert users.sql_delete("users", "name = :n", {"n": "alice"}) == 1
    assert users.count("users") == 0


def test_sql_update_refuses_numbered_parameters_with_positional_values(users: NanaSQLite) -> None:
    # "?1" would bind the first SET value, not the caller's first parameter.
    with pytest.raises(NanaSQLiteValidationError, match="numbered"):
        users.sql_update("users", {"age": 1}, "name = ?1", ("alice",))
    assert users.query("users", ["age"], where="name = 'alice'") == [{"age": 30}]


def test_sql_update_and_delete_need_a_where_clause(users: NanaSQLite) -> None:
    for where in ("", "   ", None):
        with pytest.raises(NanaSQLiteValidationError):
            users.sql_update("users", {"age": 1}, where)  # type: ignore[arg-type]
        with pytest.raises(NanaSQLiteValidationError):
            users.sql_delete("users", where)  # type: ignore[arg-type]
    with pytest.raises(NanaSQLiteValidationError, match="at least one column"):
        users.sql_update("users", {}, "1")
    assert users.count("users") == 3


def test_upsert_rows(users: NanaSQLite) -> None:
    assert users.upsert("users", {"id": 2, "name": "bobby", "age": 21}) == 2
    assert users.query("users", ["name"], where="id = 2") == [{"name": "bobby"}]
    assert users.upsert("users", {"id": 9, "name": "ivan"}) == 9


def test_upsert_with_conflict_columns_returns_the_updated_row(users: NanaSQLite) -> None:
    users.create_index("ix_name", "users", ["name"], unique=True)
    users.sql_insert("users", {"name": "later", "age": 1})  # last_insert_rowid() is now 4
    assert users.upsert("users", {"name": "alice", "age": 31}, conflict_columns=["name"]) == 1
    assert users.query("users", ["id", "age"], where="name = 'alice'") == [{"id": 1, "age": 31}]
    assert users.upsert("users", {"name": "new", "age": 5}, conflict_columns=["name"]) == 5
    # Every column is a conflict column: nothing to update, nothing written.
    assert users.upsert("users", {"name": "bob"}, conflict_columns=["name"]) == 0
    assert users.upsert("users", {"name": "fresh"}, conflict_columns=["name"]) == 6


def test_upsert_into_a_without_rowid_table(db: NanaSQLite) -> None:
    db.execute("CREATE TABLE w (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID")
    db.upsert("w", {"k": "a", "v": 1}, conflict_columns=["k"])
    db.upsert("w", {"k": "a", "v": 2}, conflict_columns=["k"])
    assert db.query("w") == [{"k": "a", "v": 2}]


def test_upsert_key_value_form(db: NanaSQLite) -> None:
    assert db.upsert("user:1", {"name": "Nana"}) is None
    assert db["user:1"] == {"name": "Nana"}
    assert db.upsert("plain", 5) is None and db["plain"] == 5
    db.create_table("users", {"id": "INTEGER PRIMARY KEY"})
    assert db.upsert("users", {"id": 3}) == 3  # a table of that name exists: a row
    assert "users" not in db


def test_upsert_of_one_dict_writes_this_stores_table(db: NanaSQLite) -> None:
    db["k"] = "old"
    assert db["k"] == "old"
    db.upsert({"key": "k", "value": '"new"'})
    assert db["k"] == "new"


@pytest.mark.parametrize("args", [(), (None, {"a": 1}), ("k", None), (5,)])
def test_upsert_needs_a_target_and_data(db: NanaSQLite, args: tuple[Any, ...]) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        db.upsert(*args)
    assert len(db) == 0


def test_sql_helpers_writing_the_key_value_table_refresh_its_caches(db: NanaSQLite) -> None:
    other = db.table("other")
    db["a"], other["b"] = 1, 2
    assert (db["a"], other["b"]) == (1, 2)
    db.sql_update("data", {"value": "10"}, "key = ?", ("a",))
    assert db["a"] == 10
    db.sql_insert("other", {"key": "c", "value": "3"})
    assert other["c"] == 3
    db.sql_delete("other", "key = 'b'")
    assert "b" not in other
    db.import_from_dict_list("data", [{"key": "d", "value": "4"}])
    assert db["d"] == 4


class Interrupted(Exception):
    """Stands for a KeyboardInterrupt raised by a signal handler while the caches are being dropped."""


SQL_WRITES_TO_THE_KEY_VALUE_TABLE: dict[str, Any] = {
    "sql_update": lambda db: db.sql_update("data", {"value": '"new"'}, "key = ?", ("k",)),
    "sql_delete": lambda db: db.sql_delete("data", "key = ?", ("k",)),
    "sql_insert": lambda db: db.sql_insert("data", {"key": "n", "value": "1"}),
    "upsert": lambda db: db.upsert("data", {"key": "k", "value": '"new"'}),
    "import_from_dict_list": lambda db: db.import_from_dict_list("data", [{"key": "n", "value": "1"}]),
    "execute": lambda db: db.execute("UPDATE data SET value = ? WHERE key = ?", ('"new"', "k")),
    "execute_many": lambda db: db.execute_many("UPDATE data SET value = ? WHERE key = ?", [('"new"', "k")]),
}


@pytest.mark.parametrize("write", SQL_WRITES_TO_THE_KEY_VALUE_TABLE.values(), ids=SQL_WRITES_TO_THE_KEY_VALUE_TABLE)
def test_caches_that_cannot_be_dropped_never_outlive_an_sql_write(
    db_path: str, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store registered first fails to drop its cache; the other's must not be left stale by the write.
    first = NanaSQLite(db_path, table="first")
    db = first.table("data")
    try:
        db["k"] = "old"
        assert (db["k"], "n" in db) == ("old", False)  # cached, the absent key too

        def interrupted() -> None:
            raise Interrupted

        monkeypatch.setattr(first._cache, "clear", interrupted)
        with pytest.raises(Interrupted):
            write(db)
        with NanaSQLite(db_path) as fresh:
            on_file = {key: fresh.get(key, "absent") for key in ("k", "n")}
        assert {key: db.get(key, "absent") for key in ("k", "n")} == on_file
        monkeypatch.undo()
        write(db)
        with NanaSQLite(db_path) as fresh:
            on_file = {key: fresh.get(key, "absent") for key in ("k", "n")}
        assert on_file != {"k": "old", "n": "absent"}
        assert {key: db.get(key, "absent") for key in ("k", "n")} == on_file
    finally:
        first.close()


def test_import_and_export(users: NanaSQLite) -> None:
    rows = [{"name": "dave", "age": 1}, {"age": 2, "name": "erin"}, {"name": "frank"}]
    assert users.import_from_dict_list("users", rows) == 3
    exported = users.export_table_to_dict("users")
    assert exported[-3:] == [
        {"id": 4, "name": "dave", "age": 1},
        {"id": 5, "name": "erin", "age": 2},
        {"id": 6, "name": "frank", "age": None},
    ]
    assert users.import_from_dict_list("users", []) == 0


def test_import_uses_every_key_of_every_row(db: NanaSQLite) -> None:
    db.create_table("t", {"a": "", "b": ""})
    db.import_from_dict_list("t", [{"a": 1}, {"b": 2}])
    assert db.export_table_to_dict("t") == [{"a": 1, "b": None}, {"a": None, "b": 2}]


def test_import_is_atomic(users: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteDatabaseError):
        users.import_from_dict_list("users", [{"name": "ok"}, {"name": None}])
    with pytest.raises(TypeError):
        users.import_from_dict_list("users", [{"name": "ok"}, {"name": ["list"]}])
    with pytest.raises(NanaSQLiteValidationError):
        users.import_from_dict_list("users", [{"name": "ok"}, "not a dict"])  # type: ignore[list-item]
    assert users.count("users") == 3


# -- queries ------------------------------------------------------------------------------------------------


def test_query_defaults_to_this_stores_table(db: NanaSQLite) -> None:
    db["a"] = 1
    assert db.query() == [{"key": "a", "value": "1"}]
    assert db.count() == 1


def test_query_clauses(users: NanaSQLite) -> None:
    assert users.query("users", ["name"], where="age > ?", parameters=(25,), order_by="age DESC") == [
        {"name": "carol"},
        {"name": "alice"},
    ]
    assert users.query("users", ["name"], order_by="name", limit=1) == [{"name": "alice"}]
    assert users.query("users", limit=0) == []
    assert users.query("users", ["name"], where="name = :n", parameters={"n": "bob"}, limit=5) == [{"name": "bob"}]


def test_query_result_keys(users: NanaSQLite) -> None:
    rows = users.query("users", ["name", "age AS years", "COUNT(*) AS n", "upper(name)", '"age"'], order_by="name")
    assert rows == [{"name": "alice", "years": 30, "n": 3, "upper(name)": "ALICE", "age": 30}]
    assert users.query("users", ["*"], where="id = 1") == [{"id": 1, "name": "alice", "age": 30}]
    assert users.query("users", ["users.name"], where="id = 1") == [{"users.name": "alice"}]


def test_query_functions_and_keywords_that_1_6_refused(users: NanaSQLite) -> None:
    assert users.count("users", "id IN (1, 2)") == 2
    assert users.count("users", "CAST(age AS TEXT) = '30'") == 1
    assert users.count("users", "name = 'José'") == 0
    assert users.count("users", "instr(name, 'o') > 0", allowed_sql_functions=["instr"]) == 2
    rows = users.query_with_pagination("users", ["age"], order_by="age * -1", limit=1)
    assert rows == [{"age": 40}]


def test_query_policy_per_call(users: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="INSTR"):
        users.query("users", where="instr(name, 'a') > 0")
    with pytest.warns(UserWarning, match="INSTR") as record:
        rows = users.query("users", ["name"], where="instr(name, 'r') > 0", strict_sql_validation=False)
    assert rows == [{"name": "carol"}]
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.raises(NanaSQLiteValidationError, match="forbidden"):
        users.query("users", ["COUNT(*)"], forbidden_sql_functions=["count"])
    with pytest.raises(NanaSQLiteValidationError, match="UPPER"):
        users.query("users", ["upper(name)"], allowed_sql_functions=["lower"], override_allowed=True)


def test_store_wide_policy_reaches_sub_tables(db_path: str) -> None:
    with NanaSQLite(db_path, allowed_sql_functions=["instr"], forbidden_sql_functions=["upper"]) as db:
        child = db.table("child")
        db.create_table("t", {"a": "TEXT"})
        db.sql_insert("t", {"a": "x"})
        assert child.count("t", "instr(a, 'x') = 1") == 1
        with pytest.raises(NanaSQLiteValidationError, match="UPPER"):
            child.query("t", ["upper(a)"])


@pytest.mark.parametrize("limit", [True, -1, 1.0, "1", 2**63])
def test_limit_and_offset_must_be_non_negative_ints(users: NanaSQLite, limit: Any) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        users.query("users", limit=limit)
    with pytest.raises(NanaSQLiteValidationError):
        users.query_with_pagination("users", limit=1, offset=limit)


def test_pagination(users: NanaSQLite) -> None:
    pages = [
        users.query_with_pagination("users", ["name"], order_by="id", limit=2, offset=offset) for offset in (0, 2, 4)
    ]
    assert pages == [[{"name": "alice"}, {"name": "bob"}], [{"name": "carol"}], []]
    assert users.query_with_pagination("users", ["name"], order_by="id", offset=2) == [{"name": "carol"}]


def test_group_by(users: NanaSQLite) -> None:
    users.sql_insert("users", {"name": "alice", "age": 1})
    rows = users.query_with_pagination(
        "users", ["name", "COUNT(*) AS n", "SUM(age) AS total"], group_by="name", order_by="n DESC, name"
    )
    assert rows[0] == {"name": "alice", "n": 2, "total": 31}
    assert len(rows) == 3


def test_columns_must_be_a_list(users: NanaSQLite) -> None:
    for columns in ("name", [], [1]):
        with pytest.raises(NanaSQLiteValidationError):
            users.query("users", columns)  # type: ignore[arg-type]


def test_count_and_exists(users: NanaSQLite) -> None:
    assert users.count("users") == 3
    assert users.count("users", "age >= ?", (30,)) == 2
    assert users.count("users", "") == 3
    assert users.exists("users", "name = ?", ("bob",)) is True
    assert users.exists("users", "name = :n", {"n": "zed"}) is False


def test_reserved_parameter_names_are_refused(users: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="reserved"):
        users.query("users", where="age > :nanasqlite_limit", parameters={"nanasqlite_limit": 1}, limit=1)


# -- utilities ----------------------------------------------------------------------------------------------


def test_vacuum_reclaims_space(users: NanaSQLite, db_path: str) -> None:
    users.import_from_dict_list("users", [{"name": "x" * 1000} for _ in range(500)])
    users.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    big = users.get_db_size()
    users.sql_delete("users", "length(name) = 1000")
    users.vacuum()
    users.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    assert users.get_db_size() < big / 2
    assert users.get_db_size() == os.path.getsize(db_path)


def test_vacuum_inside_a_transaction_is_refused(db: NanaSQLite) -> None:
    with db.transaction():
        with pytest.raises(NanaSQLiteTransactionError):
            db.vacuum()


def test_in_memory_size_is_zero() -> None:
    with NanaSQLite(":memory:") as db:
        db["a"] = 1
        assert db.get_db_size() == 0


def test_pragma(db: NanaSQLite) -> None:
    assert db.pragma("journal_mode") == "wal"
    assert db.pragma("user_version", 5) is None
    assert db.pragma("user_version") == 5
    db.pragma("foreign_keys", True)
    assert db.pragma("foreign_keys") == 1
    db.pragma("synchronous", "FULL")
    assert db.pragma("synchronous") == 2
    assert db.pragma("FOREIGN_KEYS") == 1
    assert isinstance(db.pragma("schema_version"), int)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("writable_schema", None, "not allowed"),
        ("schema_version", 1, "read-only"),
        ("table_info", "users", "read-only"),
        ("user_version", "1; DROP TABLE data", "PRAGMA value"),
        ("user_version", [1], "PRAGMA value"),
        ("cache_size", float("inf"), "PRAGMA value"),
    ],
)
def test_pragma_refusals(db: NanaSQLite, name: str, value: Any, match: str) -> None:
    with pytest.raises(NanaSQLiteValidationError, match=match):
        db.pragma(name, value)


def test_get_by_path(db: NanaSQLite) -> None:
    db["j"] = {"a": {"b": [1, "123", True, None, 2.5, "true"]}, "n": {"1": "one"}, "s": "x"}
    assert db.get_by_path("j", "a.b") == [1, "123", True, None, 2.5, "true"]
    assert db.get_by_path("j", "$.a.b[1]") == "123"  # a string stays a string
    assert db.get_by_path("j", "a.b[2]") is True
    assert db.get_by_path("j", "a.b[5]") == "true"
    assert db.get_by_path("j", ".a.b[4]") == 2.5
    assert db.get_by_path("j", "n") == {"1": "one"}
    assert db.get_by_path("j", "s") == "x"
    assert db.get_by_path("j", "missing") is None
    assert db.get_by_path("nokey", "a") is None
    db["list"] = [10, 20]
    assert db.get_by_path("list", "[1]") == 20
    assert db.get_by_path("list", "$") == [10, 20]


def test_get_by_path_of_a_sub_table(db: NanaSQLite) -> None:
    other = db.table("other")
    other["k"] = {"v": 1}
    assert other.get_by_path("k", "v") == 1
    assert db.get_by_path("k", "v") is None


# -- every helper of a closed store -------------------------------------------------------------------------

CALLS: dict[str, tuple[Any, ...]] = {
    "execute": ("SELECT 1",),
    "execute_many": ("SELECT ?", [(1,)]),
    "fetch_one": ("SELECT 1",),
    "fetch_all": ("SELECT 1",),
    "create_table": ("t", {"a": "TEXT"}),
    "create_index": ("ix", "users", ["name"]),
    "drop_table": ("users",),
    "drop_index": ("ix",),
    "alter_table_add_column": ("users", "c", "TEXT"),
    "get_table_schema": ("users",),
    "list_tables": (),
    "table_exists": ("users",),
    "list_indexes": (),
    "sql_insert": ("users", {"name": "x"}),
    "sql_update": ("users", {"name": "x"}, "1"),
    "sql_delete": ("users", "1"),
    "upsert": ("users", {"name": "x"}),
    "query": ("users",),
    "query_with_pagination": ("users",),
    "count": ("users",),
    "exists": ("users", "1"),
    "import_from_dict_list": ("users", [{"name": "x"}]),
    "export_table_to_dict": ("users",),
    "vacuum": (),
    "pragma": ("user_version",),
    "get_db_size": (),
    "get_last_insert_rowid": (),
    "get_by_path": ("k", "a"),
    "backup": ("/nonexistent/backup.db",),
    "restore": ("/nonexistent/source.db",),
}


@pytest.fixture
def closed_pair(db_path: str) -> Iterator[tuple[NanaSQLite, NanaSQLite]]:
    db = NanaSQLite(db_path)
    child = db.table("child")
    db.close()
    yield db, child


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_sql_helper_of_a_closed_store_raises_closed(
    closed_pair: tuple[NanaSQLite, NanaSQLite], name: str
) -> None:
    for store in closed_pair:
        with pytest.raises(NanaSQLiteClosedError):
            getattr(store, name)(*CALLS[name])
        # Even bad arguments meet the closed store first.
        with pytest.raises(NanaSQLiteClosedError):
            getattr(store, name)(*([object()] * len(CALLS[name])))
