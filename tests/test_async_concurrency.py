"""AsyncNanaSQLite under concurrency: many tasks, group commit, the stale cache fill, cancellation, closing.

Every wait is bounded (``asyncio.wait_for``) so that a bug shows as a failure, never as a hung run; none of the
bounds is a timing assertion.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import apsw
import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteClosedError, NanaSQLiteDatabaseError
from nanasqlite._async_threads import SETTLE_CHUNK, _settle_all

from .conftest import file_data

BOUND = 60  # seconds any scenario below may take before it counts as hung


@pytest.fixture
async def adb(db_path: str) -> AsyncIterator[AsyncNanaSQLite]:
    async with AsyncNanaSQLite(db_path, max_workers=4) as store:
        yield store


class CommitCounter:
    """Counts the COMMITs of the store's writer connection (an APSW commit hook)."""

    def __init__(self, db: AsyncNanaSQLite) -> None:
        self.count = 0
        assert db.sync_db is not None
        db.sync_db._conn.apsw.set_commit_hook(self)

    def __call__(self) -> bool:
        self.count += 1
        return False  # do not veto the commit


async def queued_behind_a_transaction(db: AsyncNanaSQLite, calls: list[Any]) -> list[Any]:
    """Queue ``calls`` (coroutines) while another task holds a transaction, so that the writer finds all of
    them waiting when it ends: they form one group. Returns their outcomes (results or exceptions)."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def owner() -> None:
        async with db.transaction():
            entered.set()
            await release.wait()

    holder = asyncio.create_task(owner())
    await entered.wait()
    tasks = [asyncio.create_task(call) for call in calls]  # created outside the transaction: they wait
    await asyncio.sleep(0)  # one loop turn: every task has queued its write
    release.set()
    await asyncio.wait_for(holder, BOUND)
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), BOUND)


# -- many tasks --------------------------------------------------------------------------------------------------


async def test_a_thousand_tasks_mixing_reads_and_writes(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.batch_update({f"seed{i}": i for i in range(200)})
    await adb.clear_cache()  # the first reads of the seeds miss and go to the readers
    rng = random.Random(5)

    async def user(n: int) -> None:
        for step in range(5):
            await adb.aset(f"user{n}", {"step": step})
            assert await adb.aget(f"user{n}") == {"step": step}  # read your own write
            seed = rng.randrange(200)
            assert await adb.aget(f"seed{seed}") == seed
            assert await adb.acontains(f"seed{seed}")
        await adb.aincrement("counter", default=0)

    await asyncio.wait_for(asyncio.gather(*(user(n) for n in range(1000))), BOUND)
    assert await adb.aget("counter") == 1000
    data = file_data(db_path)
    assert data["counter"] == 1000
    assert all(data[f"user{n}"] == {"step": 4} for n in range(1000))


async def test_a_write_is_read_by_every_other_task_once_it_resolved(adb: AsyncNanaSQLite) -> None:
    await adb.batch_update({f"k{i}": 0 for i in range(50)})

    async def write_and_read_back(key: str, value: int) -> None:
        await adb.aset(key, value)
        seen = await asyncio.gather(*(asyncio.create_task(adb.aget(key)) for _ in range(3)))
        assert seen == [value] * 3

    async def keep_reading(key: str) -> None:
        for _ in range(10):  # fills of the old value race with the write above
            await adb.aget(key)
            await adb.clear_cache() if key == "k0" else None

    for round_ in range(1, 6):
        await adb.clear_cache()
        work = [write_and_read_back(f"k{i}", round_ * 100 + i) for i in range(50)]
        work += [keep_reading(f"k{i}") for i in range(50)]
        await asyncio.wait_for(asyncio.gather(*work), BOUND)
        expected = {f"k{i}": round_ * 100 + i for i in range(50)}
        assert await adb.abatch_get(list(expected)) == expected
        assert await asyncio.gather(*(adb.aget(key) for key in expected)) == list(expected.values())


# -- group commit ------------------------------------------------------------------------------------------------


async def test_concurrent_writers_are_committed_together_and_all_land_in_the_file(db_path: str) -> None:
    async with AsyncNanaSQLite(db_path) as db:
        commits = CommitCounter(db)
        outcomes = await queued_behind_a_transaction(db, [db.aset(f"k{i}", {"i": i}) for i in range(300)])
        assert outcomes == [None] * 300
        assert commits.count == 2  # the holder's empty transaction, then 300 writes in one COMMIT

        async def writer(w: int) -> None:
            for i in range(20):
                await db.aset(f"w{w}-{i}", i)

        await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(100))), BOUND)
    data = file_data(db_path)
    assert all(data[f"k{i}"] == {"i": i} for i in range(300))
    assert all(data[f"w{w}-{i}"] == i for w in range(100) for i in range(20))


async def test_a_bad_write_fails_alone_in_its_group(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("text", "not a number")
    commits = CommitCounter(adb)
    calls = []
    for i in range(60):
        if i % 10 == 3:
            calls.append(adb.aset(f"k{i}", {1, 2}))  # cannot be stored
        elif i % 10 == 5:
            calls.append(adb.adelete(f"missing{i}"))
        elif i % 10 == 7:
            calls.append(adb.aincrement("text"))  # not a number: rolls back its own savepoint
        else:
            calls.append(adb.aset(f"k{i}", i))
    outcomes = await queued_behind_a_transaction(adb, calls)
    assert commits.count == 2  # the holder's transaction and the group
    for i, outcome in enumerate(outcomes):
        expected = {3: TypeError, 5: KeyError, 7: ValueError}.get(i % 10)
        if expected is None:
            assert outcome is None
        else:
            assert isinstance(outcome, expected), (i, outcome)
    good = {f"k{i}": i for i in range(60) if i % 10 not in (3, 5, 7)}
    assert await adb.abatch_get([f"k{i}" for i in range(60)]) == good
    assert file_data(db_path) == {"text": "not a number", **good}


async def test_a_big_batch_is_written_all_or_nothing(adb: AsyncNanaSQLite, db_path: str) -> None:
    # Big batches are written in slices (so the loop keeps the GIL now and then), still as one unit.
    big: dict[str, Any] = {f"b{i:05d}": i for i in range(20_000)}
    big["b19999"] = {1, 2}  # only the last slice holds a value that cannot be stored
    outcomes = await queued_behind_a_transaction(
        adb, [adb.aset("before", 1), adb.batch_update(big), adb.aset("after", 1)]
    )
    assert outcomes[0] is None and isinstance(outcomes[1], TypeError) and outcomes[2] is None
    assert await adb.aget("b00000") is None and await adb.alen() == 2
    assert file_data(db_path) == {"before": 1, "after": 1}
    big["b19999"] = 19999
    await adb.batch_update(big)
    assert await adb.aget("b19999") == 19999 and await adb.alen() == 20_002
    await adb.batch_delete(list(big)[5:])
    assert await adb.akeys() == ["after", "b00000", "b00001", "b00002", "b00003", "b00004", "before"]
    assert len(file_data(db_path)) == 7


async def test_a_write_that_sqlite_rolls_back_with_its_whole_group_is_retried_alone(
    adb: AsyncNanaSQLite, db_path: str
) -> None:
    # RAISE(ROLLBACK) ends the whole transaction, taking the other writes of the group with it.
    await adb.execute("CREATE TRIGGER boom BEFORE INSERT ON data WHEN NEW.key = 'boom' "
                      "BEGIN SELECT RAISE(ROLLBACK, 'boom refused'); END")  # fmt: skip
    calls = [adb.aset(f"k{i}", i) for i in range(20)]
    calls.insert(10, adb.aset("boom", 1))
    outcomes = await queued_behind_a_transaction(adb, calls)
    assert isinstance(outcomes.pop(10), NanaSQLiteDatabaseError)
    assert outcomes == [None] * 20
    assert file_data(db_path) == {f"k{i}": i for i in range(20)}
    assert await adb.aget("k0") == 0 and await adb.aget("boom") is None


async def test_a_write_that_fails_at_commit_fails_alone(adb: AsyncNanaSQLite, db_path: str) -> None:
    # A deferred foreign key is checked at COMMIT: the group cannot commit while the 'orphan' write is in it.
    await adb.pragma("foreign_keys", True)
    await adb.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await adb.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    await adb.execute("CREATE TRIGGER orphan AFTER INSERT ON data WHEN NEW.key = 'orphan' "
                      "BEGIN INSERT INTO child VALUES (42); END")  # fmt: skip
    calls = [adb.aset(f"k{i}", i) for i in range(10)]
    calls.insert(4, adb.aset("orphan", 1))
    outcomes = await queued_behind_a_transaction(adb, calls)
    assert isinstance(outcomes.pop(4), NanaSQLiteDatabaseError)
    assert outcomes == [None] * 10
    assert await adb.aget("orphan") is None
    assert file_data(db_path) == {f"k{i}": i for i in range(10)}


# -- the stale fill ----------------------------------------------------------------------------------------------


class ReadGate(apsw.VFS):
    """A VFS over the default one that can stop one page read of a chosen thread until released: the reader is
    then inside its read, with its snapshot taken, for as long as the test needs."""

    def __init__(self, thread_prefix: str) -> None:
        self.thread_prefix = thread_prefix
        self.armed = False
        self.stopped = threading.Event()
        self.release = threading.Event()
        self.base = apsw.vfs_names()[0]  # the platform's default VFS ("unix", "win32"), before we replace it
        super().__init__("nanasqlite-read-gate", base=self.base, makedefault=True)

    def xOpen(self, name: Any, flags: Any) -> apsw.VFSFile:
        return _GatedFile(self, name, flags)

    def pass_through(self) -> None:
        if self.armed and threading.current_thread().name.startswith(self.thread_prefix):
            self.armed = False
            self.stopped.set()
            self.release.wait(BOUND)


class _GatedFile(apsw.VFSFile):
    def __init__(self, gate: ReadGate, name: Any, flags: Any) -> None:
        self.gate = gate
        super().__init__(gate.base, name, flags)

    def xRead(self, amount: int, offset: int) -> bytes:
        self.gate.pass_through()
        return super().xRead(amount, offset)  # type: ignore[no-any-return]


@pytest.fixture
def read_gate() -> Iterator[ReadGate]:
    gate = ReadGate("stale-fill-reader")
    yield gate
    gate.release.set()
    gate.unregister()


async def test_a_reader_never_caches_a_row_older_than_a_committed_write(read_gate: ReadGate, db_path: str) -> None:
    db = AsyncNanaSQLite(db_path, max_workers=1, thread_name_prefix="stale-fill")
    try:
        assert await db.aget("warm-up") is None  # the reader's connection is open and its statement prepared
        with NanaSQLite(db_path) as other:  # another connection writes the old row: this store has not seen it
            other["k"] = "old"
        read_gate.armed = True
        reading = asyncio.create_task(db.aget("k"))
        assert await asyncio.to_thread(read_gate.stopped.wait, BOUND)
        # The reader is inside its read of "old". Now a write commits and caches "new" ...
        await asyncio.wait_for(db.aset("k", "new"), BOUND)
        assert await db.aget("k") == "new"
        # ... and only then does the reader get its old row, and would cache it.
        read_gate.release.set()
        assert await asyncio.wait_for(reading, BOUND) == "old"  # it did read the old row
        assert await db.aget("k") == "new"  # but did not cache it
        assert await asyncio.gather(*(db.aget("k") for _ in range(20))) == ["new"] * 20
    finally:
        read_gate.release.set()
        await db.close()


async def test_results_reach_the_loop_a_few_per_turn_in_order() -> None:
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(10 * SETTLE_CHUNK)]
    futures[3].cancel()  # its awaiter left: skipped, the others still resolved
    error = KeyError("k")
    outcomes = [(f, i != 5, error if i == 5 else i) for i, f in enumerate(futures)]
    _settle_all(outcomes)
    assert sum(f.done() for f in futures[4:]) == SETTLE_CHUNK - 4  # the first slice only, in this turn
    turns = 0
    while not all(f.done() for f in futures):
        await asyncio.sleep(0)
        turns += 1
    assert turns >= 9  # one slice per turn: the loop ran other callbacks in between
    assert futures[3].cancelled() and futures[5].exception() is error
    assert [f.result() for i, f in enumerate(futures) if i not in (3, 5)] == [
        i for i in range(10 * SETTLE_CHUNK) if i not in (3, 5)
    ]


# -- cancellation ------------------------------------------------------------------------------------------------


async def test_cancelled_writes_are_committed_exactly_once(adb: AsyncNanaSQLite) -> None:
    tasks = [asyncio.create_task(adb.aincrement("n", default=0)) for _ in range(300)]
    await asyncio.sleep(0)  # one loop turn: every increment is queued
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), BOUND)
    assert sum(isinstance(r, asyncio.CancelledError) for r in results) == 150
    await adb.aflush()  # resolves after every write queued before it
    assert await adb.aget("n") == 300
    done = sorted(r for r in results if isinstance(r, int))
    assert len(done) == len(set(done)) == 150  # each increment saw its own count: none ran twice


async def test_a_timed_out_write_still_commits(adb: AsyncNanaSQLite) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def owner() -> None:
        async with adb.transaction():
            await adb.aset("in-tx", 1)
            entered.set()
            await release.wait()

    task = asyncio.create_task(owner())
    await entered.wait()
    with pytest.raises(asyncio.TimeoutError):  # the writer serves only the transaction until it ends
        await asyncio.wait_for(adb.aset("late", 1), 0.1)
    release.set()
    await asyncio.wait_for(task, BOUND)
    await adb.aflush()
    assert await adb.abatch_get(["in-tx", "late"]) == {"in-tx": 1, "late": 1}


async def test_cancelling_the_owner_of_a_transaction_rolls_it_back(adb: AsyncNanaSQLite, db_path: str) -> None:
    entered = asyncio.Event()

    async def owner() -> None:
        async with adb.transaction():
            await adb.aset("doomed", 1)
            entered.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(owner())
    await entered.wait()
    waiting = asyncio.create_task(adb.aset("other", 1))  # queued behind the transaction
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(waiting, BOUND)
    assert not await adb.in_transaction()
    assert file_data(db_path) == {"other": 1}


async def test_a_cancelled_begin_never_leaves_a_transaction_open(adb: AsyncNanaSQLite) -> None:
    for _ in range(20):
        task = asyncio.create_task(adb.begin_transaction())
        await asyncio.sleep(0)  # the BEGIN is queued; cancel before the writer answers
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.wait_for(adb.aset("k", 1), BOUND)  # would wait forever behind an orphaned transaction
        assert not await adb.in_transaction()


async def test_sqlite_ending_the_transaction_itself_ends_the_async_one(adb: AsyncNanaSQLite) -> None:
    await adb.execute("CREATE TRIGGER boom BEFORE INSERT ON data WHEN NEW.key = 'boom' "
                      "BEGIN SELECT RAISE(ROLLBACK, 'boom refused'); END")  # fmt: skip
    with pytest.raises(NanaSQLiteDatabaseError, match="boom refused"):
        async with adb.transaction():
            await adb.aset("k", 1)
            await adb.aset("boom", 1)
    assert not await adb.in_transaction()
    await asyncio.wait_for(adb.aset("after", 1), BOUND)
    assert await adb.akeys() == ["after"]


async def test_sqlite_ending_a_manual_transaction_frees_the_writer(adb: AsyncNanaSQLite) -> None:
    await adb.execute("CREATE TRIGGER boom BEFORE INSERT ON data WHEN NEW.key = 'boom' "
                      "BEGIN SELECT RAISE(ROLLBACK, 'boom refused'); END")  # fmt: skip
    await adb.begin_transaction()
    await adb.aset("k", 1)
    with pytest.raises(NanaSQLiteDatabaseError):
        await adb.aset("boom", 1)
    # No commit or rollback follows, yet the transaction SQLite ended no longer holds the other tasks back.
    assert not await adb.in_transaction()
    other = asyncio.create_task(adb.aset("from another task", 1))  # a new context: not the owner
    await asyncio.wait_for(other, BOUND)
    assert await adb.akeys() == ["from another task"]


async def test_a_failed_commit_ends_the_transaction(adb: AsyncNanaSQLite) -> None:
    await adb.pragma("foreign_keys", True)
    await adb.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await adb.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(NanaSQLiteDatabaseError):
        async with adb.transaction():
            await adb.aset("k", 1)
            await adb.execute("INSERT INTO child VALUES (1)")
    assert not await adb.in_transaction()
    await asyncio.wait_for(adb.aset("after", 1), BOUND)
    assert await adb.akeys() == ["after"]


async def test_rollback_journal_mode_readers_and_writer_take_turns(db_path: str) -> None:
    # Without WAL (optimize=False) readers and the writer share the file through SQLite's locks.
    async with AsyncNanaSQLite(db_path, optimize=False, max_workers=3) as db:
        await db.batch_update({f"k{i}": 0 for i in range(100)})

        async def bump(i: int) -> None:
            await db.aset(f"k{i % 100}", i)
            assert await db.aget(f"k{i % 100}") == i

        for start in range(0, 400, 100):
            await db.clear_cache()
            await asyncio.wait_for(asyncio.gather(*(bump(start + i) for i in range(100))), BOUND)
        assert await db.to_dict() == {f"k{i}": 300 + i for i in range(100)}


# -- closing -----------------------------------------------------------------------------------------------------


async def test_close_with_operations_pending(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path, max_workers=2, thread_name_prefix="pending-close")
    await db.batch_update({f"r{i}": i for i in range(100)})
    await db.clear_cache()
    tasks: list[asyncio.Task[Any]] = []
    closing: asyncio.Task[None] | None = None
    for i in range(400):
        tasks.append(asyncio.create_task(db.aset(f"k{i}", i) if i % 2 else db.aget(f"r{i % 100}")))
        if i == 200:
            closing = asyncio.create_task(db.close())
    assert closing is not None
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), BOUND)
    await asyncio.wait_for(closing, BOUND)
    written = set()
    for i, result in enumerate(results):
        if isinstance(result, BaseException):
            assert isinstance(result, NanaSQLiteClosedError), result
        elif i % 2:
            written.add(f"k{i}")
        else:
            assert result == i % 100
    assert written and len(written) < 200  # some were queued before the close, some came after it
    data = file_data(db_path)
    assert {k for k in data if k.startswith("k")} == written
    assert not [t for t in threading.enumerate() if t.name.startswith("pending-close")]


async def test_close_rolls_back_an_open_transaction_and_never_hangs(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path)
    entered = asyncio.Event()

    async def owner() -> None:
        async with db.transaction():
            await db.aset("uncommitted", 1)
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(owner())
    await entered.wait()
    queued = asyncio.create_task(db.aset("queued", 1))
    await asyncio.sleep(0)
    await asyncio.wait_for(db.close(), BOUND)
    await asyncio.wait_for(queued, BOUND)  # queued before the close: it completes
    task.cancel()
    with pytest.raises(asyncio.CancelledError):  # leaving the block does not mask the cancellation
        await task
    assert file_data(db_path) == {"queued": 1}


def _placeholder_args(fn: Any) -> list[Any]:
    return [
        "x"
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


async def test_every_async_method_raises_the_closed_error_after_close(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path)
    child = await db.table("child")
    await db.aset("k", 1)
    await db.close()
    checked = 0
    for store in (db, child):
        for name, member in inspect.getmembers(type(store)):
            if name.startswith("_") or name in ("close", "closed", "sync_db"):
                continue
            if name == "transaction":
                with pytest.raises(NanaSQLiteClosedError):
                    async with store.transaction():
                        pass
            elif inspect.isasyncgenfunction(member):
                with pytest.raises(NanaSQLiteClosedError):
                    await getattr(store, name)().__anext__()
            elif inspect.iscoroutinefunction(member):
                with pytest.raises(NanaSQLiteClosedError):
                    await getattr(store, name)(*_placeholder_args(member))
            else:
                continue
            checked += 1
    with pytest.raises(NanaSQLiteClosedError):
        async for _ in db:
            pass
    assert checked > 120
    await db.close()  # still idempotent
