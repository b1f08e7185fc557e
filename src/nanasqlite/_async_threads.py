"""The threads behind ``AsyncNanaSQLite``: a pool of readers, one group-committing writer, and the fill rule.

A ``Job`` is one call of a sync method (by name) or of a small function, on one of three lanes:

* ``READ`` runs on a reader thread. Each reader has its own read-only connection to the file (WAL readers run in
  parallel) and calls the method on a *reader view* of the store: the same object with that connection's
  statements, filling the store's shared cache through ``_GuardedFill``.
* ``WRITE`` runs on the writer thread inside a *group*: every write queued at that moment (up to ``MAX_GROUP``)
  runs in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` on the store's own connection, through a *writer view* whose
  cache is an ``_Overlay``: what the group wrote is recorded there and applied to the shared cache only after the
  COMMIT. Each write's awaiter is resolved after that, so a resolved write is committed and cached. A write that
  raises fails alone (the store's writes are atomic per call); if SQLite loses the whole transaction, or COMMIT
  fails, every write of the group is retried in a group of its own, so each awaiter gets its own outcome.
* ``SOLO`` runs on the writer thread, alone, on the store itself (SQL helpers, cache control, transactions).

The fill rule. A reader that read an old row must never put it into the cache after the writer cached a newer
one. ``Engine.gen`` is a write generation, changed only under ``fill_lock``: +2 when a group's effects are
applied to the cache, +1 when a SOLO job or a transaction starts and +1 when it ends (so it is odd while the
store itself may be changing the cache). A fill is made under ``fill_lock`` and only if ``gen`` is even and
equal to the value read before the row was: a fill admitted that way read a row no older than the last applied
group, and any later group overwrites it when it applies its own effects.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from queue import Empty
from typing import TYPE_CHECKING, Any

from ._native import bridge
from ._turn import TURN, outside
from .cache import ABSENT, MISS, Raw, lookup_each
from .exceptions import NanaSQLiteClosedError, NanaSQLiteDatabaseError, NanaSQLiteError
from .storage import Connection

if TYPE_CHECKING:
    from .core import NanaSQLite

__all__ = ["READ", "WRITE", "SOLO", "BEGIN", "Engine", "Job", "Txn", "commit_level", "rollback_level"]

READ, WRITE, SOLO, BEGIN = 0, 1, 2, 3
_STOP_LANE = 4

#: Most writes committed in one group: bounds the delay a long queue adds to the first write of a group.
MAX_GROUP = 1024
#: Cache entries a write group applies per call, so other threads (the event loop) get the GIL in between.
APPLY_CHUNK = 4096
#: Most read jobs a reader takes at once; their single-key lookups become one batch_get.
READ_BATCH = 64
_COALESCED = frozenset(("get", "__contains__"))
#: Most futures resolved (so tasks woken) in one turn of the event loop.
SETTLE_CHUNK = 16


class Txn:
    """The token of one async transaction; it travels in a context variable with the tasks that own it."""

    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


@dataclass(slots=True)
class Job:
    """One call to run on a thread; ``call`` is a method name of the store or a function taking the store."""

    lane: int
    store: NanaSQLite | None  # None: the engine's own store (not open yet when the job was made)
    call: str | Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    txn: Txn | None


_STOP = Job(_STOP_LANE, None, "", (), {}, None, None, None)
_PARK = Job(_STOP_LANE, None, "", (), {}, None, None, None)  # a reader closes its connection and waits


# -- resolving futures from threads ------------------------------------------------------------------------------


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled by its awaiter: nobody wants the outcome
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle_all(items: list[tuple[asyncio.Future[Any], bool, Any]], start: int = 0) -> None:
    # A few futures per turn of the loop: each one wakes a task, and waking hundreds in one turn (1000 tasks
    # reading) would keep the loop from everything else, its timers included, for milliseconds.
    end = start + SETTLE_CHUNK
    for future, ok, value in items[start:end]:
        _settle(future, ok, value)
    if end < len(items):
        asyncio.get_running_loop().call_soon(_settle_all, items, end)


def _deliver(job: Job, ok: bool, value: Any) -> None:
    if job.future is None:  # a cleanup job nobody awaits
        return
    assert job.loop is not None
    try:
        job.loop.call_soon_threadsafe(_settle, job.future, ok, value)
    except RuntimeError:  # the loop is closed: its awaiter is gone
        pass


def _deliver_all(outcomes: list[tuple[Job, bool, Any]]) -> None:
    # One wake-up of each loop for a whole group instead of one per write.
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, ok, value in outcomes:
        if job.future is None:
            continue
        assert job.loop is not None
        by_loop.setdefault(job.loop, []).append((job.future, ok, value))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, items)
        except RuntimeError:
            pass


def _fresh(exc: BaseException) -> BaseException:
    """A copy of an error that is raised to many awaiters, so their tracebacks do not pile up on one object."""
    try:
        return copy.copy(exc).with_traceback(None)
    except Exception:
        return exc


def _call(target: Any, job: Job) -> Any:
    call = job.call
    if isinstance(call, str):
        return getattr(target, call)(*job.args, **job.kwargs)
    return call(target, *job.args, **job.kwargs)


# -- views of a store -------------------------------------------------------------------------------------------


def _derive(store: NanaSQLite, **internals: Any) -> NanaSQLite:
    """A twin of ``store`` with some internals replaced; it runs the store's own public methods, so no business
    logic is repeated here. It is not registered with the connection and is never closed."""
    twin = type(store).__new__(type(store))
    twin.__dict__.update(store.__dict__)
    twin._hot = store._hot
    for name, value in internals.items():
        setattr(twin, name, value)
    return twin


def _always() -> bool:
    return True


class _GuardedFill:
    """The shared cache as a reader thread sees it: lookups pass through, fills obey the fill rule."""

    def __init__(self, engine: Engine, store: NanaSQLite) -> None:
        self._engine = engine
        self._store = store
        self.start = 1  # the generation read before the current job; odd refuses every fill

    @property
    def hot(self) -> dict[str, Any]:
        return self._store._cache.hot

    def lookup(self, key: str) -> Any:
        return self._store._cache.lookup(key)

    def lookup_many(self, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        return self._store._cache.lookup_many(keys)

    def _fill(self, name: str, *args: Any) -> None:
        engine = self._engine
        start = self.start
        if start & 1:
            return
        with engine.fill_lock:
            if engine.gen == start:
                getattr(self._store._cache, name)(*args)

    def put(self, key: str, value: Any) -> None:
        self._fill("put", key, value)

    def put_many(self, values: dict[str, Any]) -> None:
        self._fill("put_many", values)

    def put_raw(self, key: str, text: str) -> None:
        self._fill("put_raw", key, text)

    def put_raw_many(self, keys: list[str], texts: list[str]) -> None:
        self._fill("put_raw_many", keys, texts)

    def put_absent(self, key: str) -> None:
        self._fill("put_absent", key)

    def discard(self, key: str) -> None:
        self._store._cache.discard(key)  # forgetting is always safe

    def discard_many(self, keys: list[str]) -> None:
        self._store._cache.discard_many(keys)

    def clear(self) -> None:
        self._store._cache.clear()

    def is_cached(self, key: str) -> bool:
        return self._store._cache.is_cached(key)

    def __len__(self) -> int:
        return len(self._store._cache)


_FORGOTTEN: Any = object()  # overlay entry: the group discarded the key, so only the file knows it


class _Overlay:
    """The shared cache as a write group sees it: the group's own changes on top, applied after COMMIT."""

    def __init__(self, store: NanaSQLite) -> None:
        self._store = store
        self.hot: dict[str, Any] = {}  # stays empty: the writer view answers nothing without lookup()
        self._log: list[tuple[str, tuple[Any, ...]]] = []
        self._view: dict[str, Any] | None = None  # built from the log on the first lookup of a group
        self._cleared = False

    def _record(self, name: str, *args: Any) -> None:
        self._log.append((name, args))
        if self._view is not None:
            self._replay(name, args)

    def _replay(self, name: str, args: tuple[Any, ...]) -> None:
        view = self._view
        assert view is not None
        if name == "put":
            view[args[0]] = args[1]
        elif name == "put_many":
            view.update(args[0])
        elif name == "put_raw":
            view[args[0]] = Raw(args[1])
        elif name == "put_raw_many":
            for key, text in zip(args[0], args[1], strict=True):
                view[key] = Raw(text)
        elif name == "put_absent":
            view[args[0]] = ABSENT
        elif name == "discard":
            view[args[0]] = _FORGOTTEN
        elif name == "discard_many":
            for key in args[0]:
                view[key] = _FORGOTTEN
        elif name == "clear":
            view.clear()
            self._cleared = True

    def lookup(self, key: str) -> Any:
        if self._view is None:
            self._view = {}
            self._cleared = False
            for name, args in self._log:
                self._replay(name, args)
        entry = self._view.get(key, MISS)
        if entry is _FORGOTTEN or (entry is MISS and self._cleared):
            return MISS
        if entry is MISS:
            return self._store._cache.lookup(key)
        return entry

    def lookup_many(self, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        return lookup_each(self.lookup, keys)

    def put(self, key: str, value: Any) -> None:
        self._record("put", key, value)

    def put_many(self, values: dict[str, Any]) -> None:
        self._record("put_many", dict(values))  # applied after COMMIT: the caller may change its dict before

    def put_raw(self, key: str, text: str) -> None:
        self._record("put_raw", key, text)

    def put_raw_many(self, keys: list[str], texts: list[str]) -> None:
        self._record("put_raw_many", keys, texts)

    def put_absent(self, key: str) -> None:
        self._record("put_absent", key)

    def discard(self, key: str) -> None:
        self._record("discard", key)

    def discard_many(self, keys: list[str]) -> None:
        self._record("discard_many", keys)

    def clear(self) -> None:
        self._record("clear")

    def is_cached(self, key: str) -> bool:
        entry = self.lookup(key)
        return entry is not MISS and entry is not ABSENT

    def __len__(self) -> int:
        return len(self._store._cache)

    def apply(self) -> None:
        """Replay the group's changes on the shared cache (the caller holds ``fill_lock``)."""
        cache = self._store._cache
        for name, args in self._log:
            if name == "put_raw_many" and len(args[0]) > APPLY_CHUNK:
                # In slices: one C call over 100k entries would hold the GIL (and stall the loop) for ~15 ms.
                keys, texts = args
                for start in range(0, len(keys), APPLY_CHUNK):
                    cache.put_raw_many(keys[start : start + APPLY_CHUNK], texts[start : start + APPLY_CHUNK])
            else:
                getattr(cache, name)(*args)
        self.reset()

    def reset(self) -> None:
        self._log = []
        self._view = None
        self._cleared = False

    def mark(self) -> int:
        return len(self._log)

    def truncate(self, mark: int) -> None:
        """Forget what was recorded since ``mark``: the job that recorded it failed, and its writes with it."""
        if len(self._log) > mark:
            del self._log[mark:]
            self._view = None
            self._cleared = False


def commit_level(store: NanaSQLite) -> bool:
    """Commit the innermost transaction level; return whether a transaction is still open."""
    store.commit()
    return store.in_transaction()


def rollback_level(store: NanaSQLite, every: bool) -> bool:
    """Roll back the innermost level (with ``every``, all of them); return whether a transaction is still open.

    When SQLite has ended the whole transaction itself (``RAISE(ROLLBACK)``, some I/O errors), every level is
    closed, so that the writer never keeps serving a transaction that no longer exists."""
    if every and not store.in_transaction():
        return False
    try:
        store.rollback()
    except NanaSQLiteDatabaseError:
        if store._conn.apsw.in_transaction:
            raise
        every = True
    while every and store.in_transaction():
        with contextlib.suppress(NanaSQLiteDatabaseError):
            store.rollback()
    return store.in_transaction()


class _Reader:
    """What one reader thread holds: its connection and its views of the stores."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._epoch = -1
        self._views: dict[int, tuple[NanaSQLite, NanaSQLite, _GuardedFill]] = {}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._views.clear()

    def _connect(self) -> bool:
        engine = self._engine
        if self._conn is not None and self._epoch == engine.epoch:
            return True
        self.close()
        self._epoch = engine.epoch
        try:
            self._conn = engine._open_reader()
        except Exception:
            return False
        return True

    def _view(self, store: NanaSQLite, start: int) -> NanaSQLite:
        """This thread's view of ``store``, filling the cache only if the generation is still ``start``."""
        entry = self._views.get(id(store))
        if entry is None or entry[0] is not store:
            assert self._conn is not None
            guard = _GuardedFill(self._engine, store)
            view = _derive(store, _conn=self._conn, _lock=self._conn.lock, _kv=store._kv.on(self._conn), _cache=guard)
            entry = self._views[id(store)] = (store, view, guard)
        entry[2].start = start
        return entry[1]

    def serve(self, jobs: list[Job]) -> None:
        engine = self._engine
        jobs = [job for job in jobs if job.future is None or not job.future.cancelled()]  # nobody waits
        if not jobs:
            return
        if engine.open_error is not None:
            _deliver_all([(job, False, _fresh(engine.open_error)) for job in jobs])
            return
        # The generation before the connection check: a restore that replaced the file after this point
        # changes it, so nothing read through the old connection can be cached.
        start = engine.gen
        if not self._connect():
            # The file cannot be shared (no WAL, odd file system): reads go to the writer from now on.
            engine._readers_ok = False
            for job in jobs:
                engine._inbox.put(job)
            return
        outcomes: list[tuple[Job, bool, Any]] = []
        lookups: dict[int, list[Job]] = {}
        for job in jobs:
            if job.call in _COALESCED and type(job.args[0]) is str and not job.kwargs:
                lookups.setdefault(id(job.store), []).append(job)
            else:
                outcomes.append(self._one(job, start))
        for group in lookups.values():
            if len(group) == 1:
                outcomes.append(self._one(group[0], start))
            else:
                outcomes.extend(self._many(group, start))
        _deliver_all(outcomes)

    def _one(self, job: Job, start: int) -> tuple[Job, bool, Any]:
        engine = self._engine
        try:
            target = engine.target(job)
            target._check()
            return job, True, _call(self._view(target, start), job)
        except BaseException as exc:
            return job, False, exc

    def _many(self, jobs: list[Job], start: int) -> list[tuple[Job, bool, Any]]:
        """Single-key lookups of one store answered by one ``batch_get`` (one query, GIL-free in the kernel)."""
        engine = self._engine
        try:
            target = engine.target(jobs[0])
            target._check()
            found = self._view(target, start).batch_get([job.args[0] for job in jobs])
        except Exception:
            return [self._one(job, start) for job in jobs]  # each on its own, for its own error
        outcomes: list[tuple[Job, bool, Any]] = []
        for job in jobs:
            key = job.args[0]
            if job.call == "get":
                outcomes.append((job, True, found.get(key, job.args[1] if len(job.args) > 1 else None)))
            else:
                outcomes.append((job, True, key in found))
        return outcomes


# -- the engine -------------------------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    # Daemon threads would die mid-work at exit; close every store that its owner never closed.
    for engine in list(_LIVE):
        engine.shutdown()
        engine.writer.join(timeout=10)


class Engine:
    """The writer thread, the reader threads and the queues of one store file (shared by its sub-tables)."""

    def __init__(self, opener: Callable[[], NanaSQLite], reader_path: str, readers: int, name: str) -> None:
        self.store: NanaSQLite | None = None
        self.open_error: BaseException | None = None
        self.ready = threading.Event()
        self.gen = 0
        self.fill_lock = threading.Lock()
        self.epoch = 0  # bumped when the file was replaced: readers reopen their connections
        self.txn: Txn | None = None  # the async transaction the writer is serving
        self.closed = False
        self._finished = False
        self._rest: deque[Job] = deque()  # what the writer left unserved when it stopped
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._state = threading.Lock()
        # Workers wait for work in these without the GIL, and then for the turn (see Mailbox and _turn).
        self._inbox: Any = bridge.Mailbox()
        self._read_q: Any = bridge.Mailbox()
        self._opener = opener
        self._reader_path = reader_path
        self._readers_ok = readers > 0
        self._parking = threading.Condition()
        self._parked = 0
        self._gone = 0
        self._unparks = 0  # how many times the readers were let go; a parked reader waits for the next one
        self._wviews: dict[int, tuple[NanaSQLite, NanaSQLite, _Overlay]] = {}
        # Daemon threads, so that a store nobody closed cannot hang the interpreter's exit (see _close_at_exit).
        self.writer = threading.Thread(target=self._writer_main, name=f"{name}-writer", daemon=True)
        self.readers = [
            threading.Thread(target=self._reader_main, name=f"{name}-reader-{i}", daemon=True) for i in range(readers)
        ]
        _LIVE.add(self)
        self.writer.start()
        for thread in self.readers:
            thread.start()

    def target(self, job: Job) -> NanaSQLite:
        """The store a job is for (never ``job.store or ...``: an empty store is falsy)."""
        store = job.store if job.store is not None else self.store
        assert store is not None
        return store

    # -- the event loop side ------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        if job.lane == READ and self._readers_ok and (job.txn is None or job.txn is not self.txn):
            self._read_q.put(job)
        else:
            self._inbox.put(job)

    def close(self, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None) -> None:
        """Stop accepting work, finish what is queued, close the store; ``waiter`` is resolved at the end."""
        with self._state:
            if self._finished:
                if waiter is not None:
                    waiter[0].call_soon(_settle, waiter[1], True, None)
                return
            if waiter is not None:
                self._waiters.append(waiter)
            if self.closed:
                return
            self.closed = True
        for _ in self.readers:
            self._read_q.put(_STOP)
        self._inbox.put(_STOP)

    def shutdown(self) -> None:
        """``close`` with nobody waiting (the facade was garbage-collected, or the interpreter exits)."""
        self.close(None)

    # -- readers ------------------------------------------------------------------------------------------

    def _open_reader(self) -> Connection:
        assert self.store is not None
        options = self.store._options
        return Connection(
            self._reader_path,
            optimize=options.optimize,
            # the readers share the page-cache budget of the store (their reads mostly hit the mmap anyway)
            cache_size_mb=max(2, options.cache_size_mb // max(1, len(self.readers))),
            busy_timeout=options.busy_timeout,
            lock_timeout=None,
            readonly=True,
        )

    def _reader_main(self) -> None:
        self.ready.wait()
        reader = _Reader(self)
        try:
            while True:
                try:
                    jobs, control = self._take_reads()  # holding the turn: Python only in turn with the others
                    if jobs:
                        reader.serve(jobs)
                finally:
                    if TURN.mine() is not None:  # not when it went on without the turn
                        TURN.release()
                if control is _STOP:
                    return
                if control is _PARK:
                    reader.close()
                    with self._parking:
                        self._parked += 1
                        self._parking.notify_all()
                        # Not "until _park is false": the writer may park the readers again before this one
                        # wakes up, and it must then come back for the new order rather than stay parked
                        # uncounted.
                        seen = self._unparks
                        while self._unparks == seen:
                            self._parking.wait()
        finally:
            reader.close()
            with self._parking:
                self._gone += 1
                self._parking.notify_all()

    def _take_reads(self) -> tuple[list[Job], Job | None]:
        """The next jobs of the read queue: one (waiting for it, then for the turn), then whatever else is there,
        up to ``READ_BATCH``; and the stop or park order met on the way, if any (each reader takes one)."""
        queue = self._read_q
        job = queue.take(TURN)
        if job is _STOP or job is _PARK:
            return [], job
        jobs = [job]
        try:
            while len(jobs) < READ_BATCH:
                job = queue.take_nowait()
                if job is _STOP or job is _PARK:
                    return jobs, job
                jobs.append(job)
        except Empty:
            pass
        return jobs, None

    def _park_readers(self) -> None:
        """Have every reader close its connection and wait (before the file is replaced: no handle may stay
        open on it, and Windows would refuse to replace it)."""
        with self._parking:
            self._parked = 0
        for _ in self.readers:
            self._read_q.put(_PARK)
        with outside(), self._parking:  # a reader may need the turn to finish the jobs in its hands
            self._parking.wait_for(lambda: self._parked + self._gone >= len(self.readers))

    def _unpark_readers(self) -> None:
        with self._parking:
            self._unparks += 1
            self._parking.notify_all()

    # -- the writer ---------------------------------------------------------------------------------------

    def _fence(self) -> None:
        with self.fill_lock:
            self.gen += 1

    def _writer_main(self) -> None:
        # The writer holds the turn (see _turn) except where it waits: for work, for readers to park, for
        # BEGIN and COMMIT, and inside the batch kernel's GIL-free phase.
        with TURN:
            self._serve_writes()
        self._finish()

    def _serve_writes(self) -> None:
        try:
            self.store = self._opener()
        except BaseException as exc:
            self.open_error = exc
        self.ready.set()
        work: deque[Job] = deque()
        held: deque[Job] = deque()  # other tasks' jobs, queued while a transaction is open
        group: list[Job] = []
        inbox = self._inbox
        while True:
            if TURN.mine() is None:
                TURN.acquire()  # it went on without the turn after waiting out of patience: queue again
            else:
                TURN.pass_on()  # a reader that waits for the turn gets it between two jobs
            if not work:
                if group:
                    self._commit(group)
                    group = []
                    continue
                work.append(inbox.take(TURN))  # leaves the turn while it waits
                try:
                    while True:
                        work.append(inbox.take_nowait())
                except Empty:
                    pass
            job = work.popleft()
            if job is _STOP:
                if group:
                    self._commit(group)
                    group = []
                if self.txn is not None:  # closing rolls back the open transaction, then runs what waited
                    self._end_txn(abort=True)
                    work.appendleft(job)
                    work.extendleft(reversed(held))
                    held.clear()
                    continue
                break
            if self.open_error is not None:
                _deliver(job, False, _fresh(self.open_error))
                continue
            if self.txn is not None:
                if job.txn is not self.txn:
                    held.append(job)
                    continue
                outcome = self._outcome(job)
                if not self._txn_open():  # ended before its owner hears of it, so in_transaction() agrees
                    self._end_txn(abort=False)
                    work.extendleft(reversed(held))
                    held.clear()
                _deliver(job, *outcome)
                continue
            if job.lane == WRITE:
                group.append(job)
                if len(group) >= MAX_GROUP:
                    self._commit(group)
                    group = []
                continue
            if group:
                self._commit(group)
                group = []
            if job.lane == BEGIN:
                self._begin(job)
            elif job.lane == READ:
                self._run_plain(job)
            else:
                self._fence()
                replaces_file = job.call == "restore"
                if replaces_file:
                    self._park_readers()
                try:
                    self._run_plain(job)
                finally:
                    if replaces_file:
                        self.epoch += 1  # the readers open the new file
                        self._unpark_readers()
                    self._fence()
        self._rest = work

    def _outcome(self, job: Job) -> tuple[bool, Any]:
        try:
            return True, _call(self.target(job), job)
        except BaseException as exc:
            return False, exc

    def _run_plain(self, job: Job) -> None:
        _deliver(job, *self._outcome(job))

    def _begin(self, job: Job) -> None:
        target = self.target(job)
        self._fence()
        try:
            target.begin_transaction()
        except BaseException as exc:
            self._fence()
            _deliver(job, False, exc)
            return
        self.txn = job.txn
        _deliver(job, True, None)

    def _txn_open(self) -> bool:
        store = self.store
        try:
            if store is None or not store.in_transaction():
                return False
            if not store._conn.apsw.in_transaction:  # SQLite ended it itself: close the levels left over
                return rollback_level(store, every=True)
            return True
        except NanaSQLiteError:  # closed
            return False

    def _end_txn(self, abort: bool) -> None:
        if abort and self.store is not None:
            with contextlib.suppress(NanaSQLiteError):
                rollback_level(self.store, every=True)
        self.txn = None
        self._fence()

    def _writer_view(self, store: NanaSQLite) -> tuple[NanaSQLite, _Overlay]:
        entry = self._wviews.get(id(store))
        if entry is None or entry[0] is not store:
            overlay = _Overlay(store)
            view = _derive(store, _cache=overlay, _hot=overlay.hot, _filling=_always)
            entry = self._wviews[id(store)] = (store, view, overlay)
        return entry[1], entry[2]

    def _commit(self, group: list[Job]) -> None:
        """Run ``group`` in one transaction; resolve each write after COMMIT and after the cache shows it."""
        store = self.store
        assert store is not None
        conn = store._conn
        try:
            with outside():  # BEGIN IMMEDIATE may wait for another process's write lock
                conn.begin()
        except Exception as exc:
            _deliver_all([(job, False, _fresh(exc)) for job in group])
            return
        outcomes: list[tuple[Job, bool, Any]] = []
        overlays: list[_Overlay] = []
        try:
            for job in group:
                target = self.target(job)
                overlay = None
                try:
                    target._check()  # a sub-table closed on its own
                    view, overlay = self._writer_view(target)
                    if overlay not in overlays:
                        overlays.append(overlay)
                    mark = overlay.mark()
                    outcomes.append((job, True, _call(view, job)))
                except Exception as exc:
                    if overlay is not None:
                        overlay.truncate(mark)
                    outcomes.append((job, False, exc))
                    if not conn.apsw.in_transaction:
                        raise  # SQLite rolled the whole group back (disk full, I/O error)
            with outside():  # COMMIT may checkpoint the WAL into the file
                conn.commit()
        except Exception as exc:
            for overlay in overlays:
                overlay.reset()
            try:
                conn.rollback()
            except Exception:
                pass
            if len(group) == 1:
                job = group[0]
                _deliver(job, False, outcomes[0][2] if outcomes and not outcomes[0][1] else exc)
            else:
                for job in group:  # each write again, alone, so that each awaiter gets its own outcome
                    self._commit([job])
            return
        with self.fill_lock:
            self.gen += 2
            for overlay in overlays:
                overlay.apply()
        _deliver_all(outcomes)

    def _finish(self) -> None:
        rest = self._rest
        for thread in self.readers:
            thread.join()
        if self.store is not None:
            try:
                self.store.close()
            except Exception:
                pass
        closed = NanaSQLiteClosedError("the async store is closed")
        try:
            while True:
                rest.append(self._inbox.take_nowait())
        except Empty:
            pass
        for job in rest:
            if job is not _STOP and job is not _PARK:
                _deliver(job, False, _fresh(closed))
        with self._state:
            self._finished = True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_settle, future, True, None)
            except RuntimeError:
                pass
