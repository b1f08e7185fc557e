"""A write that fails leaves every read agreeing with the file (issue 19, point 3).

Reads return the cached objects themselves, so ``u = db["u"]; u["when"] = datetime(...); db["u"] = u`` mutates
the cached value before the write is refused. Each write path must then forget the key's entry, so that reads
(``db[key]``, ``get``, ``items``, ``to_dict``) show what the file holds, sync and async alike.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pydantic
import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite

WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5)
STORED = {"name": "Nana"}


class Opaque:
    """Not JSON, and not something pydantic can serialise in JSON mode."""


class Holder(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    thing: Any


def mutated(db: NanaSQLite, key: str = "u") -> dict[str, Any]:
    """The cached value of ``key``, changed in place in a way that cannot be stored."""
    value = db[key]
    assert db.is_cached(key)
    value["when"] = WHEN
    assert db[key]["when"] == WHEN  # the entry is the caller's object: the situation the fix is about
    return value  # type: ignore[no-any-return]


def assert_reads_match_file(db: NanaSQLite, db_path: str, key: str = "u", expected: Any = STORED) -> None:
    with NanaSQLite(db_path) as fresh:
        in_file = fresh.to_dict()
    assert in_file.get(key) == expected
    assert db.get(key) == expected
    assert db.to_dict() == in_file
    assert dict(db.items()) == in_file
    assert db.batch_get([key]).get(key) == expected


def _setitem(db: NanaSQLite, u: Any) -> None:
    db["u"] = u


def _batch_update(db: NanaSQLite, u: Any) -> None:
    db.batch_update({"ok": 1, "u": u})


def _update(db: NanaSQLite, u: Any) -> None:
    db.update({"ok": 1}, u=u)


def _patch(db: NanaSQLite, u: Any) -> None:
    db.patch("u", {"when": u["when"]})


def _set_model(db: NanaSQLite, u: Any) -> None:
    db.set_model("u", Holder(thing=Opaque()))


SYNC_WRITES: dict[str, Callable[[NanaSQLite, Any], None]] = {
    "setitem": _setitem,
    "batch_update": _batch_update,
    "update": _update,
    "patch": _patch,
    "set_model": _set_model,
}


@pytest.mark.parametrize("write", list(SYNC_WRITES))
def test_a_refused_write_forgets_the_mutated_cache_entry(db: NanaSQLite, db_path: str, write: str) -> None:
    db["u"] = dict(STORED)
    u = mutated(db)
    with pytest.raises(Exception) as info:
        SYNC_WRITES[write](db, u)
    assert not isinstance(info.value, AssertionError)
    assert not db.is_cached("u")
    assert_reads_match_file(db, db_path)
    assert "ok" not in db  # a refused batch writes nothing


def test_a_refused_write_inside_a_transaction_forgets_too(db: NanaSQLite, db_path: str) -> None:
    db["u"] = dict(STORED)
    u = mutated(db)
    with db.transaction():
        with pytest.raises(TypeError):
            db["u"] = u
        assert db["u"] == STORED
    assert_reads_match_file(db, db_path)


def test_a_refused_write_raises_its_own_error_while_another_thread_holds_the_lock(db_path: str) -> None:
    with NanaSQLite(db_path, lock_timeout=0.05) as db:
        db["u"] = dict(STORED)
        u = mutated(db)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                db["u"] = u
            except BaseException as exc:
                errors.append(exc)

        db.begin_transaction()  # this thread holds the store's lock
        worker = threading.Thread(target=write)
        worker.start()
        worker.join()
        db.commit()
        assert len(errors) == 1 and isinstance(errors[0], TypeError), errors  # not NanaSQLiteLockError
        assert not db.is_cached("u")
        assert_reads_match_file(db, db_path)


def test_a_refused_increment_forgets_the_entry(db: NanaSQLite, db_path: str) -> None:
    db["c"] = {"n": 2**64 - 1}
    c = db["c"]
    c["note"] = "changed in place, never written"
    with pytest.raises(ValueError, match="64-bit"):
        db.increment("c", field="n")
    assert not db.is_cached("c")
    assert_reads_match_file(db, db_path, "c", {"n": 2**64 - 1})


def test_a_refused_setdefault_leaves_the_key_missing(db: NanaSQLite, db_path: str) -> None:
    assert "s" not in db  # caches the key as absent
    with pytest.raises(TypeError):
        db.setdefault("s", {"when": WHEN})
    assert "s" not in db
    assert db.get("s") is None
    assert_reads_match_file(db, db_path, "s", None)


def test_batch_update_partial_forgets_only_the_refused_keys(db: NanaSQLite, db_path: str) -> None:
    db["u"] = dict(STORED)
    db["v"] = {"kept": True}
    assert db["v"] == {"kept": True}
    u = mutated(db)
    failed = db.batch_update_partial({"u": u, "ok": 1})
    assert list(failed) == ["u"]
    assert db["ok"] == 1
    assert not db.is_cached("u")
    assert db.is_cached("v")
    assert_reads_match_file(db, db_path)


# -- the async twins: the same sync methods on the writer thread, through a writer view with an overlay ------


@pytest.fixture
async def adb(db_path: str) -> AsyncIterator[AsyncNanaSQLite]:
    async with AsyncNanaSQLite(db_path) as store:
        yield store


async def _amutated(adb: AsyncNanaSQLite, key: str = "u") -> dict[str, Any]:
    value = await adb.aget(key)
    assert await adb.is_cached(key)
    value["when"] = WHEN
    assert (await adb.aget(key))["when"] == WHEN  # the shared cache holds the caller's object
    return value  # type: ignore[no-any-return]


async def _assert_async_reads_match_file(adb: AsyncNanaSQLite, db_path: str, key: str, expected: Any) -> None:
    with NanaSQLite(db_path) as fresh:
        in_file = fresh.to_dict()
    assert in_file.get(key) == expected
    assert await adb.aget(key) == expected
    assert await adb.to_dict() == in_file
    assert dict(await adb.aitems()) == in_file
    assert (await adb.abatch_get([key])).get(key) == expected


ASYNC_WRITES: dict[str, Callable[[AsyncNanaSQLite, Any], Any]] = {
    "aset": lambda adb, u: adb.aset("u", u),
    "batch_update": lambda adb, u: adb.batch_update({"ok": 1, "u": u}),
    "aupdate": lambda adb, u: adb.aupdate({"ok": 1}, u=u),
    "apatch": lambda adb, u: adb.apatch("u", {"when": u["when"]}),
    "set_model": lambda adb, u: adb.set_model("u", Holder(thing=Opaque())),
}


@pytest.mark.parametrize("write", list(ASYNC_WRITES))
async def test_a_refused_async_write_forgets_the_shared_cache_entry(
    adb: AsyncNanaSQLite, db_path: str, write: str
) -> None:
    await adb.aset("u", dict(STORED))
    u = await _amutated(adb)
    with pytest.raises(Exception) as info:
        await ASYNC_WRITES[write](adb, u)
    assert not isinstance(info.value, AssertionError)
    assert not await adb.is_cached("u")
    await _assert_async_reads_match_file(adb, db_path, "u", STORED)
    assert await adb.aget("ok") is None


async def test_a_refused_async_write_in_a_group_fails_alone(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("u", dict(STORED))
    u = await _amutated(adb)
    results = await asyncio.gather(adb.aset("a", 1), adb.aset("u", u), adb.aset("b", 2), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], TypeError)
    await _assert_async_reads_match_file(adb, db_path, "u", STORED)
    assert await adb.abatch_get(["a", "b"]) == {"a": 1, "b": 2}


async def test_a_refused_async_increment_forgets_the_entry(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("c", {"n": 2**64 - 1})
    c = await adb.aget("c")
    c["note"] = "changed in place, never written"
    with pytest.raises(ValueError, match="64-bit"):
        await adb.aincrement("c", field="n")
    await _assert_async_reads_match_file(adb, db_path, "c", {"n": 2**64 - 1})


async def test_a_refused_async_setdefault_leaves_the_key_missing(adb: AsyncNanaSQLite, db_path: str) -> None:
    assert not await adb.acontains("s")
    with pytest.raises(TypeError):
        await adb.asetdefault("s", {"when": WHEN})
    assert not await adb.acontains("s")
    await _assert_async_reads_match_file(adb, db_path, "s", None)


async def test_async_batch_update_partial_forgets_the_refused_keys(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("u", dict(STORED))
    u = await _amutated(adb)
    failed = await adb.batch_update_partial({"u": u, "ok": 1})
    assert list(failed) == ["u"]
    assert await adb.aget("ok") == 1
    await _assert_async_reads_match_file(adb, db_path, "u", STORED)


async def test_a_refused_sliced_async_batch_forgets_every_slice(adb: AsyncNanaSQLite, db_path: str) -> None:
    from nanasqlite.async_core import WRITE_SLICE

    size = WRITE_SLICE * 2 + 10  # more than one slice in either build
    await adb.aset("u", dict(STORED))
    u = await adb.aget("u")
    u["name"] = "changed in place"  # storable: only another slice's value makes the batch fail
    assert (await adb.aget("u"))["name"] == "changed in place"
    big: dict[str, Any] = {"u": u}  # in the first slice
    big.update({f"k{i:06d}": i for i in range(size)})
    big["zz"] = {"when": WHEN}  # only the last slice holds a value that cannot be stored
    with pytest.raises(TypeError, match="cannot store key 'zz'"):
        await adb.batch_update(big)
    await _assert_async_reads_match_file(adb, db_path, "u", STORED)
    assert await adb.alen() == 1
