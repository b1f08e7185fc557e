"""The read cache: lazy and negative caching, bulk loading, refresh, aliasing, and the LRU and TTL policies.

A write through another connection (or process) is not seen by a store whose cache already answers for the
key; ``refresh``/``get_fresh``/``clear_cache`` are how a caller asks for the file's current state.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from nanasqlite import CacheType, NanaSQLite, NanaSQLiteValidationError
from nanasqlite.cache import ABSENT, MISS, LRUCache, Raw, TTLCache, UnboundedCache, make_cache

STRATEGIES: list[dict[str, Any]] = [
    {},
    {"cache_strategy": "lru", "cache_size": 3},
    {"cache_strategy": CacheType.LRU, "cache_size": 1000},
    {"cache_strategy": "ttl", "cache_ttl": 3600},
]


@pytest.fixture
def other(db_path: str) -> Iterator[NanaSQLite]:
    """A second store on the same file: its writes go through another connection."""
    store = NanaSQLite(db_path)
    yield store
    store.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- lazy and negative caching -------------------------------------------------------------------------------


def test_opening_a_store_loads_nothing(db_path: str, other: NanaSQLite) -> None:
    other.update({"a": 1, "b": 2})
    with NanaSQLite(db_path) as db:
        assert not db.is_cached("a")
        assert db["a"] == 1
        assert db.is_cached("a")
        assert not db.is_cached("b")


def test_a_cached_value_hides_later_writes_of_another_connection(db: NanaSQLite, other: NanaSQLite) -> None:
    db["k"] = "mine"
    assert db["k"] == "mine"
    other["k"] = "theirs"
    assert db["k"] == "mine"
    assert db.get_fresh("k") == "theirs"
    assert db["k"] == "theirs"


def test_a_miss_is_cached_until_refreshed(db: NanaSQLite, other: NanaSQLite) -> None:
    assert db.get("late") is None
    other["late"] = "arrived"
    assert db.get("late") is None
    assert "late" not in db
    with pytest.raises(KeyError):
        db["late"]
    assert not db.is_cached("late")
    db.refresh("late")
    assert db["late"] == "arrived"


def test_contains_caches_a_miss_too(db: NanaSQLite, other: NanaSQLite) -> None:
    assert "k" not in db
    other["k"] = 1
    assert "k" not in db
    db.clear_cache()
    assert "k" in db


def test_a_delete_is_cached_as_a_miss(db: NanaSQLite, other: NanaSQLite) -> None:
    db["k"] = 1
    del db["k"]
    other["k"] = 2
    assert "k" not in db
    assert db.get_fresh("k") == 2


def test_iteration_len_and_batch_reads_see_the_file_not_only_the_cache(db: NanaSQLite, other: NanaSQLite) -> None:
    assert db.get("x") is None  # a cached miss
    other.update({"x": 1, "y": 2})
    assert len(db) == 2
    assert db.keys() == ["x", "y"]
    assert db.to_dict() == {"x": 1, "y": 2}


# -- bulk load, load_all, refresh, clear_cache, get_fresh ----------------------------------------------------


def test_bulk_load_caches_everything_at_open(db_path: str, other: NanaSQLite) -> None:
    other.update({f"k{i}": {"i": i} for i in range(200)})
    with NanaSQLite(db_path, bulk_load=True) as db:
        assert all(db.is_cached(f"k{i}") for i in range(200))
        other["k5"] = "changed"
        other["new"] = "added"
        assert db["k5"] == {"i": 5}  # answered from the cache loaded at open
        assert db.batch_get(["k1", "k5"]) == {"k1": {"i": 1}, "k5": {"i": 5}}
        db.refresh()
        assert db.is_cached("k100")
        assert db.is_cached("new")
        assert db["k5"] == "changed"


def test_load_all_fills_the_cache_of_a_lazy_store(db: NanaSQLite, other: NanaSQLite) -> None:
    other.update({"a": 1, "b": [2]})
    assert not db.is_cached("a")
    db.load_all()
    assert db.is_cached("a")
    assert db.is_cached("b")
    other["a"] = "changed"
    assert db["a"] == 1
    assert db["b"] == [2]


def test_load_all_replaces_stale_cached_values(db: NanaSQLite, other: NanaSQLite) -> None:
    db["a"] = 1
    assert db.get("gone") is None
    other["a"] = 2
    other["gone"] = "here now"
    db.load_all()
    assert db["a"] == 2
    assert db["gone"] == "here now"


def test_refresh_of_one_key_forgets_only_that_key(db: NanaSQLite, other: NanaSQLite) -> None:
    db.update({"a": 1, "b": 1})
    assert (db["a"], db["b"]) == (1, 1)
    other.update({"a": 2, "b": 2})
    db.refresh("a")
    assert not db.is_cached("a")
    assert db.is_cached("b")
    assert (db["a"], db["b"]) == (2, 1)


def test_refresh_of_everything_forgets_every_key(db: NanaSQLite, other: NanaSQLite) -> None:
    db.update({"a": 1, "b": 1})
    other.update({"a": 2, "b": 2})
    db.refresh()
    assert not db.is_cached("a")
    assert (db["a"], db["b"]) == (2, 2)


def test_clear_cache_keeps_the_data(db: NanaSQLite, db_path: str) -> None:
    db.update({"a": 1, "b": {"c": 2}})
    db.clear_cache()
    assert not db.is_cached("a")
    assert not db.is_cached("b")
    assert db["b"] == {"c": 2}
    assert len(db) == 2


def test_get_fresh_reads_the_file_and_updates_the_cache(db: NanaSQLite, other: NanaSQLite) -> None:
    db["k"] = 1
    other["k"] = 2
    assert db["k"] == 1
    assert db.get_fresh("k") == 2
    assert db["k"] == 2
    del other["k"]
    assert db.get_fresh("k") is None
    assert db.get_fresh("k", "default") == "default"
    assert "k" not in db


def test_get_fresh_sees_a_write_of_another_process(db: NanaSQLite, db_path: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    db["k"] = "before"
    assert db["k"] == "before"
    code = f"from nanasqlite import NanaSQLite\nwith NanaSQLite({db_path!r}) as d:\n    d['k'] = 'after'\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    assert db["k"] == "before"
    assert db.get_fresh("k") == "after"


def test_is_cached_is_false_for_misses_and_unknown_keys(db: NanaSQLite) -> None:
    assert not db.is_cached("never")
    db.get("never")
    assert not db.is_cached("never")
    db["k"] = 1
    assert db.is_cached("k")


# -- aliasing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", STRATEGIES)
def test_mutating_a_written_object_does_not_change_the_store(db_path: str, options: dict[str, Any]) -> None:
    with NanaSQLite(db_path, **options) as db:
        value = {"list": [1, 2], "inner": {"x": 1}}
        db["k"] = value
        value["list"].append(3)
        value["inner"]["x"] = 99
        value["added"] = True
        assert db["k"] == {"list": [1, 2], "inner": {"x": 1}}
        items = [1, [2]]
        db.batch_update({"b": items})
        items[1].append(3)
        assert db["b"] == [1, [2]]


def test_values_read_are_the_cached_objects(db: NanaSQLite, db_path: str) -> None:
    # Documented behaviour: reads return the cached object itself, so an in-place change is seen by later
    # reads in this process but never reaches the file; write it back (or deepcopy it) to keep it.
    db["k"] = {"items": [1]}
    first = db["k"]
    assert db["k"] is first
    assert db.get("k") is first
    first["items"].append(2)
    assert db["k"] == {"items": [1, 2]}
    with NanaSQLite(db_path) as again:
        assert again["k"] == {"items": [1]}
    db.refresh("k")
    assert db["k"] == {"items": [1]}


def test_writing_a_read_value_back_persists_the_change(db: NanaSQLite, db_path: str) -> None:
    db["k"] = {"n": 1}
    value = db["k"]
    value["n"] = 2
    db["k"] = value
    with NanaSQLite(db_path) as again:
        assert again["k"] == {"n": 2}


def test_a_deep_copy_of_a_read_value_is_independent(db: NanaSQLite) -> None:
    db["k"] = {"n": [1]}
    value = copy.deepcopy(db["k"])
    value["n"].append(2)
    assert db["k"] == {"n": [1]}


# -- LRU -----------------------------------------------------------------------------------------------------


def test_lru_store_keeps_only_the_most_recently_used_keys(db_path: str, other: NanaSQLite) -> None:
    other.update({"a": 1, "b": 1, "c": 1})
    with NanaSQLite(db_path, cache_strategy="lru", cache_size=2) as db:
        assert (db["a"], db["b"]) == (1, 1)
        assert db["a"] == 1  # "a" is now more recent than "b"
        assert db["c"] == 1  # evicts "b"
        assert [db.is_cached(k) for k in "abc"] == [True, False, True]
        other.update({"a": 2, "b": 2, "c": 2})
        # Evicted keys are read again from the file; cached ones are still answered from the cache.
        assert (db["c"], db["a"], db["b"]) == (1, 1, 2)
        assert [db.is_cached(k) for k in "abc"] == [True, True, False]


def test_lru_counts_writes_as_uses(db_path: str) -> None:
    with NanaSQLite(db_path, cache_strategy="lru", cache_size=2) as db:
        db["a"] = 1
        db["b"] = 2
        db["c"] = 3
        assert [db.is_cached(k) for k in "abc"] == [False, True, True]
        assert db.to_dict() == {"a": 1, "b": 2, "c": 3}


@pytest.mark.parametrize(
    "options",
    [
        {"cache_strategy": "lru", "cache_size": 2},
        {"cache_strategy": "ttl", "cache_ttl": 3600},
        {"cache_strategy": "ttl", "cache_ttl": 1e-300},
    ],
)
def test_values_items_and_to_dict_return_the_whole_store(db_path: str, options: dict[str, Any]) -> None:
    expected = {f"k{i:02}": {"i": i} for i in range(50)}
    with NanaSQLite(db_path) as writer:
        writer.update(expected)
    with NanaSQLite(db_path, **options) as db:
        for key in ("k03", "k07", "k11"):
            assert db[key] == expected[key]
        assert db.to_dict() == expected
        assert db.values() == list(expected.values())
        assert db.items() == list(expected.items())
        assert dict(db.copy()) == expected
        assert db == expected
        assert len(db) == 50


def test_lru_store_stays_correct_under_churn(db_path: str) -> None:
    with NanaSQLite(db_path, cache_strategy="lru", cache_size=5) as db:
        expected: dict[str, int] = {}
        for i in range(300):
            key = f"k{i % 37}"
            if i % 7 == 0 and key in expected:
                del db[key]
                del expected[key]
            else:
                db[key] = i
                expected[key] = i
            probe = f"k{(i * 11) % 37}"
            assert db.get(probe) == expected.get(probe)
        assert db.to_dict() == expected
        assert db.batch_get(list(expected)) == expected


# -- TTL -----------------------------------------------------------------------------------------------------


def test_ttl_store_answers_from_the_cache_within_the_ttl(db_path: str, other: NanaSQLite) -> None:
    with NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=3600) as db:
        db["k"] = 1
        assert db["k"] == 1
        other["k"] = 2
        assert db["k"] == 1
        assert db.is_cached("k")


def test_ttl_store_rereads_expired_entries(db_path: str, other: NanaSQLite) -> None:
    # A TTL so small that every entry has expired by the next clock reading: each read goes to the file.
    with NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=1e-300) as db:
        db["k"] = 1
        assert db["k"] == 1
        other["k"] = 2
        assert db["k"] == 2
        assert not db.is_cached("k")
        assert db.get("late") is None
        other["late"] = "seen"
        assert db["late"] == "seen"


def test_ttl_cache_forgets_entries_when_the_ttl_has_passed() -> None:
    clock = FakeClock()
    cache = TTLCache(10.0, clock)
    cache.put("v", {"x": 1})
    cache.put_raw("r", "[1]")
    cache.put_absent("gone")
    clock.now += 9.999
    assert cache.lookup("v") == {"x": 1}
    assert isinstance(cache.lookup("r"), Raw)
    assert cache.lookup("gone") is ABSENT
    assert cache.is_cached("v")
    assert len(cache) == 2
    clock.now += 0.001
    assert cache.lookup("v") is MISS
    assert cache.lookup("r") is MISS
    assert cache.lookup("gone") is MISS
    assert not cache.is_cached("v")
    assert len(cache) == 0


def test_ttl_cache_restarts_the_ttl_on_a_new_write() -> None:
    clock = FakeClock()
    cache = TTLCache(10.0, clock)
    cache.put("k", 1)
    clock.now += 8
    cache.put("k", 2)
    clock.now += 8
    assert cache.lookup("k") == 2
    clock.now += 2
    assert cache.lookup("k") is MISS


def test_make_cache_passes_the_clock_to_the_ttl_policy() -> None:
    clock = FakeClock()
    cache = make_cache("ttl", ttl=5, clock=clock)
    cache.put("k", 1)
    clock.now += 4
    assert cache.lookup("k") == 1
    clock.now += 1
    assert cache.lookup("k") is MISS


def test_ttl_and_lru_policies_answer_only_through_lookup() -> None:
    for cache in (make_cache("ttl", ttl=5), make_cache("lru", size=5)):
        cache.put("k", 1)
        assert cache.hot == {}
        assert cache.lookup("k") == 1


# -- the policies directly -----------------------------------------------------------------------------------


def test_lru_cache_evicts_the_least_recently_used_entry() -> None:
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put_raw("b", "2")
    assert cache.lookup("a") == 1
    cache.put_absent("c")  # a known miss takes a slot too
    assert cache.lookup("b") is MISS
    assert cache.lookup("a") == 1
    assert cache.lookup("c") is ABSENT
    assert cache.is_cached("a")
    assert not cache.is_cached("c")
    assert len(cache) == 1
    cache.discard("a")
    assert cache.lookup("a") is MISS
    cache.clear()
    assert cache.lookup("c") is MISS


def test_unbounded_cache_keeps_decoded_raw_and_absent_entries_apart() -> None:
    cache = UnboundedCache()
    cache.put_raw_many(["a", "b"], ["1", "[2]"])
    assert isinstance(cache.lookup("a"), Raw)
    cache.put("a", 1)
    assert cache.hot == {"a": 1}
    assert cache.lookup("a") == 1
    cache.put_absent("b")
    assert cache.lookup("b") is ABSENT
    assert not cache.is_cached("b")
    cache.put_raw("b", "3")
    assert cache.lookup("b").text == "3"
    assert len(cache) == 2
    cache.discard("a")
    assert cache.lookup("a") is MISS
    cache.clear()
    assert len(cache) == 0


@pytest.mark.parametrize(
    "make", [UnboundedCache, lambda: LRUCache(3), lambda: TTLCache(60.0)], ids=["unbounded", "lru", "ttl"]
)
def test_put_many_replaces_raw_absent_and_old_entries(make: Any) -> None:
    cache = make()
    cache.put_raw("a", "1")
    cache.put_absent("b")
    cache.put("c", "old")
    cache.put_many({"a": [1], "b": {"x": 2}, "c": None})
    assert [cache.lookup(k) for k in "abc"] == [[1], {"x": 2}, None]
    assert all(cache.is_cached(k) for k in "abc")
    assert len(cache) == 3


@pytest.mark.parametrize(
    "make", [UnboundedCache, lambda: LRUCache(10), lambda: TTLCache(60.0)], ids=["unbounded", "lru", "ttl"]
)
def test_lookup_many_answers_as_lookup_does_key_by_key(make: Any) -> None:
    cache = make()
    cache.put("v", {"x": 1})
    cache.put_raw("r", "[1]")
    cache.put_absent("a")
    keys = ["u1", "a", "r", "v", "u2"]
    known, unknown = cache.lookup_many(keys)
    assert unknown == ["u1", "u2"]
    assert list(known) == ["a", "r", "v"]
    assert known["a"] is ABSENT and known["v"] == {"x": 1}
    assert isinstance(known["r"], Raw) and known["r"].text == "[1]"
    for key in keys:  # the same entries as lookup
        entry = cache.lookup(key)
        assert (entry is MISS) == (key in unknown)


def test_put_many_of_a_big_batch_fills_an_unbounded_cache_in_slices() -> None:
    cache = UnboundedCache()
    cache.put_raw("k3", "old")
    values = {f"k{i}": i for i in range(10_000)}  # more than one slice
    cache.put_many(values)
    assert cache.hot == values
    assert cache.lookup("k3") == 3


def test_put_many_on_an_lru_cache_keeps_the_newest() -> None:
    cache = LRUCache(2)
    cache.put_many({"a": 1, "b": 2, "c": 3})
    assert [cache.lookup(k) for k in "abc"] == [MISS, 2, 3]


@pytest.mark.parametrize(
    "args",
    [
        ("nope",),
        ("lru",),
        ("lru", 0),
        ("lru", True),
        ("lru", 1.5),
        ("ttl",),
        ("ttl", None, 0),
        ("ttl", None, True),
    ],
)
def test_make_cache_rejects_bad_options(args: tuple[Any, ...]) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        make_cache(*args)


def test_items_after_bulk_load_decode_each_value_once(db_path: str) -> None:
    with NanaSQLite(db_path) as writer:
        writer.batch_update({f"k{i}": {"i": i} for i in range(50)})
    with NanaSQLite(db_path, bulk_load=True) as db:
        first = db.to_dict()
        second = db.to_dict()
        assert first == second == {f"k{i}": {"i": i} for i in range(50)}
        # the same objects: decoded once, then served from the cache
        assert all(first[k] is second[k] is db[k] for k in first)


def test_items_do_not_fill_the_cache_with_values_it_never_held(db_path: str) -> None:
    with NanaSQLite(db_path) as writer:
        writer.batch_update({f"k{i}": i for i in range(20)})
    with NanaSQLite(db_path) as db:
        assert len(db.items()) == 20
        assert not any(db.is_cached(f"k{i}") for i in range(20))
