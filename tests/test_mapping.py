"""The store as a dict: construction, the whole mapping protocol, sub-tables and the connection settings."""

from __future__ import annotations

import inspect
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import (
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteConnectionError,
    NanaSQLiteValidationError,
)

SAMPLE: dict[str, Any] = {
    "user": {"name": "Nana", "age": 20, "tags": ["a", "b"]},
    "count": 3,
    "ratio": 0.25,
    "flag": False,
    "text": "日本語",
    "nothing": None,
    "empty": {},
}


def pragma(db: NanaSQLite, name: str) -> Any:
    """A PRAGMA as seen by the store's own connection (most settings are per connection)."""
    return db.pragma(name)


def file_rows(path: str, table: str = "data") -> dict[str, str]:
    """The raw rows of a table, read through a second connection."""
    con = apsw.Connection(path)
    try:
        return dict(con.execute(f'SELECT key, value FROM "{table}"').fetchall())
    finally:
        con.close()


# -- construction --------------------------------------------------------------------------------------------


def test_constructor_signature_is_the_documented_one() -> None:
    params = inspect.signature(NanaSQLite).parameters
    positional = [n for n, p in params.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == [
        "db_path",
        "table",
        "bulk_load",
        "optimize",
        "cache_size_mb",
        "strict_sql_validation",
        "validator",
        "coerce",
    ]
    assert [params[n].default for n in positional[1:]] == ["data", False, True, 64, True, None, False]
    keyword_only = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert {"cache_strategy", "cache_size", "cache_ttl", "busy_timeout", "lock_timeout"} <= keyword_only
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_positional_arguments_are_accepted_in_the_1_6_order(db_path: str) -> None:
    with NanaSQLite(db_path, "items", False, True, 8, True) as db:
        db["k"] = 1
        assert pragma(db, "cache_size") == -8 * 1024
    assert file_rows(db_path, "items") == {"k": "1"}


def test_unknown_keyword_raises_type_error(db_path: str) -> None:
    with pytest.raises(TypeError, match="bogus"):
        NanaSQLite(db_path, bogus=True)  # type: ignore[call-arg]


def test_cache_options_are_keyword_only(db_path: str) -> None:
    with pytest.raises(TypeError):
        NanaSQLite(db_path, "data", False, True, 64, True, None, False, "lru")  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cache_strategy": "nope"},
        {"cache_strategy": "lru"},
        {"cache_strategy": "lru", "cache_size": 0},
        {"cache_strategy": "ttl"},
        {"cache_strategy": "ttl", "cache_ttl": -1},
        {"cache_size_mb": 0},
        {"busy_timeout": -1},
    ],
)
def test_invalid_options_raise_a_validation_error_that_is_a_value_error(db_path: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(NanaSQLiteValidationError) as info:
        NanaSQLite(db_path, **kwargs)
    assert isinstance(info.value, ValueError)


def test_db_path_must_be_a_path(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="db_path must be a str, bytes or os.PathLike, not int"):
        NanaSQLite(3)  # type: ignore[arg-type]
    NanaSQLite(tmp_path / "x.db").close()  # a pathlib.Path is a path (test_paths.py has the rest)


def test_unopenable_path_raises_connection_error(tmp_path: Path) -> None:
    with pytest.raises(NanaSQLiteConnectionError):
        NanaSQLite(str(tmp_path / "missing-dir" / "x.db"))


def test_file_is_opened_in_wal_mode_with_normal_sync_and_a_busy_timeout(db_path: str) -> None:
    with NanaSQLite(db_path, cache_size_mb=16) as db:
        assert pragma(db, "journal_mode") == "wal"
        assert pragma(db, "synchronous") == 1  # NORMAL
        assert pragma(db, "cache_size") == -16 * 1024  # negative: KiB
        assert pragma(db, "busy_timeout") > 0
    con = apsw.Connection(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persisted in the file
    con.close()


def test_busy_timeout_option_sets_the_connection_timeout(db_path: str) -> None:
    with NanaSQLite(db_path, busy_timeout=1.5) as db:
        assert pragma(db, "busy_timeout") == 1500


def test_memory_database_works_as_a_dict() -> None:
    with NanaSQLite(":memory:") as db:
        db.update(SAMPLE)
        assert db.to_dict() == SAMPLE
        sub = db.table("other")
        sub["x"] = [1]
        assert sub["x"] == [1]
        assert "x" not in db


# -- storage format ------------------------------------------------------------------------------------------


def test_table_has_the_1_6_schema_and_holds_compact_json_text(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        db["user"] = {"name": "ナナ", "tags": ("a", 1.5, None, True)}
    con = apsw.Connection(db_path)
    columns = [(r[1], r[2], r[5]) for r in con.execute('PRAGMA table_info("data")')]
    assert columns == [("key", "TEXT", 1), ("value", "TEXT", 0)]
    value, kind = con.execute("SELECT value, typeof(value) FROM data WHERE key = 'user'").fetchone()
    con.close()
    assert kind == "text"
    assert value == '{"name":"ナナ","tags":["a",1.5,null,true]}'


# -- the mapping protocol ------------------------------------------------------------------------------------


def test_store_is_a_mutable_mapping(db: NanaSQLite) -> None:
    assert isinstance(db, MutableMapping)


def test_set_get_and_contains_round_trip_every_json_type(db: NanaSQLite, db_path: str) -> None:
    for key, value in SAMPLE.items():
        db[key] = value
    for key, value in SAMPLE.items():
        assert key in db
        assert db[key] == value
    with NanaSQLite(db_path) as again:
        assert again.to_dict() == SAMPLE


def test_tuples_are_stored_as_lists(db: NanaSQLite) -> None:
    db["t"] = (1, (2, 3))
    db.clear_cache()
    assert db["t"] == [1, [2, 3]]


def test_overwrite_replaces_the_value(db: NanaSQLite, db_path: str) -> None:
    db["k"] = 1
    db["k"] = {"now": "a dict"}
    assert db["k"] == {"now": "a dict"}
    assert file_rows(db_path) == {"k": '{"now":"a dict"}'}


def test_missing_key_raises_key_error(db: NanaSQLite) -> None:
    with pytest.raises(KeyError):
        db["missing"]
    assert "missing" not in db
    assert db.get("missing") is None
    assert db.get("missing", 7) == 7


def test_stored_none_is_a_value_not_a_miss(db: NanaSQLite, db_path: str) -> None:
    db["n"] = None
    assert db["n"] is None
    assert "n" in db
    assert db.get("n", "default") is None
    assert len(db) == 1
    assert db.batch_get(["n", "absent"]) == {"n": None}
    with NanaSQLite(db_path) as again:
        assert "n" in again
        assert again["n"] is None
        assert again.get("n", "default") is None
    assert db.pop("n", "default") is None
    assert "n" not in db


def test_setting_a_non_str_key_raises_type_error(db: NanaSQLite) -> None:
    for key in (1, 1.5, None, b"k", ("t",)):
        with pytest.raises(TypeError):
            db[key] = 1  # type: ignore[index]
        with pytest.raises(TypeError):
            db.setdefault(key, 1)  # type: ignore[arg-type]
    assert len(db) == 0


def test_reading_a_non_str_key_is_a_miss(db: NanaSQLite) -> None:
    db["1"] = "one"
    with pytest.raises(KeyError):
        db[1]  # type: ignore[index]
    assert db.get(1) is None  # type: ignore[arg-type]
    assert db.get(1, "d") == "d"  # type: ignore[arg-type]
    assert 1 not in db
    with pytest.raises(KeyError):
        del db[1]  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        db.pop(1)  # type: ignore[arg-type]
    assert db.pop(1, "d") == "d"  # type: ignore[arg-type]
    assert db["1"] == "one"


def test_unstorable_value_raises_and_leaves_the_old_value(db: NanaSQLite, db_path: str) -> None:
    db["k"] = "old"
    with pytest.raises(TypeError, match="'k'"):
        db["k"] = {1, 2}
    with pytest.raises(ValueError, match="'k'"):
        db["k"] = float("nan")
    with pytest.raises(ValueError, match="'k'"):
        db["k"] = 2**64
    with pytest.raises(TypeError, match="'k'"):
        db["k"] = {1: "int dict key"}
    assert db["k"] == "old"
    assert file_rows(db_path) == {"k": '"old"'}


def test_delete_removes_the_key_from_cache_and_file(db: NanaSQLite, db_path: str) -> None:
    db["a"] = 1
    db["b"] = 2
    del db["a"]
    assert "a" not in db
    with pytest.raises(KeyError):
        db["a"]
    with pytest.raises(KeyError):
        del db["a"]
    assert file_rows(db_path) == {"b": "2"}


def test_len_iteration_and_keys_cover_the_whole_store(db: NanaSQLite) -> None:
    db.update({"b": 2, "a": 1, "c": 3})
    db.clear_cache()
    assert len(db) == 3
    assert db.keys() == ["a", "b", "c"]
    assert list(db) == ["a", "b", "c"]
    assert sorted(db.values()) == [1, 2, 3]
    assert db.items() == [("a", 1), ("b", 2), ("c", 3)]


def test_iteration_sees_keys_written_by_another_connection(db: NanaSQLite, db_path: str) -> None:
    db["mine"] = 1
    with NanaSQLite(db_path) as other:
        other["theirs"] = 2
    assert set(db) == {"mine", "theirs"}
    assert len(db) == 2


def test_get_pop_popitem_and_setdefault(db: NanaSQLite, db_path: str) -> None:
    db.update({"a": 1, "b": [2], "c": 3})
    assert db.pop("b") == [2]
    assert db.pop("b", "gone") == "gone"
    with pytest.raises(KeyError):
        db.pop("b")
    assert db.popitem() == ("a", 1)
    assert db.setdefault("c", 99) == 3
    assert db.setdefault("d", {"new": True}) == {"new": True}
    assert db.setdefault("e") is None
    assert "e" in db
    assert file_rows(db_path) == {"c": "3", "d": '{"new":true}', "e": "null"}
    db.clear()
    with pytest.raises(KeyError):
        db.popitem()


def test_update_accepts_a_mapping_pairs_and_keywords(db: NanaSQLite) -> None:
    db.update({"a": 1})
    db.update([("b", 2), ("c", 3)])
    db.update(d=4)
    db.update({"a": 10}, e=5)
    assert db.to_dict() == {"a": 10, "b": 2, "c": 3, "d": 4, "e": 5}


def test_clear_deletes_every_key_of_the_table_only(db: NanaSQLite, db_path: str) -> None:
    db.update({"a": 1, "b": 2})
    other = db.table("other")
    other["x"] = 1
    db.clear()
    assert len(db) == 0
    assert "a" not in db
    assert db.to_dict() == {}
    assert file_rows(db_path) == {}
    assert other.to_dict() == {"x": 1}


def test_copy_and_to_dict_are_independent_plain_dicts(db: NanaSQLite) -> None:
    db.update(SAMPLE)
    for snapshot in (db.copy(), db.to_dict()):
        assert type(snapshot) is dict
        assert snapshot == SAMPLE
        snapshot["count"] = 1000
        snapshot.pop("user")
    assert db["count"] == 3
    assert "user" in db


def test_equality_compares_contents(db: NanaSQLite, tmp_path: Path) -> None:
    db.update({"a": 1, "b": [1, 2]})
    assert db == {"b": [1, 2], "a": 1}
    assert db != {"a": 1}
    assert db != {"a": 1, "b": [1, 2], "c": None}
    assert db != 5
    assert db == db
    with NanaSQLite(str(tmp_path / "other.db")) as other:
        other.update({"a": 1, "b": [1, 2]})
        assert db == other
        other["c"] = 3
        assert db != other


def test_store_is_not_hashable(db: NanaSQLite) -> None:
    with pytest.raises(TypeError):
        hash(db)


def test_repr_names_the_file_and_table_and_survives_close(db_path: str) -> None:
    db = NanaSQLite(db_path, table="things")
    assert db_path in repr(db)
    assert "things" in repr(db)
    db.close()
    assert "closed" in repr(db)


def test_with_block_closes_the_store(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        db["k"] = "v"
        assert not db.closed
    assert db.closed
    with pytest.raises(NanaSQLiteClosedError):
        db["k"]
    with NanaSQLite(db_path) as again:
        assert again["k"] == "v"


def test_with_block_closes_the_store_on_error(db_path: str) -> None:
    with pytest.raises(RuntimeError):
        with NanaSQLite(db_path) as db:
            db["k"] = "v"
            raise RuntimeError
    assert db.closed
    assert file_rows(db_path) == {"k": '"v"'}


def test_close_is_idempotent(db_path: str) -> None:
    db = NanaSQLite(db_path)
    db["k"] = 1
    db.close()
    db.close()
    assert db.closed
    with NanaSQLite(db_path) as again:
        assert again["k"] == 1


def test_writes_are_committed_when_they_return(db: NanaSQLite, db_path: str) -> None:
    db["k"] = {"v": 1}
    db.update({"a": 1})
    del db["a"]
    assert file_rows(db_path) == {"k": '{"v":1}'}


def test_unicode_and_odd_keys(db: NanaSQLite, db_path: str) -> None:
    keys = ["", " ", "名前", "emoji 😀", "quote'\"", "semi;colon -- comment", "a" * 1000, "nul\x00byte"]
    for i, key in enumerate(keys):
        db[key] = i
    with NanaSQLite(db_path) as again:
        assert {k: again[k] for k in keys} == {k: i for i, k in enumerate(keys)}
        assert sorted(again.keys()) == sorted(keys)


def test_large_value_round_trips(db: NanaSQLite, db_path: str) -> None:
    big = {"rows": [{"i": i, "s": "x" * 50} for i in range(5000)]}
    db["big"] = big
    with NanaSQLite(db_path) as again:
        assert again["big"] == big


# -- sub-tables ----------------------------------------------------------------------------------------------


def test_sub_table_is_a_separate_table_in_the_same_file(db: NanaSQLite, db_path: str) -> None:
    users = db.table("users")
    users["alice"] = {"age": 30}
    db["alice"] = "main"
    assert users["alice"] == {"age": 30}
    assert db["alice"] == "main"
    assert file_rows(db_path, "users") == {"alice": '{"age":30}'}
    assert file_rows(db_path, "data") == {"alice": '"main"'}
    with NanaSQLite(db_path, table="users") as direct:
        assert direct.to_dict() == {"alice": {"age": 30}}


def test_sub_table_shares_the_connection_and_its_transactions(db: NanaSQLite, db_path: str) -> None:
    users = db.table("users")
    db.begin_transaction()
    users["in_tx"] = 1
    db["in_tx"] = 1
    assert users.in_transaction()
    db.rollback()
    assert "in_tx" not in users
    assert file_rows(db_path, "users") == {}
    with users.transaction():
        users["kept"] = 1
        assert db.in_transaction()
    assert file_rows(db_path, "users") == {"kept": "1"}


def test_sub_table_has_its_own_cache(db: NanaSQLite) -> None:
    users = db.table("users")
    db["k"] = "main"
    users["k"] = "users"
    assert db["k"] == "main"
    assert users["k"] == "users"
    users.clear_cache()
    assert db.is_cached("k")
    assert not users.is_cached("k")
    db.clear()
    assert users["k"] == "users"


def test_sub_table_inherits_cache_settings_and_may_override_them(db_path: str) -> None:
    with NanaSQLite(db_path, cache_strategy="lru", cache_size=2) as db:
        inherited = db.table("inherited")
        inherited.update({"a": 1, "b": 2, "c": 3})
        for key in ("a", "b", "c"):
            inherited[key]
        assert [inherited.is_cached(k) for k in ("a", "b", "c")] == [False, True, True]

        overridden = db.table("overridden", cache_strategy="unbounded")
        overridden.update({"a": 1, "b": 2, "c": 3})
        for key in ("a", "b", "c"):
            overridden[key]
        assert all(overridden.is_cached(k) for k in ("a", "b", "c"))


def test_sub_table_of_a_sub_table_works(db: NanaSQLite, db_path: str) -> None:
    grandchild = db.table("one").table("two")
    grandchild["k"] = 1
    assert file_rows(db_path, "two") == {"k": "1"}


def test_sub_table_names_are_quoted_not_interpolated(db: NanaSQLite, db_path: str) -> None:
    name = 'odd "name"; DROP TABLE data; --'
    db["safe"] = True
    odd = db.table(name)
    odd["k"] = 1
    assert odd["k"] == 1
    assert file_rows(db_path) == {"safe": "true"}
    with pytest.raises(NanaSQLiteValidationError):
        db.table("")


def test_closing_the_parent_closes_its_sub_tables(db_path: str) -> None:
    db = NanaSQLite(db_path)
    users = db.table("users")
    users["k"] = 1
    db.close()
    assert users.closed
    with pytest.raises(NanaSQLiteClosedError):
        users["k"]
    with pytest.raises(NanaSQLiteClosedError):
        users["k"] = 2
    with pytest.raises(NanaSQLiteClosedError):
        users.keys()
    with pytest.raises(NanaSQLiteClosedError):
        users.table("more")
    users.close()


def test_closing_a_sub_table_leaves_the_parent_open(db: NanaSQLite) -> None:
    users = db.table("users")
    users["k"] = 1
    users.close()
    assert users.closed
    with pytest.raises(NanaSQLiteClosedError):
        users["k"]
    db["still"] = "open"
    assert db["still"] == "open"
    assert db.table("users")["k"] == 1


def test_reopening_a_table_sees_what_was_written(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        db.table("t")["k"] = [1, 2]
    with NanaSQLite(db_path) as db:
        assert db.table("t").to_dict() == {"k": [1, 2]}


# -- paged iteration -----------------------------------------------------------------------------------------


def test_iter_items_pages_through_the_whole_store_in_key_order(db: NanaSQLite) -> None:
    data = {f"k{i:03}": {"i": i} for i in range(25)}
    db.batch_update(data)
    for size in (1, 7, 25, 1000):
        assert list(db.iter_items(batch_size=size)) == sorted(data.items())
    db.clear()
    assert list(db.iter_items()) == []


def test_iter_items_rejects_a_bad_batch_size(db: NanaSQLite) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(NanaSQLiteValidationError):
            list(db.iter_items(batch_size=bad))  # type: ignore[arg-type]


def test_flush_is_a_harmless_no_op(db: NanaSQLite, db_path: str) -> None:
    db["k"] = 1
    db.flush()
    db.flush(wait=True)
    assert file_rows(db_path) == {"k": "1"}
