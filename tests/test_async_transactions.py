"""Async transactions under cancellation and concurrency: whose a transaction is, where each task's work goes,
and that nothing waits forever (see ``nanasqlite._async_txn``).

Every wait that would hang on a bug is bounded by ``HANG``; no bound is a timing assertion.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLiteTransactionError

from .conftest import file_data

HANG = 10  # seconds after which a wait counts as hung


@pytest.fixture
async def adb(db_path: str) -> AsyncIterator[AsyncNanaSQLite]:
    async with AsyncNanaSQLite(db_path, max_workers=2) as store:
        yield store


class Gated(dict[str, Any]):
    """A value whose encoding (on the writer thread) waits until ``gate`` is set: it holds the writer there."""

    def __init__(self, gate: threading.Event, **fields: Any) -> None:
        super().__init__(**fields)
        self.gate = gate

    def items(self) -> Any:
        assert self.gate.wait(HANG)
        return super().items()


def forget_cancel() -> None:
    """After a test cancels its own task on purpose and handles it (3.11+ counts cancellations)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


# -- 1: a cancelled nested begin ----------------------------------------------------------------------------------


async def test_cancelling_a_task_waiting_for_a_nested_block_rolls_back_its_whole_transaction(
    adb: AsyncNanaSQLite, db_path: str
) -> None:
    entered = asyncio.Event()

    async def handler() -> None:
        async with adb.transaction():
            await adb.aset("x", 1)
            entered.set()
            async with adb.transaction():  # the task is cancelled while this savepoint's begin is queued
                await adb.aset("y", 1)

    task = asyncio.create_task(handler())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(adb.aset("z", 1), HANG)  # another task's write is not held behind an orphan
    assert not await adb.in_transaction()
    assert file_data(db_path) == {"z": 1}


async def test_a_task_that_ends_with_its_transaction_open_has_it_rolled_back(
    adb: AsyncNanaSQLite, db_path: str
) -> None:
    async def leaves_it_open() -> None:
        await adb.begin_transaction()
        await adb.aset("orphan", 1)

    await asyncio.create_task(leaves_it_open())
    await asyncio.wait_for(adb.aset("other", 1), HANG)
    assert not await adb.in_transaction()
    assert file_data(db_path) == {"other": 1}


# -- 2: a nested commit whose wait is cancelled ----------------------------------------------------------------------


async def test_a_nested_commit_whose_wait_is_cancelled_ends_only_its_own_level(
    adb: AsyncNanaSQLite, db_path: str
) -> None:
    gate = threading.Event()
    me = asyncio.current_task()
    assert me is not None
    async with adb.transaction():
        await adb.aset("before", 1)
        try:
            async with adb.transaction():
                await adb.aset("inner", 1)
                # A write of this level that holds the writer, so that the block's commit queues behind it.
                slow = asyncio.create_task(adb.aset("slow", Gated(gate, v=1)))
                await asyncio.sleep(0)  # its job is queued, ahead of the commit
                asyncio.get_running_loop().call_soon(me.cancel)  # cancels the wait for the commit
        except asyncio.CancelledError:
            forget_cancel()  # handled, as a request timeout would be; the outer transaction goes on
        gate.set()
        await asyncio.wait_for(slow, HANG)
        assert await adb.in_transaction()
        await asyncio.wait_for(adb.aset("after", 1), HANG)
    assert not await adb.in_transaction()
    # The queued commit ran (cancelling stops the wait, not the work) and ended the savepoint alone.
    assert file_data(db_path) == {"before": 1, "inner": 1, "slow": {"v": 1}, "after": 1}


# -- 3: sibling tasks inside one transaction ----------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["first", "second"])
async def test_nested_blocks_of_sibling_tasks_never_commit_or_undo_each_others_work(
    adb: AsyncNanaSQLite, db_path: str, failing: str
) -> None:
    first_in, second_queued, second_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        try:
            async with adb.transaction():
                await adb.aset("first", 1)
                first_in.set()
                await second_queued.wait()  # the sibling's block now waits for this one
                if failing == "first":
                    raise ValueError("first fails")
        except ValueError:
            pass

    async def second() -> None:
        await first_in.wait()
        second_queued.set()
        try:
            async with adb.transaction():  # its begin is queued while the sibling's block is open
                await adb.aset("second", 1)
                if failing == "second":
                    raise ValueError("second fails")
        except ValueError:
            pass
        second_done.set()

    async with adb.transaction():
        await adb.aset("outer", 1)
        await asyncio.wait_for(asyncio.gather(first(), second()), HANG)
    expected = {"outer": 1, "first": 1, "second": 1}
    del expected[failing]
    assert file_data(db_path) == expected


async def test_the_parent_waits_while_a_child_task_has_a_nested_block_open(adb: AsyncNanaSQLite, db_path: str) -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def child() -> None:
        with pytest.raises(ValueError):
            async with adb.transaction():
                await adb.aset("child", 1)
                inside.set()
                await release.wait()
                raise ValueError("the child's block rolls back")

    async with adb.transaction():
        task = asyncio.create_task(child())
        await inside.wait()
        write = asyncio.create_task(adb.aset("parent", 1))  # must not land in the child's savepoint
        done, _ = await asyncio.wait({write}, timeout=0.3)  # how long it is given to (wrongly) get through
        assert not done
        release.set()
        await asyncio.wait_for(asyncio.gather(task, write), HANG)
    assert file_data(db_path) == {"parent": 1}


# -- 4: begin_transaction in a task of its own -------------------------------------------------------------------

WRAPPERS: dict[str, Callable[[Any], Any]] = {
    "create_task": asyncio.ensure_future,
    "gather": lambda coro: asyncio.gather(coro),
    "shield": asyncio.shield,
}


@pytest.mark.parametrize("wrap", list(WRAPPERS))
async def test_begin_transaction_in_a_task_of_its_own_fails_at_once(adb: AsyncNanaSQLite, wrap: str) -> None:
    with pytest.raises(NanaSQLiteTransactionError, match="task of its own"):
        await asyncio.wait_for(WRAPPERS[wrap](adb.begin_transaction()), HANG)
    assert not await adb.in_transaction()
    await asyncio.wait_for(adb.aset("k", 1), HANG)
    with pytest.raises(NanaSQLiteTransactionError, match="without an open transaction"):
        await adb.commit()  # fails at once rather than waiting


async def test_begin_transaction_under_wait_for(adb: AsyncNanaSQLite, db_path: str) -> None:
    if sys.version_info < (3, 12):  # wait_for runs it in a task of its own there
        with pytest.raises(NanaSQLiteTransactionError, match="task of its own"):
            await asyncio.wait_for(adb.begin_transaction(), HANG)
        assert not await adb.in_transaction()
        await asyncio.wait_for(adb.aset("k", 1), HANG)
    else:  # the caller's own task: the caller owns the transaction
        await asyncio.wait_for(adb.begin_transaction(), HANG)
        await asyncio.wait_for(adb.aset("k", 1), HANG)
        await asyncio.wait_for(adb.commit(), HANG)
    assert file_data(db_path) == {"k": 1}


async def test_commit_under_wait_for_ends_the_callers_level(adb: AsyncNanaSQLite, db_path: str) -> None:
    # Before 3.12 wait_for runs commit() in a task with a copy of the caller's context: the caller's context
    # still names the level, which has ended, so its next writes run outside any transaction.
    await adb.begin_transaction()
    await adb.aset("a", 1)
    await asyncio.wait_for(adb.commit(), HANG)
    assert not await adb.in_transaction()
    await asyncio.wait_for(adb.aset("b", 2), HANG)
    assert file_data(db_path) == {"a": 1, "b": 2}


async def test_a_task_created_inside_a_block_that_outlives_it_writes_outside(
    adb: AsyncNanaSQLite, db_path: str
) -> None:
    release = asyncio.Event()

    async def later() -> None:
        await release.wait()
        await adb.aset("late", 1)

    async with adb.transaction():
        await adb.aset("in", 1)
        task = asyncio.create_task(later())
    release.set()
    await asyncio.wait_for(task, HANG)
    assert file_data(db_path) == {"in": 1, "late": 1}


async def test_commit_and_rollback_name_no_other_tasks_transaction(adb: AsyncNanaSQLite) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def owner() -> None:
        async with adb.transaction():
            entered.set()
            await release.wait()

    task = asyncio.create_task(owner())
    await entered.wait()
    for end in (adb.commit, adb.rollback):
        with pytest.raises(NanaSQLiteTransactionError, match="without an open transaction"):
            await asyncio.wait_for(end(), HANG)  # this task has none; the other one's is not its to end
    assert await adb.in_transaction()
    release.set()
    await asyncio.wait_for(task, HANG)
