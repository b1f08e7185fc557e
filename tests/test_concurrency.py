"""Several threads and processes on one store or file: nothing acknowledged is lost and the cache agrees with
the file; a second process holding the write lock makes writers wait (busy_timeout) instead of failing."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import apsw
import pytest

from nanasqlite import NanaSQLite, NanaSQLiteDatabaseError

# How long a writer that must be waiting is given to (wrongly) finish; the test fails only if it does finish.
BLOCKED_WINDOW = 0.3
MISSING: Any = object()

STRATEGIES: list[dict[str, Any]] = [
    {},
    {"cache_strategy": "lru", "cache_size": 16},
    {"cache_strategy": "ttl", "cache_ttl": 3600},
]


def run_threads(count: int, work: Any) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return errors


@pytest.mark.parametrize("options", STRATEGIES)
def test_mixed_operations_from_threads_lose_nothing_and_keep_the_cache_true(
    db_path: str, options: dict[str, Any], fast_switching: None
) -> None:
    threads_n, rounds = 4, 250
    shared = [f"shared{i}" for i in range(10)]
    expected: list[dict[str, Any]] = [{} for _ in range(threads_n)]
    db = NanaSQLite(db_path, **options)

    def work(n: int) -> None:
        rng = random.Random(n)
        mine = expected[n]
        own = [f"t{n}-{i}" for i in range(40)]
        for r in range(rounds):
            op = rng.randrange(9)
            key = rng.choice(own)
            if op <= 1:
                value = {"t": n, "r": r, "list": [r] * (r % 4)}
                db[key] = value
                mine[key] = value
            elif op == 2:
                if key in mine:
                    del db[key]
                    del mine[key]
                else:
                    with pytest.raises(KeyError):
                        del db[key]
            elif op == 3:
                batch = {k: [n, r] for k in rng.sample(own, 5)}
                db.batch_update(batch)
                mine.update(batch)
            elif op == 4:
                doomed = rng.sample(own, 3)
                db.batch_delete(doomed)
                for k in doomed:
                    mine.pop(k, None)
            elif op == 5:
                keys = rng.sample(own, 6)
                assert db.batch_get(keys) == {k: mine[k] for k in keys if k in mine}
            elif op == 6:
                assert db.pop(key, MISSING) == mine.pop(key, MISSING)
            elif op == 7:
                db[rng.choice(shared)] = {"t": n, "r": r}
                db.get(rng.choice(shared))
            else:
                assert db.get(key, MISSING) == mine.get(key, MISSING)
                assert (key in db) == (key in mine)

    try:
        errors = run_threads(threads_n, work)
        assert errors == []
        everything = [f"t{n}-{i}" for n in range(threads_n) for i in range(40)] + shared
        with NanaSQLite(db_path) as fresh:
            on_file = fresh.to_dict()
        # Every acknowledged write of every thread is in the file, and nothing else of its keys.
        for n in range(threads_n):
            own_on_file = {k: v for k, v in on_file.items() if k.startswith(f"t{n}-")}
            assert own_on_file == expected[n]
        # The shared keys hold some thread's last write.
        assert all(on_file[k]["t"] in range(threads_n) for k in shared if k in on_file)
        # The store's cache answers exactly what the file holds, key by key.
        assert {k: db.get(k, MISSING) for k in everything} == {k: on_file.get(k, MISSING) for k in everything}
        assert db.to_dict() == on_file
    finally:
        db.close()


def test_readers_never_see_a_value_go_backwards(db: NanaSQLite, fast_switching: None) -> None:
    db["counter"] = 0
    last = 300
    stop = threading.Event()

    def work(n: int) -> None:
        if n == 0:
            for i in range(1, last + 1):
                db["counter"] = i
                if i % 50 == 0:
                    db.refresh("counter")
            stop.set()
            return
        seen = 0
        while not stop.is_set():
            value = db["counter"]
            assert value >= seen
            seen = value
        assert db["counter"] == last

    assert run_threads(3, work) == []


def test_sub_tables_used_from_different_threads(db: NanaSQLite, db_path: str, fast_switching: None) -> None:
    tables = [db.table(f"t{n}") for n in range(3)]

    def work(n: int) -> None:
        table = tables[n]
        for i in range(150):
            table[f"k{i}"] = i
            if i % 3 == 0:
                table.batch_update({f"b{i}": [n]})
        with table.transaction():
            table["done"] = True

    assert run_threads(3, work) == []
    for n in range(3):
        with NanaSQLite(db_path, table=f"t{n}") as fresh:
            assert len(fresh) == 150 + 50 + 1
            assert fresh.to_dict() == tables[n].to_dict()


class _SlowWalk(dict):  # type: ignore[type-arg]
    """The storage of a connection's store registry whose next walk stops after its first entry until another
    thread has added a store (or ``PAUSE`` seconds passed): the thread switch that makes the race, made certain."""

    PAUSE = 0.5

    def __init__(self, entries: dict[Any, Any]) -> None:
        super().__init__(entries)
        self.walking = threading.Event()  # a walk has stopped after its first entry
        self.added = threading.Event()  # an entry was added since

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.added.set()

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        first = not self.walking.is_set()
        for value in dict.values(self):  # dict's own check: RuntimeError if the size changes meanwhile
            yield value
            if first:
                first = False
                self.walking.set()
                self.added.wait(self.PAUSE)


def test_a_sub_table_opened_while_an_sql_write_drops_the_caches(db: NanaSQLite, db_path: str) -> None:
    db["x"] = "old"
    assert db["x"] == "old"  # cached
    registry = db._conn.stores
    walk = _SlowWalk(registry.data)
    registry.data = walk
    opened: list[NanaSQLite] = []

    def open_table() -> None:
        assert walk.walking.wait(10)
        opened.append(db.table("other"))

    thread = threading.Thread(target=open_table)
    thread.start()
    try:
        # The walk over the registry that drops the caches pauses; the other thread opens a sub-table then.
        assert db.sql_update("data", {"value": '"new"'}, "key = ?", ("x",)) == 1
    finally:
        thread.join(10)
    assert not thread.is_alive() and len(opened) == 1
    assert walk.walking.is_set()  # the race was really staged
    with NanaSQLite(db_path) as fresh:
        assert fresh["x"] == "new"
    assert db["x"] == "new"  # no stale cache
    opened[0]["y"] = 1
    db.sql_update("other", {"value": "2"}, "key = ?", ("y",))
    assert opened[0]["y"] == 2  # the new sub-table is registered: its cache is dropped too


def test_sql_writes_while_sub_tables_come_and_go_keep_every_cache_true(
    db: NanaSQLite, db_path: str, fast_switching: None
) -> None:
    """The same race on the real registry: a thread opens sub-tables and drops them (the garbage collector
    removes their entries) in a tight loop while another writes the key-value table through the SQL helpers.
    A long registry makes each walk over it long; the writer stops after ``SECONDS`` or ``ROUNDS``."""
    seconds, rounds = 2.0, 20_000
    many = [db.table(f"t{i % 10}", warn_duplicate_table_instance=False) for i in range(1000)]
    done = threading.Event()
    db["x"] = 0
    finished: list[int] = []

    def work(n: int) -> None:
        if n == 0:
            kept: list[NanaSQLite] = []
            while not done.is_set():
                kept.append(db.table(f"t{len(kept) % 10}", warn_duplicate_table_instance=False))
                if len(kept) > 50:
                    kept.clear()
            return
        try:
            stop = time.monotonic() + seconds
            for i in range(1, rounds + 1):
                assert db["x"] == i - 1  # cached
                db.sql_update("data", {"value": str(i)}, "key = ?", ("x",))
                assert db["x"] == i
                if i % 2:
                    db.execute("UPDATE data SET value = ? WHERE key = 'x'", (str(i),))
                    assert db["x"] == i
                if time.monotonic() > stop:
                    break
            finished.append(i)
        finally:
            done.set()

    assert run_threads(2, work) == []
    with NanaSQLite(db_path) as fresh:
        assert fresh["x"] == finished[0] == db["x"]
    assert len(many) == 1000


# -- a second process ----------------------------------------------------------------------------------------


def _hold_write_lock(path: str, holding: Any, release: Any) -> None:
    con = apsw.Connection(path)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT OR REPLACE INTO data (key, value) VALUES ('child', '\"wrote first\"')")
    holding.set()
    release.wait(60)
    con.execute("COMMIT")
    con.close()


def test_a_writer_waits_for_another_process_holding_the_write_lock(db_path: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    with NanaSQLite(db_path) as db:
        db["before"] = 1
        child = ctx.Process(target=_hold_write_lock, args=(db_path, holding, release))
        child.start()
        try:
            assert holding.wait(60)
            done = threading.Event()
            outcome: list[Any] = []

            def write() -> None:
                try:
                    db["parent"] = "wrote second"
                    outcome.append(None)
                except BaseException as exc:  # reported by the test
                    outcome.append(exc)
                done.set()

            writer = threading.Thread(target=write)
            writer.start()
            assert not done.wait(BLOCKED_WINDOW)  # waiting on the busy timeout, not failed with BusyError
            with NanaSQLite(db_path) as reader:  # WAL: readers are not blocked by the writer
                assert reader["before"] == 1
                assert "child" not in reader
        finally:
            release.set()
            child.join(60)
        writer.join(60)
        assert child.exitcode == 0
        assert outcome == [None]
        assert db.get_fresh("child") == "wrote first"
        assert db["parent"] == "wrote second"


def test_without_a_busy_timeout_a_locked_file_fails_fast(db_path: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    with NanaSQLite(db_path, busy_timeout=0) as db:
        child = ctx.Process(target=_hold_write_lock, args=(db_path, holding, release))
        child.start()
        try:
            assert holding.wait(60)
            with pytest.raises(NanaSQLiteDatabaseError) as info:
                db["parent"] = 1
            assert isinstance(info.value.original_error, apsw.BusyError)
        finally:
            release.set()
            child.join(60)
        assert child.exitcode == 0
        db["parent"] = 1  # the store is usable once the lock is gone
        assert db.to_dict() == {"child": "wrote first", "parent": 1}


def _write_many(path: str, prefix: str, start: Any, count: int) -> None:
    start.wait()
    with NanaSQLite(path) as db:
        for i in range(count):
            if i % 10 == 0:
                db.batch_update({f"{prefix}-batch{i}-{j}": j for j in range(5)})
            db[f"{prefix}-{i}"] = i


def test_processes_writing_one_file_lose_nothing(db: NanaSQLite, db_path: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    count = 200
    procs = [ctx.Process(target=_write_many, args=(db_path, f"p{n}", start, count)) for n in range(2)]
    for p in procs:
        p.start()
    start.set()
    _write_many(db_path, "parent", start, count)
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    expected: dict[str, int] = {}
    for prefix in ("p0", "p1", "parent"):
        expected.update({f"{prefix}-{i}": i for i in range(count)})
        expected.update({f"{prefix}-batch{i}-{j}": j for i in range(0, count, 10) for j in range(5)})
    assert db.to_dict() == expected
