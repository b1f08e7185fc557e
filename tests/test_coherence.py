"""``cache_consistency="auto"``: every read sees what other processes (and connections) committed before it began.

The other process is real: a spawned child that writes through its own store and answers once its write is
committed, so each read below begins after that commit."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteClosedError, NanaSQLiteValidationError
from nanasqlite.coherence import CoherentNanaSQLite


def _serve(pipe: Pipe) -> None:
    """The other process: run each ``(path, table, method, args)`` on a store of its own, answer ``"ok"`` (or the
    error) once it returned, i.e. once the write is committed."""
    stores: dict[tuple[str, str], NanaSQLite] = {}
    while True:
        request = pipe.recv()
        if request is None:
            break
        path, table, method, args = request
        try:
            store = stores.get((path, table))
            if store is None:
                store = stores[(path, table)] = NanaSQLite(path, table=table)
            getattr(store, method)(*args)
            pipe.send("ok")
        except Exception as exc:  # sent back to the test, which fails with it
            pipe.send(repr(exc))
    for store in stores.values():
        store.close()


class OtherProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()

    def __call__(self, path: str, method: str, *args: Any, table: str = "data") -> None:
        self._pipe.send((path, table, method, args))
        assert self._pipe.recv() == "ok"

    def stop(self) -> None:
        self._pipe.send(None)
        self._process.join(30)


@pytest.fixture(scope="module")
def other() -> Iterator[OtherProcess]:
    process = OtherProcess()
    yield process
    process.stop()


STRATEGIES = [{}, {"cache_strategy": "lru", "cache_size": 100}, {"cache_strategy": "ttl", "cache_ttl": 3600}]


@pytest.fixture(params=STRATEGIES, ids=["unbounded", "lru", "ttl"])
def auto(request: pytest.FixtureRequest, db_path: str) -> Iterator[NanaSQLite]:
    store = NanaSQLite(db_path, cache_consistency="auto", **request.param)
    yield store
    store.close()


# -- every read path of the sync store -----------------------------------------------------------------------------

READS: list[tuple[str, Callable[[NanaSQLite], Any], Any]] = [
    # (name, read, its answer after the other process set k=2 and deleted "gone")
    ("getitem", lambda db: db["k"], 2),
    ("get", lambda db: (db.get("k"), db.get("gone")), (2, None)),
    ("contains", lambda db: ("k" in db, "gone" in db), (True, False)),
    ("len", len, 1),
    ("keys", lambda db: db.keys(), ["k"]),
    ("iter", list, ["k"]),
    ("values", lambda db: db.values(), [2]),
    ("items", lambda db: db.items(), [("k", 2)]),
    ("to_dict", lambda db: db.to_dict(), {"k": 2}),
    ("batch_get", lambda db: db.batch_get(["k", "gone"]), {"k": 2}),
    ("iter_items", lambda db: list(db.iter_items()), [("k", 2)]),
    ("pop", lambda db: (db.pop("k"), db.pop("gone", None)), (2, None)),
    ("setdefault", lambda db: (db.setdefault("k", 7), db.setdefault("gone", 7)), (2, 7)),
    ("get_fresh", lambda db: db.get_fresh("k"), 2),
]


@pytest.mark.parametrize(("read", "after"), [r[1:] for r in READS], ids=[r[0] for r in READS])
def test_every_read_sees_the_other_process(
    auto: NanaSQLite, other: OtherProcess, read: Callable[[NanaSQLite], Any], after: Any
) -> None:
    path = auto._db_path
    auto.batch_update({"k": 1, "gone": 1})
    for key in ("k", "gone"):
        auto.get(key)  # cached, decoded
    other(path, "__setitem__", "k", 2)
    other(path, "__delitem__", "gone")
    assert read(auto) == after
    other(path, "batch_update", {"k": 1, "gone": 1})
    assert auto["k"] == 1 and "gone" in auto


def test_reads_before_the_other_write_come_from_the_cache(auto: NanaSQLite, other: OtherProcess) -> None:
    auto["k"] = 1
    auto["j"] = 2
    assert auto["k"] == 1
    assert auto.is_cached("j")  # this store's own writes do not drop its cache
    other(auto._db_path, "__setitem__", "x", 3)
    assert auto["k"] == 1
    assert not auto.is_cached("j")  # another process committed: the cache was dropped, then refilled on demand
    assert auto["x"] == 3


def test_a_manual_store_keeps_serving_its_cache_until_refresh(db_path: str, other: OtherProcess) -> None:
    with NanaSQLite(db_path) as manual:
        assert type(manual) is NanaSQLite
        manual["k"] = 1
        other(db_path, "__setitem__", "k", 2)
        assert manual["k"] == 1  # the documented cost of "manual": the reason "auto" exists
        manual.refresh()
        assert manual["k"] == 2


def test_sub_tables_and_bulk_load_follow_the_other_process(db_path: str, other: OtherProcess) -> None:
    with NanaSQLite(db_path, cache_consistency="auto", bulk_load=True) as db:
        sub = db.table("users")
        sub["u"] = {"n": 1}
        db["k"] = 1
        other(db_path, "__setitem__", "u", {"n": 2}, table="users")
        other(db_path, "__setitem__", "k", 2)
        assert sub["u"] == {"n": 2}
        assert db["k"] == 2
        assert isinstance(sub, CoherentNanaSQLite)


def test_a_file_without_wal_is_checked_on_every_read(db_path: str, other: OtherProcess) -> None:
    with NanaSQLite(db_path, optimize=False) as setup:  # rollback journal: no WAL index to watch
        assert setup.pragma("journal_mode") == "delete"
        setup["k"] = 1
    with NanaSQLite(db_path, optimize=False, cache_consistency="auto") as db:
        assert db["k"] == 1
        other(db_path, "__setitem__", "k", 2)
        assert db["k"] == 2
        assert db.batch_get(["k"]) == {"k": 2}


def test_a_readonly_replica_follows_the_writer(db_path: str, other: OtherProcess) -> None:
    other(db_path, "__setitem__", "k", 1)
    with NanaSQLite(db_path, readonly=True, cache_consistency="auto") as replica:
        assert replica["k"] == 1
        for n in range(2, 6):
            other(db_path, "__setitem__", "k", n)
            assert replica["k"] == n


def test_coherence_survives_restore(tmp_path: Path, other: OtherProcess) -> None:
    path, copy = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with NanaSQLite(path, cache_consistency="auto") as db:
        db["k"] = 1
        db.backup(copy)
        db["k"] = 5
        db.restore(copy)
        assert db["k"] == 1
        other(path, "__setitem__", "k", 2)
        assert db["k"] == 2


def test_inside_a_transaction_reads_see_what_was_committed_before_it(auto: NanaSQLite, other: OtherProcess) -> None:
    auto["k"] = 1
    other(auto._db_path, "__setitem__", "k", 2)
    with auto.transaction():
        assert auto["k"] == 2
        auto["k"] = 3
        assert auto["k"] == 3
    assert auto["k"] == 3


def test_another_connection_of_this_process_is_seen_too(db_path: str) -> None:
    with NanaSQLite(db_path, cache_consistency="auto") as db, NanaSQLite(db_path) as second:
        db["k"] = 1
        second["k"] = 2
        assert db["k"] == 2


def test_memory_stores_accept_auto(tmp_path: Path) -> None:
    with NanaSQLite(":memory:", cache_consistency="auto") as db:
        db["k"] = 1
        assert db["k"] == 1 and "k" in db and db.batch_get(["k"]) == {"k": 1}


def test_the_option_is_validated_and_a_closed_store_raises(db_path: str) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="cache_consistency must be 'manual' or 'auto'"):
        NanaSQLite(db_path, cache_consistency="sometimes")
    db = NanaSQLite(db_path, cache_consistency="auto")
    db["k"] = 1
    db.close()
    for read in (lambda: db["k"], lambda: db.get("k"), lambda: "k" in db, lambda: db.batch_get(["k"])):
        with pytest.raises(NanaSQLiteClosedError):
            read()


# -- the async facade ----------------------------------------------------------------------------------------------

ASYNC_READS: list[tuple[str, Callable[[AsyncNanaSQLite], Any], Any]] = [
    ("aget", lambda db: db.aget("k"), 2),
    ("aget_gone", lambda db: db.aget("gone"), None),
    ("acontains", lambda db: db.acontains("gone"), False),
    ("abatch_get", lambda db: db.abatch_get(["k", "gone"]), {"k": 2}),
    ("alen", lambda db: db.alen(), 1),
    ("akeys", lambda db: db.akeys(), ["k"]),
    ("avalues", lambda db: db.avalues(), [2]),
    ("aitems", lambda db: db.aitems(), [("k", 2)]),
    ("to_dict", lambda db: db.to_dict(), {"k": 2}),
]


@pytest.mark.parametrize(("read", "after"), [r[1:] for r in ASYNC_READS], ids=[r[0] for r in ASYNC_READS])
async def test_every_async_read_sees_the_other_process(
    db_path: str, other: OtherProcess, read: Callable[[AsyncNanaSQLite], Any], after: Any
) -> None:
    async with AsyncNanaSQLite(db_path, cache_consistency="auto", max_workers=2) as db:
        await db.batch_update({"k": 1, "gone": 1})
        assert await db.aget("k") == 1 and await db.aget("gone") == 1  # cached on the loop
        other(db_path, "__setitem__", "k", 2)
        other(db_path, "__delitem__", "gone")
        assert await read(db) == after
        other(db_path, "__setitem__", "k", 3)
        assert await db.aget("k") == 3


async def test_async_sub_tables_follow_the_other_process(db_path: str, other: OtherProcess) -> None:
    async with AsyncNanaSQLite(db_path, cache_consistency="auto", max_workers=2) as db:
        sub = await db.table("users")
        await sub.aset("u", 1)
        assert await sub.aget("u") == 1
        other(db_path, "__setitem__", "u", 2, table="users")
        assert await sub.aget("u") == 2
        assert await sub.abatch_get(["u"]) == {"u": 2}


async def test_async_own_writes_are_read_back_without_a_detour(db_path: str) -> None:
    async with AsyncNanaSQLite(db_path, cache_consistency="auto", max_workers=2) as db:
        for n in range(20):
            await db.aset("k", n)
            assert db._peek("k", None) == n  # answered by the loop from the cache, no thread hop
            assert await db.aget("k") == n
        assert await db.abatch_get(["k"]) == {"k": 19}


def test_a_new_wal_file_is_watched_through_its_header(db_path: str) -> None:
    with NanaSQLite(db_path, cache_consistency="auto") as db:
        db["k"] = 1
        assert db["k"] == 1
        assert not db._coherence_stale()  # the header agrees again: cached reads compare 48 bytes, nothing more
    with NanaSQLite(db_path, optimize=False, cache_consistency="auto") as db:  # WAL mode stays with the file
        assert db["k"] == 1
        assert not db._coherence_stale()


def test_without_wal_every_read_asks_sqlite(db_path: str) -> None:
    with NanaSQLite(db_path, optimize=False, cache_consistency="auto") as db:
        db["k"] = 1
        assert db["k"] == 1
        assert db._coherence_stale()


PROBE_DMS = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # SQLite's "dead man switch" byte of the -shm file
except OSError:
    print("held")
else:
    print("free")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX advisory locks")
def test_watching_the_shm_file_keeps_sqlites_locks_on_it(db_path: str) -> None:
    """Every connection holds a read lock on one byte of the -shm file while it uses it; a process that finds
    the byte unlocked takes the file over and truncates it. Closing *any* descriptor of a file drops all of a
    process's POSIX locks on it, so the store must never close the descriptor it maps the header through."""
    with NanaSQLite(db_path, cache_consistency="auto") as db, NanaSQLite(db_path, cache_consistency="auto") as two:
        db["k"] = 1
        assert two["k"] == 1
        probe = subprocess.run(
            [sys.executable, "-c", PROBE_DMS, db_path + "-shm"], capture_output=True, text=True, timeout=60
        )
        assert probe.stdout.strip() == "held", probe.stderr
        assert db["k"] == 1
