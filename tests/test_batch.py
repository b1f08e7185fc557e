"""Batch reads and writes: one query or transaction each, all-or-nothing, usable inside transactions."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import apsw
import pytest

from nanasqlite import NanaSQLite, NanaSQLiteDatabaseError

BAD_VALUES: list[tuple[Any, type[Exception]]] = [
    ({1, 2}, TypeError),
    (b"bytes", TypeError),
    (object(), TypeError),
    ({"nested": {3: "int key"}}, TypeError),
    (float("nan"), ValueError),
    ([1, float("inf")], ValueError),
    (2**64, ValueError),
    ("lone \ud800 surrogate", ValueError),
]


def file_rows(path: str, table: str = "data") -> dict[str, str]:
    con = apsw.Connection(path)
    try:
        return dict(con.execute(f'SELECT key, value FROM "{table}"').fetchall())
    finally:
        con.close()


# -- batch_get -----------------------------------------------------------------------------------------------


def test_batch_get_returns_existing_keys_in_the_order_asked(db: NanaSQLite) -> None:
    db.update({"a": 1, "b": None, "c": [3]})
    db.clear_cache()
    db["a"]  # one cached, the others not
    result = db.batch_get(["c", "missing", "a", "b"])
    assert result == {"c": [3], "a": 1, "b": None}
    assert list(result) == ["c", "a", "b"]
    db.clear_cache()
    db["b"]
    assert list(db.batch_get(["c", "a", "b"])) == ["c", "a", "b"]  # every key found, one cached
    assert db.batch_get([]) == {}
    assert db.batch_get(["nope"]) == {}


@pytest.mark.parametrize("cached", ["written", "known absent", "read"])
def test_batch_get_keeps_the_order_whatever_the_cache_holds_in_the_middle(db: NanaSQLite, cached: str) -> None:
    # the middle key is known to the cache in some way, its neighbours only to the file
    db.batch_update({"a": 1, "b": 2, "c": 3})
    db.clear_cache()
    if cached == "written":
        db["b"] = 20  # cached as the text it wrote, not decoded yet
    elif cached == "known absent":
        db.pop("b")
    else:
        db["b"]
    expected = {"a": 1, "b": 20, "c": 3} if cached == "written" else {"a": 1, "b": 2, "c": 3}
    if cached == "known absent":
        del expected["b"]
    for asked in (["a", "b", "c"], ["c", "b", "a", "c"]):
        got = db.batch_get(asked)
        assert list(got.items()) == [(k, expected[k]) for k in dict.fromkeys(asked) if k in expected]


def test_changing_the_dict_batch_get_returned_changes_nothing_stored(db: NanaSQLite) -> None:
    db.batch_update({"a": 1, "b": 2})
    db.clear_cache()
    got = db.batch_get(["a", "b"])  # every key from the file: the answer is the dict the cache was filled from
    got["a"] = "changed"
    del got["b"]
    got["c"] = 3
    assert db.batch_get(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert not db.is_cached("c")


def test_batch_get_accepts_any_iterable_and_duplicates(db: NanaSQLite) -> None:
    db.update({"a": 1, "b": 2})
    assert db.batch_get(k for k in ("b", "a", "b")) == {"b": 2, "a": 1}
    assert db.batch_get(("a",)) == {"a": 1}


def test_batch_get_reads_many_uncached_keys(db_path: str) -> None:
    expected = {f"k{i:05}": i for i in range(1500)}
    with NanaSQLite(db_path) as writer:
        writer.batch_update(expected)
    with NanaSQLite(db_path) as db:
        keys = list(expected) + ["absent1", "absent2"]
        assert db.batch_get(keys) == expected
        assert db.is_cached("k00000")
        assert db.is_cached("k01499")


def test_batch_get_caches_hits_and_misses(db: NanaSQLite, db_path: str) -> None:
    with NanaSQLite(db_path) as other:
        other["a"] = 1
        assert db.batch_get(["a", "late"]) == {"a": 1}
        other["a"] = 2
        other["late"] = "arrived"
    assert db.batch_get(["a", "late"]) == {"a": 1}
    db.clear_cache()
    assert db.batch_get(["a", "late"]) == {"a": 2, "late": "arrived"}


def test_batch_get_of_a_value_that_is_not_json_names_the_key(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        db.batch_update({"a": 1, "b": 2})
    con = apsw.Connection(db_path)  # another program wrote something that is not JSON
    con.execute("UPDATE data SET value = 'not json' WHERE key = 'b'")
    con.close()
    with NanaSQLite(db_path) as db:
        with pytest.raises(NanaSQLiteDatabaseError, match="key 'b' is not valid JSON"):
            db.batch_get(["a", "b"])
        with pytest.raises(NanaSQLiteDatabaseError, match="key 'b' is not valid JSON"):
            db["b"]
        assert db.batch_get(["a"]) == {"a": 1}  # the store goes on serving the other keys
        db["b"] = 3
        assert db.batch_get(["a", "b"]) == {"a": 1, "b": 3}


def test_batch_get_under_a_small_lru_cache_returns_every_key(db_path: str) -> None:
    expected = {f"k{i}": [i] for i in range(30)}
    with NanaSQLite(db_path, cache_strategy="lru", cache_size=4) as db:
        db.batch_update(expected)
        assert db.batch_get(list(expected)) == expected
        assert db.batch_get(list(expected)) == expected


# -- batch_update --------------------------------------------------------------------------------------------


def test_batch_update_writes_every_pair(db: NanaSQLite, db_path: str) -> None:
    db["a"] = "old"
    db.batch_update({"a": {"new": 1}, "b": [1, "two"], "c": None})
    assert db.batch_get(["a", "b", "c"]) == {"a": {"new": 1}, "b": [1, "two"], "c": None}
    assert file_rows(db_path) == {"a": '{"new":1}', "b": '[1,"two"]', "c": "null"}


def test_batch_update_accepts_any_mapping(db: NanaSQLite) -> None:
    db.batch_update(OrderedDict([("x", 1), ("y", 2)]))
    assert db.to_dict() == {"x": 1, "y": 2}
    db.batch_update({})
    assert len(db) == 2
    with pytest.raises(TypeError):
        db.batch_update([("z", 1)])  # type: ignore[arg-type]


def test_batch_update_replaces_stale_cached_values(db: NanaSQLite, db_path: str) -> None:
    db["k"] = 1
    assert db.get("gone") is None
    db.batch_update({"k": 2, "gone": "back"})
    assert db["k"] == 2
    assert db["gone"] == "back"


def test_batch_update_of_many_keys_reads_back_in_another_store(db: NanaSQLite, db_path: str) -> None:
    data = {f"key{i}": {"i": i, "s": "é" * (i % 5)} for i in range(5000)}
    db.batch_update(data)
    with NanaSQLite(db_path) as again:
        assert again.to_dict() == data


@pytest.mark.parametrize(("bad", "error"), BAD_VALUES)
def test_batch_update_with_one_bad_value_writes_nothing(
    db: NanaSQLite, db_path: str, bad: Any, error: type[Exception]
) -> None:
    db.batch_update({"keep": "old"})
    before = file_rows(db_path)
    with pytest.raises(error, match="'bad key'"):
        db.batch_update({"keep": "new", "first": 1, "bad key": bad, "last": 2})
    assert file_rows(db_path) == before
    assert db["keep"] == "old"
    assert "first" not in db
    assert "last" not in db


def test_batch_update_with_a_non_str_key_writes_nothing(db: NanaSQLite, db_path: str) -> None:
    with pytest.raises(TypeError):
        db.batch_update({"a": 1, 2: "int key"})  # type: ignore[dict-item]
    assert file_rows(db_path) == {}


def test_update_is_all_or_nothing_too(db: NanaSQLite, db_path: str) -> None:
    with pytest.raises(TypeError, match="'b'"):
        db.update({"a": 1, "b": {1}})
    assert file_rows(db_path) == {}


# -- batch_update_partial ------------------------------------------------------------------------------------


def test_batch_update_partial_writes_the_good_pairs_and_reports_the_bad(db: NanaSQLite, db_path: str) -> None:
    failures = db.batch_update_partial({"good": 1, "set": {1}, "nan": float("nan"), "also good": [2], "big": 2**70})
    assert set(failures) == {"set", "nan", "big"}
    assert all(isinstance(reason, str) and reason for reason in failures.values())
    assert "set" in failures["set"]
    assert file_rows(db_path) == {"good": "1", "also good": "[2]"}
    assert db.to_dict() == {"also good": [2], "good": 1}


def test_batch_update_partial_reports_non_str_keys(db: NanaSQLite) -> None:
    failures = db.batch_update_partial({"ok": 1, 5: "int key"})  # type: ignore[dict-item]
    assert list(failures) == [5]
    assert db.to_dict() == {"ok": 1}


def test_batch_update_partial_with_nothing_bad_returns_no_failures(db: NanaSQLite) -> None:
    assert db.batch_update_partial({"a": 1, "b": 2}) == {}
    assert list(db.batch_update_partial({"c": {1}})) == ["c"]
    assert db.to_dict() == {"a": 1, "b": 2}


# -- batch_delete --------------------------------------------------------------------------------------------


def test_batch_delete_removes_keys_and_ignores_missing_ones(db: NanaSQLite, db_path: str) -> None:
    db.batch_update({"a": 1, "b": 2, "c": 3})
    db.batch_delete(["a", "missing", "c", "a"])
    assert "a" not in db
    assert "c" not in db
    assert db.to_dict() == {"b": 2}
    assert file_rows(db_path) == {"b": "2"}
    db.batch_delete([])
    assert file_rows(db_path) == {"b": "2"}


def test_batch_delete_forgets_cached_values(db: NanaSQLite, db_path: str) -> None:
    db.batch_update({f"k{i}": i for i in range(1200)})
    assert db["k5"] == 5
    db.batch_delete(f"k{i}" for i in range(1000))
    assert db.get("k5") is None
    assert len(db) == 200
    with NanaSQLite(db_path) as again:
        assert again.keys() == sorted(f"k{i}" for i in range(1000, 1200))


def test_batch_delete_with_a_non_str_key_deletes_nothing(db: NanaSQLite) -> None:
    db["a"] = 1
    with pytest.raises(TypeError):
        db.batch_delete(["a", 1])  # type: ignore[list-item]
    assert db["a"] == 1


# -- inside transactions -------------------------------------------------------------------------------------


def test_batches_work_inside_an_explicit_transaction(db: NanaSQLite, db_path: str) -> None:
    db.batch_update({"old": 0})
    db.begin_transaction()
    db.batch_update({"a": 1, "b": 2})
    db.batch_delete(["old"])
    assert db.batch_get(["a", "b", "old"]) == {"a": 1, "b": 2}
    assert db.batch_update_partial({"c": 3, "bad": {1}}).keys() == {"bad"}
    assert file_rows(db_path) == {"old": "0"}  # not committed yet
    db.commit()
    assert file_rows(db_path) == {"a": "1", "b": "2", "c": "3"}
    assert db.to_dict() == {"a": 1, "b": 2, "c": 3}


def test_batches_in_a_rolled_back_transaction_leave_nothing(db: NanaSQLite, db_path: str) -> None:
    db.batch_update({"old": 0})
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.batch_update({"a": 1})
            db.batch_delete(["old"])
            assert db.batch_get(["a", "old"]) == {"a": 1}
            raise RuntimeError("undo")
    assert db.to_dict() == {"old": 0}
    assert db.batch_get(["a", "old"]) == {"old": 0}
    assert file_rows(db_path) == {"old": "0"}


def test_a_failed_batch_inside_a_transaction_keeps_the_transaction_usable(db: NanaSQLite, db_path: str) -> None:
    with db.transaction():
        db["before"] = 1
        with pytest.raises(TypeError, match="'bad'"):
            db.batch_update({"x": 1, "bad": {1}})
        db.batch_update({"after": 2})
    assert file_rows(db_path) == {"before": "1", "after": "2"}


def test_sub_table_batches_join_the_parents_transaction(db: NanaSQLite, db_path: str) -> None:
    users = db.table("users")
    db.begin_transaction()
    users.batch_update({"u1": {"n": 1}, "u2": {"n": 2}})
    db.batch_update({"main": True})
    db.rollback()
    assert file_rows(db_path, "users") == {}
    assert file_rows(db_path) == {}
    assert users.to_dict() == {}


def test_a_small_batch_keeps_what_it_wrote_in_the_cache(db: NanaSQLite) -> None:
    from nanasqlite.core import CACHED_BATCH_LIMIT

    data = {f"k{i}": {"i": i} for i in range(CACHED_BATCH_LIMIT)}
    db.batch_update(data)
    assert all(db.is_cached(k) for k in data)
    assert db.batch_get(list(data)) == data


def test_a_big_batch_forgets_its_keys_and_reads_fill_the_cache_lazily(db: NanaSQLite) -> None:
    from nanasqlite.core import CACHED_BATCH_LIMIT

    db["k0"] = "old"
    assert db["k0"] == "old"
    data = {f"k{i}": {"i": i} for i in range(CACHED_BATCH_LIMIT + 1)}
    db.batch_update(data)
    assert not db.is_cached("k0")  # the old value is gone from the cache, not kept stale
    assert not any(db.is_cached(k) for k in list(data)[:100])
    assert db["k0"] == {"i": 0}
    assert db.is_cached("k0")
    assert db.to_dict() == data
