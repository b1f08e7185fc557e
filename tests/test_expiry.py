"""``cache_persistence_ttl=True``: a key whose cache time is up is deleted from the file too, by a bounded sweep.

Time is a fake clock put into the store's TTL policy; sweeps are run by the test (``sweep()``) or awaited by
event (``wait_pass``), never by sleeping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteValidationError
from nanasqlite.expiry import BATCH, PersistentTTLCache, Sweeper

from .conftest import file_data


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def persistent(store: NanaSQLite) -> tuple[PersistentTTLCache, Sweeper]:
    cache = store._cache
    assert isinstance(cache, PersistentTTLCache) and cache.sweeper is not None
    return cache, cache.sweeper


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(db_path: str, clock: Clock) -> Iterator[NanaSQLite]:
    store = NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=10, cache_persistence_ttl=True)
    persistent(store)[0]._clock = clock  # before anything is cached
    yield store
    store.close()


def test_an_expired_key_leaves_the_file_and_a_rewritten_one_stays(db: NanaSQLite, clock: Clock) -> None:
    db["a"] = 1
    db["b"] = 2
    clock.now += 5
    db["b"] = 3  # its ten seconds start again
    clock.now += 6  # a is due (10 s), b is not (16 s)
    assert persistent(db)[1].sweep() == 1
    assert file_data(db._db_path) == {"b": 3}
    assert "a" not in db and db.get("b") == 3
    clock.now += 5
    persistent(db)[1].sweep()
    assert file_data(db._db_path) == {}


def test_an_expired_key_reads_as_deleted_before_the_sweep(db: NanaSQLite, clock: Clock) -> None:
    db["a"] = 1
    clock.now += 10
    assert db.get("a") is None  # not read back from the file and cached again
    assert "a" not in db
    with pytest.raises(KeyError):
        db["a"]
    assert file_data(db._db_path) == {"a": 1}  # until the sweep
    persistent(db)[1].sweep()
    assert file_data(db._db_path) == {}


def test_a_key_written_again_after_it_expired_is_kept(db: NanaSQLite, clock: Clock) -> None:
    db["a"] = 1
    clock.now += 10
    assert "a" not in db  # expired, waiting for the sweep
    db["a"] = 2  # a new value: a new life
    persistent(db)[1].sweep()
    assert file_data(db._db_path) == {"a": 2}
    assert db["a"] == 2


def test_a_read_starts_the_time_of_a_key_loaded_from_the_file(db_path: str, clock: Clock) -> None:
    with NanaSQLite(db_path) as plain:
        plain["old"] = 1
        plain["untouched"] = 2
    with NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=10, cache_persistence_ttl=True) as db:
        persistent(db)[0]._clock = clock
        assert db["old"] == 1
        clock.now += 10
        persistent(db)[1].sweep()
        assert file_data(db_path) == {"untouched": 2}  # never cached here: it has no deadline to miss


def test_the_sweep_never_deletes_inside_a_transaction(db: NanaSQLite, clock: Clock) -> None:
    db["a"] = 1
    clock.now += 10
    with db.transaction():
        db["b"] = 2
        assert persistent(db)[1].sweep() == 0  # this thread's own transaction: not now
    assert persistent(db)[1].sweep() == 1
    assert file_data(db._db_path) == {"b": 2}


def test_the_sweep_waits_for_another_threads_transaction(db: NanaSQLite, clock: Clock) -> None:
    db["a"] = 1
    clock.now += 10
    inside, release, swept = threading.Event(), threading.Event(), threading.Event()

    def transaction() -> None:
        with db.transaction():
            db["b"] = 2
            inside.set()
            release.wait(10)

    owner = threading.Thread(target=transaction)
    owner.start()
    assert inside.wait(10)
    sweeper = threading.Thread(target=lambda: (persistent(db)[1].sweep(), swept.set()))
    sweeper.start()
    assert not swept.is_set()  # it cannot delete while the transaction holds the store
    release.set()
    owner.join(10)
    sweeper.join(10)
    assert swept.is_set()
    assert file_data(db._db_path) == {"b": 2}


def test_many_expired_keys_are_deleted_in_bounded_batches(db: NanaSQLite, clock: Clock) -> None:
    n = BATCH * 3 + 5
    db.batch_update({f"k{i}": i for i in range(n)})
    db["kept"] = 0
    for i in range(n):
        db[f"k{i}"]  # cached: their time starts
    clock.now += 5
    db["kept"] = 1
    clock.now += 5
    assert persistent(db)[1].sweep() == n
    assert file_data(db._db_path) == {"kept": 1}


def test_one_take_is_bounded(clock: Clock) -> None:
    cache = PersistentTTLCache(1, clock)
    for i in range(BATCH + 10):
        cache.put(f"k{i}", i)
    clock.now += 1
    first = cache.take_expired(BATCH)
    assert len(first) == BATCH
    assert sorted(first + cache.take_expired(BATCH)) == sorted(f"k{i}" for i in range(BATCH + 10))
    assert cache.take_expired(BATCH) == []


def test_the_background_thread_sweeps_and_stops_with_the_store(db_path: str) -> None:
    db = NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=0.02, cache_persistence_ttl=True)
    cache, sweeper = persistent(db)
    db["a"] = 1
    deadline = cache.next_deadline()
    assert deadline is not None
    for _ in range(1000):  # each pass waited for by its event; a pass that began after the deadline deletes it
        if "a" not in file_data(db_path):
            break
        assert sweeper.wait_pass(10)
    assert file_data(db_path) == {}
    thread = sweeper._thread
    db.close()
    thread.join(10)
    assert not thread.is_alive()


def test_sub_tables_inherit_it_and_may_turn_it_off(db: NanaSQLite, clock: Clock) -> None:
    sub = db.table("sessions")
    assert isinstance(sub._cache, PersistentTTLCache)
    plain = db.table("kept", cache_persistence_ttl=False)
    assert not isinstance(plain._cache, PersistentTTLCache)
    persistent(sub)[0]._clock = clock
    sub["s"] = 1
    clock.now += 10
    persistent(sub)[1].sweep()
    assert file_data(db._db_path, "sessions") == {}


def test_it_needs_the_ttl_strategy(db_path: str) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="cache_persistence_ttl=True needs cache_strategy='ttl'"):
        NanaSQLite(db_path, cache_persistence_ttl=True)
    with NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=5) as db:
        assert not isinstance(db._cache, PersistentTTLCache)  # off by default, as in 1.6


async def test_the_async_facade_deletes_expired_keys_too(db_path: str, clock: Clock) -> None:
    async with AsyncNanaSQLite(
        db_path, cache_strategy="ttl", cache_ttl=10, cache_persistence_ttl=True, max_workers=2
    ) as db:
        store = db.sync_db
        assert store is not None
        cache, sweeper = persistent(store)
        cache._clock = clock
        await db.aset("a", 1)
        await db.aset("b", 2)
        clock.now += 10
        await db.aset("b", 3)
        assert await db.aget("a") is None
        thread = threading.Thread(target=sweeper.sweep)  # as the background thread does: not the writer thread
        thread.start()
        thread.join(10)
        assert await db.to_dict() == {"b": 3}
        assert file_data(db_path) == {"b": 3}


def test_it_cannot_be_combined_with_auto_consistency(db_path: str) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="Automatic cache consistency requires immediate persistence"):
        NanaSQLite(db_path, cache_strategy="ttl", cache_ttl=5, cache_persistence_ttl=True, cache_consistency="auto")
