"""The async store's threads and memory: they end with the store, however its calls ended, and a failure in a
value's own code (even a ``BaseException``) fails one call, never the threads.

Every wait that would hang on a bug is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLiteConnectionError

BOUND = 30


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


async def all_gone(threads: list[threading.Thread]) -> bool:
    deadline = time.monotonic() + BOUND
    for thread in threads:
        await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)


async def test_an_unclosed_store_whose_last_call_raised_stops_its_threads(tmp_path: Path) -> None:
    prefix = "unclosed-after-an-error"

    threads: list[threading.Thread] = []

    async def use_and_forget(path: str) -> None:
        db = AsyncNanaSQLite(path, max_workers=2, thread_name_prefix=prefix)
        await db.aset("a", 1)
        threads.extend(t for t in threads_named(prefix) if t not in threads)
        try:
            await db.adelete("missing")  # KeyError, handled; the store is never closed
        except KeyError:
            pass

    for i in range(3):
        await use_and_forget(str(tmp_path / f"u{i}.db"))
    assert len(threads) == 9  # writer + 2 readers, each
    gc.collect()  # the facades are garbage: collecting them stops their threads
    assert await all_gone(threads)


async def test_a_failed_open_in_async_with_leaves_no_thread(tmp_path: Path) -> None:
    prefix = "failed-open"
    for _ in range(3):
        with pytest.raises(NanaSQLiteConnectionError):
            async with AsyncNanaSQLite(str(tmp_path / "no-such-dir" / "x.db"), thread_name_prefix=prefix):
                pass
    assert await all_gone(threads_named(prefix))


async def test_dropped_sub_table_handles_are_freed(db_path: str) -> None:
    async with AsyncNanaSQLite(db_path, max_workers=2, warn_duplicate_table_instance=False) as db:
        users = await db.table("users")
        await users.batch_update({f"u{i}": i for i in range(20)})
        dropped: list[weakref.ref[Any]] = []
        for _ in range(20):  # a handle per request, as a web handler would take one
            handle = await db.table("users")
            await handle.clear_cache()
            assert await handle.abatch_get(["u1", "u2"]) == {"u1": 1, "u2": 2}
            assert await handle.aget("u3") == 3  # a reader thread's view of it
            await handle.aset("u1", 1)  # the writer's view of it
            dropped.append(weakref.ref(handle.sync_db))
            del handle
        gc.collect()
        assert [ref for ref in dropped if ref() is not None] == []  # no view, job or thread keeps one
        assert await users.aget("u1") == 1


class Exits(dict[str, Any]):
    """A value whose own code raises ``SystemExit`` while the writer thread encodes it."""

    def items(self) -> Any:
        raise SystemExit("from the value's own code")


async def test_a_base_exception_from_a_value_fails_its_own_call_and_the_store_goes_on(db_path: str) -> None:
    async with AsyncNanaSQLite(db_path, max_workers=2) as db:

        async def attempt(write: Any) -> BaseException | None:
            try:
                await write
            except SystemExit as exc:  # caught inside the task: asyncio re-raises one that leaves a task
                return exc
            return None

        for write in (db.aset("k", Exits(a=1)), db.batch_update({"k": Exits(a=1)})):
            assert isinstance(await asyncio.wait_for(attempt(write), BOUND), SystemExit)
        assert db._engine.writer.is_alive()
        await asyncio.wait_for(db.aset("other", 1), BOUND)
        assert await db.to_dict() == {"other": 1}
    # closing returned: the writer stopped cleanly
