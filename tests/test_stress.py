"""A randomised stress of the store's concurrency: sync threads and async tasks mixing single and batch writes,
deletes, transactions with nesting and cancellation, sub-tables and multi-key reads, checking invariants.

Keys come in pairs (``p3:a``, ``p3:b``) that are only ever written, deleted or rolled back together, with the same
value. The invariants:

* keys written together are read together: every multi-key read (``batch_get``, ``to_dict``, ``items``) shows
  each pair whole (both present with one value) or absent;
* the cache equals the file: once everything stops, every entry of every cache matches a fresh connection, and
  so does ``to_dict()``;
* nothing hangs: every actor runs bounded in count and time, and the whole run has a deadline.

It runs ``NANASQLITE_STRESS_SECONDS`` (default 2) per scenario; set it higher for a soak, and
``NANASQLITE_STRESS_SEED`` to replay a run (the seed is in the failure message).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from typing import Any

import apsw
import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteError
from nanasqlite.cache import ABSENT, MISS, Raw

SECONDS = float(os.environ.get("NANASQLITE_STRESS_SECONDS", "2"))
SEED = int(os.environ.get("NANASQLITE_STRESS_SEED", str(random.randrange(1 << 30))))
PAIRS = 12
CAP = 100_000  # most operations of one actor, whatever the time
HANG = 60 + 2 * SECONDS  # the whole scenario's deadline


def pair(p: int) -> list[str]:
    return [f"p{p}:a", f"p{p}:b"]


class Check:
    """Collects invariant violations (raising inside an actor would only stop that actor)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.ops = 0

    def pairs_whole(self, where: str, data: dict[str, Any]) -> None:
        for p in range(PAIRS):
            a, b = pair(p)
            if (a in data) != (b in data) or data.get(a) != data.get(b):
                self.errors.append(f"{where}: pair {p} torn: {data.get(a, '-')!r} / {data.get(b, '-')!r}")


def file_table(path: str, table: str) -> dict[str, Any]:
    con = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {k: json.loads(v) for k, v in con.execute(f'SELECT key, value FROM "{table}"')}
    finally:
        con.close()


def cache_matches_file(where: str, store: NanaSQLite, on_file: dict[str, Any], check: Check) -> None:
    for p in range(PAIRS):
        for key in pair(p):
            entry = store._cache.lookup(key)
            if type(entry) is Raw:
                entry = json.loads(entry.text) if entry.text is not None else None
            if entry is MISS:
                continue
            expected = on_file.get(key, ABSENT)
            if entry is not expected and entry != expected:
                check.errors.append(f"{where}: cache has {key}={entry!r}, the file {expected!r}")


# -- the sync store, threads -------------------------------------------------------------------------------------


def sync_actor(store: NanaSQLite, seed: int, stop: float, check: Check) -> None:
    rnd = random.Random(seed)
    for n in range(CAP):
        if time.monotonic() > stop:
            return
        p = rnd.randrange(PAIRS)
        keys = pair(p)
        value = seed * CAP + n
        op = rnd.random()
        try:
            if op < 0.25:
                store.batch_update(dict.fromkeys(keys, value))
            elif op < 0.4:
                with store.transaction():
                    store[keys[0]] = value
                    store[keys[1]] = value
            elif op < 0.5:
                try:
                    with store.transaction():
                        store[keys[0]] = -1
                        with store.transaction():
                            store[keys[1]] = -1
                        raise LookupError("rolled back whole")
                except LookupError:
                    pass
            elif op < 0.6:
                store.batch_delete(keys)
            elif op < 0.85:
                got = store.batch_get(keys)
                check.pairs_whole(f"sync batch_get {keys}", got)
            else:
                check.pairs_whole("sync to_dict", store.to_dict())
            check.ops += 1
        except NanaSQLiteError as exc:  # a busy file past busy_timeout would be a bug here too
            check.errors.append(f"sync actor {seed}: {exc!r}")
            return


@pytest.mark.parametrize("threads", [4])
def test_sync_threads_keep_pairs_whole_and_the_cache_true(db_path: str, threads: int) -> None:
    check = Check()
    seed = SEED
    with NanaSQLite(db_path) as store:
        stop = time.monotonic() + SECONDS
        workers = [threading.Thread(target=sync_actor, args=(store, seed + i, stop, check)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(HANG)
        assert not any(w.is_alive() for w in workers), f"seed {seed}: an actor hangs"
        on_file = file_table(db_path, "data")
        check.pairs_whole("file", on_file)
        cache_matches_file("sync", store, on_file, check)
        assert store.to_dict() == on_file
    assert check.ops > 0
    assert check.errors == [], f"seed {seed}: {check.errors[:5]}"


# -- the async store: tasks, transactions, cancellation, sub-tables, and sync_db from threads ----------------------


async def async_writer(db: AsyncNanaSQLite, rnd: random.Random, stop: float, check: Check, tag: int) -> None:
    for n in range(CAP):
        if time.monotonic() > stop:
            return
        keys = pair(rnd.randrange(PAIRS))
        value = tag * CAP + n
        op = rnd.random()
        if op < 0.3:
            await db.batch_update(dict.fromkeys(keys, value))
        elif op < 0.45:
            await db.batch_delete(keys)
        elif op < 0.75:
            await in_transaction(db, rnd, keys, value)
        else:  # the same, in a task cancelled at a random point: all of it or none of it
            task = asyncio.create_task(in_transaction(db, rnd, keys, value))
            await asyncio.sleep(rnd.random() * 0.002)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        check.ops += 1


async def in_transaction(db: AsyncNanaSQLite, rnd: random.Random, keys: list[str], value: int) -> None:
    async with db.transaction():
        await db.aset(keys[0], value)
        if rnd.random() < 0.3:  # a nested block that fails: only it is undone
            try:
                async with db.transaction():
                    await db.aset(keys[1], -1)
                    await db.aset(keys[0], -1)
                    raise LookupError("inner only")
            except LookupError:
                pass
        if rnd.random() < 0.3:  # sibling tasks, each with a nested block on its own pair
            others = [pair(rnd.randrange(PAIRS)) for _ in range(2)]
            await asyncio.gather(*(nested_pair(db, other, value) for other in others if other != keys))
        await db.aset(keys[1], value)


async def nested_pair(db: AsyncNanaSQLite, keys: list[str], value: int) -> None:
    async with db.transaction():
        await db.aset(keys[0], value)
        await asyncio.sleep(0)
        await db.aset(keys[1], value)


async def async_reader(db: AsyncNanaSQLite, rnd: random.Random, stop: float, check: Check) -> None:
    for _ in range(CAP):
        if time.monotonic() > stop:
            return
        op = rnd.random()
        if op < 0.6:
            keys = pair(rnd.randrange(PAIRS)) + pair(rnd.randrange(PAIRS))
            check.pairs_whole(f"abatch_get {keys}", await db.abatch_get(keys))
        elif op < 0.75:
            check.pairs_whole("ato_dict", await db.to_dict())
        elif op < 0.85:
            check.pairs_whole("aitems", dict(await db.aitems()))
        elif op < 0.95:
            await db.arefresh(pair(rnd.randrange(PAIRS))[rnd.randrange(2)])  # misses and fills race the writes
        else:
            await db.clear_cache()
        check.ops += 1


def sync_db_actor(db: AsyncNanaSQLite, seed: int, stop: float, check: Check) -> None:
    """A thread of the program using the async store's sync_db (supported: see AsyncNanaSQLite.sync_db)."""
    store = db.sync_db
    assert store is not None
    rnd = random.Random(seed)
    for n in range(CAP):
        if time.monotonic() > stop:
            return
        keys = pair(rnd.randrange(PAIRS))
        if rnd.random() < 0.5:
            store.batch_update(dict.fromkeys(keys, seed * CAP + n))
        else:
            check.pairs_whole(f"sync_db batch_get {keys}", store.batch_get(keys))
        check.ops += 1


@pytest.mark.parametrize("options", [{}, {"cache_strategy": "lru", "cache_size": 5}], ids=["unbounded", "lru"])
async def test_async_tasks_and_threads_keep_pairs_whole_and_the_cache_true(
    db_path: str, options: dict[str, Any]
) -> None:
    check = Check()
    seed = SEED
    rnd = random.Random(seed)
    loop = asyncio.get_running_loop()
    async with AsyncNanaSQLite(db_path, max_workers=3, **options) as db:
        sub = await db.table("sub")
        stop = time.monotonic() + SECONDS
        actors = [
            *(async_writer(db, random.Random(rnd.random()), stop, check, i) for i in range(3)),
            async_writer(sub, random.Random(rnd.random()), stop, check, 9),
            *(async_reader(db, random.Random(rnd.random()), stop, check) for _ in range(3)),
            async_reader(sub, random.Random(rnd.random()), stop, check),
            loop.run_in_executor(None, sync_db_actor, db, seed + 100, stop, check),
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*actors), HANG)
        except asyncio.TimeoutError:
            pytest.fail(f"seed {seed}: the scenario hangs")
        await db.aflush()
        assert not await db.in_transaction(), f"seed {seed}: a transaction was left open"
        for store, table in ((db, "data"), (sub, "sub")):
            on_file = file_table(db_path, table)
            check.pairs_whole(f"file {table}", on_file)
            sync = store.sync_db
            assert sync is not None
            cache_matches_file(f"cache {table}", sync, on_file, check)
            assert await store.to_dict() == on_file, f"seed {seed}: {table}"
    assert check.ops > 0
    assert check.errors == [], f"seed {seed}: {check.errors[:5]}"
