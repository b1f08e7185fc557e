"""I/O errors at random points: every call either succeeds or raises the library's error, no acknowledged write is
lost, the cache never disagrees with the file afterwards, and the store keeps working once the fault is gone.

The fault is injected by an APSW VFS made the default for the test (so the store opens its files through it) that
fails the Nth open, read, write, sync or lock call of the workload with SQLITE_IOERR (or SQLITE_FULL). N is drawn
over the calls a clean run of the same workload makes. ``NANASQLITE_FAULT_TRIALS`` sets the trials per kind.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import NanaSQLite, NanaSQLiteError
from nanasqlite.cache import ABSENT, MISS, Raw

from . import checked_rows

TRIALS = int(os.environ.get("NANASQLITE_FAULT_TRIALS", "3")) * 4


class Plan:
    """Which call fails: the ``target``-th call of ``kind`` (counting from 1), once; 0 counts without failing."""

    def __init__(self) -> None:
        self.kind = ""
        self.target = 0
        self.calls: dict[str, int] = {}
        self.fired = False
        self.error: type[apsw.Error] = apsw.IOError

    def tick(self, kind: str) -> None:
        n = self.calls[kind] = self.calls.get(kind, 0) + 1
        if kind == self.kind and n == self.target and not self.fired:
            self.fired = True
            raise self.error(f"injected fault: {kind} call {n}")


PLAN = Plan()
ATTEMPTED = {f"s{i}" for i in range(12)} | {f"b{n}:{i}" for n in range(4) for i in range(30)} | {"t:a", "t:b", "t:c"}


class FaultyFile(apsw.VFSFile):
    def xRead(self, amount: int, offset: int) -> bytes:
        PLAN.tick("read")
        return super().xRead(amount, offset)

    def xWrite(self, data: bytes, offset: int) -> None:
        PLAN.tick("write")
        super().xWrite(data, offset)

    def xSync(self, flags: int) -> None:
        PLAN.tick("sync")
        super().xSync(flags)

    def xLock(self, level: int) -> None:
        PLAN.tick("lock")
        super().xLock(level)


class FaultyVFS(apsw.VFS):
    def __init__(self) -> None:
        self.base = apsw.vfs_names()[0]  # the default before this one: what the files really go through
        super().__init__("nanasqlite-faulty", self.base, makedefault=True)

    def xOpen(self, name: Any, flags: list[int]) -> FaultyFile:
        PLAN.tick("open")  # the database, its WAL and its shared memory are each opened here
        return FaultyFile(self.base, name, flags)


@pytest.fixture
def faulty_vfs() -> Iterator[Plan]:
    vfs = FaultyVFS()
    try:
        yield PLAN
    finally:
        PLAN.kind, PLAN.target = "", 0
        vfs.unregister()


def workload(path: str, acked: dict[str, Any], outcomes: list[str]) -> NanaSQLite | None:
    """Open a store and write; record what was acknowledged. Any error must be the library's."""
    try:
        db = NanaSQLite(path)
    except NanaSQLiteError:
        outcomes.append("open failed")
        return None
    steps: list[tuple[str, Any]] = [("set", i) for i in range(12)] + [("batch", b) for b in range(4)] + [("tx", 0)]
    for op, n in steps:
        try:
            if op == "set":
                db[f"s{n}"] = {"n": n}
                acked[f"s{n}"] = {"n": n}
            elif op == "batch":
                batch = {f"b{n}:{i}": n for i in range(30)}
                db.batch_update(batch)
                acked.update(batch)
            else:
                with db.transaction():
                    db["t:a"] = 1
                    db.batch_update({"t:b": 2, "t:c": 3})
                acked.update({"t:a": 1, "t:b": 2, "t:c": 3})
            db.get(f"s{n}")  # reads go through the VFS too
            outcomes.append("ok")
        except NanaSQLiteError:
            outcomes.append("failed")
    return db


@pytest.mark.parametrize("kind", ["open", "write", "sync", "read", "lock"])
def test_an_io_error_anywhere_loses_nothing_acknowledged_and_leaves_the_cache_true(
    tmp_path: Path, faulty_vfs: Plan, kind: str
) -> None:
    clean = str(tmp_path / "clean.db")
    faulty_vfs.calls = {}
    db = workload(clean, {}, [])
    assert db is not None
    db.close()
    total = faulty_vfs.calls.get(kind, 0)
    assert total > 0, f"the workload made no {kind} call"
    rnd = random.Random()
    failures = 0
    for trial in range(TRIALS):
        path = str(tmp_path / f"t{trial}.db")
        faulty_vfs.kind, faulty_vfs.target, faulty_vfs.calls, faulty_vfs.fired = kind, rnd.randint(1, total), {}, False
        faulty_vfs.error = apsw.FullError if trial % 4 == 3 else apsw.IOError
        acked: dict[str, Any] = {}
        outcomes: list[str] = []
        db = workload(path, acked, outcomes)  # raises (and fails the test) if an error is not the library's
        faulty_vfs.kind = ""  # the fault is gone
        failures += outcomes.count("failed") + outcomes.count("open failed")
        if db is None:
            continue
        try:
            db["after"] = "the fault"  # the store keeps working
            acked["after"] = "the fault"
            on_file = checked_rows(path)
            where = f"trial {trial}, {kind} call {faulty_vfs.target}"
            for key, value in acked.items():
                assert on_file.get(key) == value, f"{where}: acknowledged {key} lost"
            assert db.to_dict() == on_file, where
            attempted = sorted(ATTEMPTED)
            # Every key the workload tried, written or not: what the store answers is what the file holds.
            assert db.batch_get(attempted) == {k: on_file[k] for k in attempted if k in on_file}, where
            for key in attempted:
                entry = db._cache.lookup(key)
                if type(entry) is Raw:
                    entry = json.loads(entry.text)
                assert entry is MISS or entry == on_file.get(key, ABSENT), f"{where}: cache {key}={entry!r}"
        finally:
            db.close()
    assert failures > 0, "no injected fault reached the store"
