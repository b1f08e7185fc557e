"""The turn (``Turn`` of both kernel twins, ``nanasqlite._turn``): one worker runs Python at a time, handed over
first come, first served; and what it means for the stores: the batch kernel leaves it for its GIL-free phase,
the async readers need it, the event loop and the program's own threads never wait for it."""

from __future__ import annotations

import asyncio
import importlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import apsw
import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite
from nanasqlite._turn import TURN, outside

from .conftest import NO_EXT

TWINS = ["nanasqlite._bridge"] if NO_EXT else ["nanasqlite._bridge", "nanasqlite._speedups._bridge"]
WAIT = 10.0  # seconds any wait below may take before the test fails instead of hanging


@pytest.fixture(params=TWINS)
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_one_holder_at_a_time(twin: ModuleType) -> None:
    turn = twin.Turn()
    inside = 0
    most = 0
    count = 0

    def work() -> None:
        nonlocal inside, most, count
        for _ in range(200):
            with turn:
                inside += 1
                most = max(most, inside)
                time.sleep(0)  # invite another thread in, if the turn let it
                count += 1
                inside -= 1

    threads = [start(work) for _ in range(4)]
    for thread in threads:
        thread.join(WAIT)
    assert count == 800
    assert most == 1


def test_waiters_get_the_turn_in_the_order_they_came(twin: ModuleType) -> None:
    turn = twin.Turn()
    order: list[int] = []

    def waiter(n: int) -> None:
        with turn:
            order.append(n)

    turn.acquire()
    threads = []
    for n in range(5):
        threads.append(start(lambda n=n: waiter(n)))  # type: ignore[misc]
        until(lambda n=n: turn.waiting == n + 1)  # type: ignore[misc]
    turn.release()
    for thread in threads:
        thread.join(WAIT)
    assert order == [0, 1, 2, 3, 4]
    assert turn.waiting == 0


def test_pass_on_lets_the_waiters_go_first_and_returns_the_turn(twin: ModuleType) -> None:
    turn = twin.Turn()
    order: list[str] = []
    turn.acquire()
    other = start(lambda: (turn.acquire(), order.append("other"), turn.release()))  # type: ignore[func-returns-value]
    until(lambda: turn.waiting == 1)
    turn.pass_on()
    order.append("me")
    assert turn.mine() is turn
    turn.release()
    other.join(WAIT)
    assert order == ["other", "me"]
    turn.acquire()
    turn.pass_on()  # nobody waits: keeps it
    assert turn.mine() is turn
    turn.release()


def test_only_the_holder_may_release(twin: ModuleType) -> None:
    turn = twin.Turn()
    with pytest.raises(RuntimeError, match="does not hold"):
        turn.release()
    turn.acquire()
    errors: list[BaseException] = []

    def stranger() -> None:
        try:
            turn.release()
        except RuntimeError as exc:
            errors.append(exc)

    start(stranger).join(WAIT)
    assert len(errors) == 1
    assert turn.mine() is turn  # still ours
    seen: list[Any] = []
    start(lambda: seen.append(turn.mine())).join(WAIT)
    assert seen == [None]
    turn.release()
    assert turn.mine() is None


def test_a_disabled_turn_never_blocks_and_is_nobodys(twin: ModuleType) -> None:
    turn = twin.Turn(enabled=False)
    turn.acquire()
    assert turn.mine() is None
    done = threading.Event()
    start(lambda: (turn.acquire(), done.set()))  # type: ignore[func-returns-value]
    assert done.wait(WAIT)
    turn.release()
    turn.release()


def test_a_waiter_out_of_patience_goes_on_without_the_turn(twin: ModuleType) -> None:
    turn = twin.Turn(patience=0.01)
    turn.acquire()
    outcome: list[Any] = []

    def waiter() -> None:
        outcome.append(turn.acquire())
        outcome.append(turn.mine())
        with turn:  # a block entered without the turn leaves without releasing it
            pass

    start(waiter).join(WAIT)
    assert outcome == [False, None]
    assert turn.mine() is turn and turn.waiting == 0  # the holder still holds it; the queue is empty
    turn.release()
    assert turn.acquire() is True  # and it is free again
    turn.release()
    with pytest.raises(ValueError, match="patience"):
        twin.Turn(patience=-1)


def test_outside_leaves_the_turn_for_the_block_only_when_held(twin: ModuleType) -> None:
    turn = twin.Turn()
    with outside(turn):  # not held: nothing to leave
        assert turn.mine() is None
    got: list[bool] = []
    with turn:
        with outside(turn):
            start(lambda: (turn.acquire(), got.append(True), turn.release())).join(WAIT)  # type: ignore[func-returns-value]
        assert turn.mine() is turn
    assert got == [True]


# -- the mailbox: workers wait for work, then for the turn ---------------------------------------------------


def test_mailbox_is_first_in_first_out(twin: ModuleType) -> None:
    box = twin.Mailbox()
    for i in range(5):
        box.put(i)
    assert [box.take() for _ in range(3)] == [0, 1, 2]
    assert box.take_nowait() == 3
    assert box.take_nowait() == 4
    with pytest.raises(queue.Empty):
        box.take_nowait()


def test_mailbox_take_waits_for_an_item(twin: ModuleType) -> None:
    box = twin.Mailbox()
    got: list[Any] = []
    taker = start(lambda: got.append(box.take()))
    box.put("job")
    taker.join(WAIT)
    assert got == ["job"]


def test_mailbox_take_returns_holding_the_turn_and_leaves_it_while_waiting(twin: ModuleType) -> None:
    turn, box = twin.Turn(patience=WAIT), twin.Mailbox()
    waiting = threading.Event()
    got: list[Any] = []
    held_after: list[bool] = []

    def worker() -> None:
        with turn:  # a worker holding the turn goes to wait for work
            waiting.set()
            got.append(box.take(turn))
            held_after.append(turn.mine() is turn)

    thread = start(worker)
    assert waiting.wait(WAIT)
    assert turn.acquire()  # the waiting worker left the turn (else this gives up after WAIT seconds)
    box.put("job")
    until(lambda: turn.waiting == 1)  # it has its item and now waits for the turn, held here
    assert not got
    turn.release()
    thread.join(WAIT)
    assert got == ["job"] and held_after == [True]


def test_mailbox_take_refuses_what_is_not_a_turn(twin: ModuleType) -> None:
    box = twin.Mailbox()
    box.put(1)
    with pytest.raises(TypeError, match="Turn"):
        box.take(threading.Lock())
    assert box.take_nowait() == 1  # nothing taken by the refused call


def test_mailbox_delivers_every_item_once_to_many_takers(twin: ModuleType) -> None:
    turn, box = twin.Turn(), twin.Mailbox()
    got: list[int] = []
    lock = threading.Lock()

    def taker() -> None:
        while True:
            item = box.take(turn)
            if turn.mine() is not None:
                turn.release()
            if item is None:
                return
            with lock:
                got.append(item)

    def producer(base: int) -> None:
        for i in range(500):
            box.put(base + i)

    takers = [start(taker) for _ in range(4)]
    producers = [start(lambda b=b: producer(b)) for b in range(0, 2000, 500)]
    for thread in producers:
        thread.join(WAIT)
    for _ in takers:
        box.put(None)
    for thread in takers:
        thread.join(WAIT)
    assert sorted(got) == list(range(2000))


# -- the batch kernel and its gate -------------------------------------------------------------------------------


@pytest.fixture
def con(tmp_path: Any) -> Iterator[apsw.Connection]:
    c = apsw.Connection(str(tmp_path / "gate.db"))
    c.execute("PRAGMA journal_mode = WAL").fetchall()
    c.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    yield c
    c.close()


PUT = "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)"


def gate_free_during_batch(kernel: ModuleType, con: apsw.Connection, gate: Any, n: int) -> bool:
    """Run a batch of ``n`` items holding ``gate`` (in this thread); return whether another thread took the gate
    while the batch was still running. The batch must hold the gate again when it returns."""
    assert kernel.attach(con)
    batch_done = False
    taken_during: list[bool] = []

    def other() -> None:
        gate.acquire()
        taken_during.append(not batch_done)
        gate.release()

    gate.acquire()
    thread = start(other)
    until(lambda: getattr(gate, "waiting", 1) >= 1)
    time.sleep(0.01)  # a plain Lock cannot say whether someone waits: give the thread time to get there
    kernel.put_many(con, PUT, [f"k{i:07d}" for i in range(n)], [{"i": i} for i in range(n)], False, gate=gate)
    batch_done = True
    assert gate.mine() is gate if hasattr(gate, "mine") else gate.locked()  # held again by the caller
    gate.release()
    thread.join(WAIT)
    assert con.execute("SELECT COUNT(*) FROM kv").get == n
    return taken_during[0]


@pytest.mark.skipif(NO_EXT, reason="the compiled kernel is what leaves the gate; the pure twin is tested below")
def test_native_kernel_leaves_its_turn_for_the_gil_free_phase(twin: ModuleType, con: apsw.Connection) -> None:
    kernel = importlib.import_module("nanasqlite._speedups._bridge")
    assert gate_free_during_batch(kernel, con, twin.Turn(), 100_000) is True


@pytest.mark.skipif(NO_EXT, reason="the compiled kernel is what leaves the gate")
def test_native_kernel_releases_any_gate_object(con: apsw.Connection) -> None:
    kernel = importlib.import_module("nanasqlite._speedups._bridge")
    assert gate_free_during_batch(kernel, con, threading.Lock(), 100_000) is True


def test_pure_kernel_keeps_its_turn(twin: ModuleType, con: apsw.Connection) -> None:
    kernel = importlib.import_module("nanasqlite._bridge")
    assert gate_free_during_batch(kernel, con, twin.Turn(), 2_000) is False


@pytest.mark.parametrize("call", ["put_many", "delete_many", "get_many", "scan"])
def test_kernel_refuses_a_turn_the_caller_does_not_hold(twin: ModuleType, con: apsw.Connection, call: str) -> None:
    kernel = importlib.import_module("nanasqlite._speedups._bridge" if not NO_EXT else "nanasqlite._bridge")
    assert kernel.attach(con)
    if kernel.KERNEL == "apsw":
        pytest.skip("the pure twin never releases the gate, so it never checks it")
    turn = twin.Turn()
    args: dict[str, tuple[Any, ...]] = {
        "put_many": (PUT, ["a"], [1]),
        "delete_many": ("DELETE FROM kv WHERE key = ?", ["a"]),
        "get_many": ("SELECT key, value FROM kv WHERE key IN (", ["a"], lambda k, t: t),
        "scan": ("SELECT key, value FROM kv",),
    }
    with pytest.raises(RuntimeError, match="does not hold"):
        getattr(kernel, call)(con, *args[call], gate=turn)
    assert con.execute("SELECT COUNT(*) FROM kv").get == 0
    assert turn.waiting == 0
    with turn:  # still free, and usable
        assert turn.mine() is turn


# -- the stores --------------------------------------------------------------------------------------------------


def hold_turn() -> tuple[threading.Event, threading.Thread]:
    """Hold the process's turn in another thread until the returned event is set."""
    held, let_go = threading.Event(), threading.Event()

    def holder() -> None:
        with TURN:
            held.set()
            let_go.wait(WAIT)

    thread = start(holder)
    assert held.wait(WAIT)
    return let_go, thread


@pytest.mark.skipif(not TURN.enabled, reason="a free-threaded build has no turn to wait for")
def test_the_sync_store_in_a_program_thread_never_waits_for_the_turn(tmp_path: Any) -> None:
    let_go, holder = hold_turn()
    try:
        with NanaSQLite(str(tmp_path / "s.db")) as db:
            db.batch_update({f"k{i}": i for i in range(5000)})
            db.clear_cache()
            assert db.batch_get(["k1", "k4999"]) == {"k1": 1, "k4999": 4999}
            db.batch_delete(["k1"])
            db.load_all()
            assert len(db) == 4999
    finally:
        let_go.set()
        holder.join(WAIT)


@pytest.mark.skipif(not TURN.enabled, reason="a free-threaded build has no turn to wait for")
async def test_async_readers_queue_for_the_turn_and_go_on_when_its_holder_is_stuck(tmp_path: Any) -> None:
    path = str(tmp_path / "a.db")
    with NanaSQLite(path) as seed:
        seed.batch_update({"cold": 1, "hot": 2})
    async with AsyncNanaSQLite(path) as db:
        await db.aset("hot", 3)  # cached by the write; "cold" is only in the file
        held, let_go = threading.Event(), threading.Event()
        most_waiting = 0

        def stuck_holder() -> None:  # holds the turn and never lets go by itself, like a read on a dead disk
            nonlocal most_waiting
            with TURN:
                held.set()
                while not let_go.is_set():
                    most_waiting = max(most_waiting, TURN.waiting)
                    time.sleep(0.0005)

        holder = start(stuck_holder)
        try:
            assert held.wait(WAIT)
            assert await db.aget("hot") == 3  # answered on the loop, which never waits for the turn
            assert await asyncio.wait_for(db.aget("cold"), WAIT) == 1  # the reader went on after PATIENCE
            await asyncio.wait_for(db.aset("w", 1), WAIT)  # and so did the writer
            assert most_waiting >= 1  # but each queued for the turn first
        finally:
            let_go.set()
            holder.join(WAIT)
        assert await db.aget("w") == 1
