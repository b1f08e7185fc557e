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
one. ``Engine.gen`` is a write generation, changed only under ``fill_lock``: +1 before a group's COMMIT and +1
once its effects are applied to the cache; +1 when a SOLO job or a transaction starts and +1 when it ends; +1
when a thread other than the writer takes the store's lock (a program using ``sync_db`` from its own threads) and
+1 when it lets it go. So it is odd while the file or the cache may be changing under the readers. A fill is
made under ``fill_lock`` and only if ``gen`` is even and equal to the value read before the row was: a fill
admitted that way read a row no older than the last applied group, and any later group overwrites it when it
applies its own effects.

The snapshot rule. ``Engine.churn`` is odd while the cache may gain entries of a state newer than others it
holds: while a write group's effects are applied to it (after its COMMIT), and while a thread other than the
writer holds the store's lock (it writes and fills the cache directly). Otherwise the cache only loses entries
(before their keys change) and gains values of the state the file holds. So a multi-key read answered by one
probe of the hot dict (one C call, during which no other thread runs Python) is one state of the store unless
``churn`` is odd; one that combines several cache lookups is, if ``churn`` was even and neither counter moved
meanwhile (``cached_batch_get``); and one that combines cache entries with rows of the file (``batch_get``,
``items`` and what is built on them, on a reader) is, if ``gen`` was even and did not move. Otherwise the file
alone answers (``NanaSQLite._stamp`` and ``_still``), and a ``batch_get`` of many keys reads it in one read
transaction. Multi-key reads therefore never return values that did not exist together in the file.

Transactions: see ``_async_txn``. Threads stop when the store is closed, when the facade is garbage-collected
(no job keeps the facade alive once it is answered), at interpreter exit, and when the writer thread itself
fails (every waiting call then gets an error instead of hanging).
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
from functools import partial
from queue import Empty
from typing import TYPE_CHECKING, Any

from . import messages
from ._async_txn import ENDED, OPEN, PENDING, Level, placed
from ._native import bridge
from ._turn import TURN, outside
from .cache import ABSENT, MISS, CachePolicy, Raw, lookup_each
from .coherence import after_own_commit
from .exceptions import (
    NanaSQLiteClosedError,
    NanaSQLiteDatabaseError,
    NanaSQLiteError,
    NanaSQLiteTransactionError,
)
from .storage import Connection

if TYPE_CHECKING:
    from .core import NanaSQLite

__all__ = ["READ", "WRITE", "SOLO", "BEGIN", "END", "Engine", "Job", "rollback_level"]

#: Lanes. BEGIN opens the level in ``args[0]``; END ends exactly the job's level (commit when ``args[0]``, else
#: rollback); CONTROL jobs come from the engine itself and are never held behind a transaction.
READ, WRITE, SOLO, BEGIN, END, CONTROL = 0, 1, 2, 3, 4, 5
_STOP_LANE = 6

#: Most writes committed in one group: bounds the delay a long queue adds to the first write of a group.
MAX_GROUP = 1024
#: Cache entries a write group applies per call, so other threads (the event loop) get the GIL in between.
APPLY_CHUNK = 4096
#: Most read jobs a reader takes at once; their single-key lookups become one batch_get.
READ_BATCH = 64
_COALESCED = frozenset(("get", "__contains__"))
#: Most futures resolved (so tasks woken) in one turn of the event loop.
SETTLE_CHUNK = 16


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
    level: Level | None = None  # the transaction level of the submitting context (see _async_txn)
    task: asyncio.Task[Any] | None = None  # the submitting task


_get_ident = threading.get_ident

_STOP = Job(_STOP_LANE, None, "", (), {}, None, None)
_PARK = Job(_STOP_LANE, None, "", (), {}, None, None)  # a reader closes its connection and waits


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


# Once answered, a job lets go of its future, and the outcome lists are emptied: an error's traceback runs through
# this thread's frames, which hold the job and the list, and through the awaiter's frame, which holds the facade.
# Kept, they made a cycle hanging off this thread's live frames that the collector did not free (seen with
# CPython 3.11), and an unclosed facade whose last call raised stayed alive with its threads.


def _deliver(job: Job, ok: bool, value: Any) -> None:
    future, job.future = job.future, None
    if future is None:  # a cleanup job nobody awaits
        return
    assert job.loop is not None
    try:
        job.loop.call_soon_threadsafe(_settle, future, ok, value)
    except RuntimeError:  # the loop is closed: its awaiter is gone
        pass


def _deliver_all(outcomes: list[tuple[Job, bool, Any]]) -> None:
    # One wake-up of each loop for a whole group instead of one per write.
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, ok, value in outcomes:
        future, job.future = job.future, None  # see _deliver
        if future is None:
            continue
        assert job.loop is not None
        by_loop.setdefault(job.loop, []).append((future, ok, value))
    outcomes.clear()  # see _deliver: the caller's frame may be in an error's traceback
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
    twin._raw = store._raw
    for name, value in internals.items():
        setattr(twin, name, value)
    return twin


def _always() -> bool:
    return True


def _refuse_shared(cache: CachePolicy, keys: Any) -> None:
    """``NanaSQLite._refused`` for a writer view: forget in the shared cache at once. The view's overlay would
    not do: what a failed write recorded there is cut (``_Overlay.truncate``). The writer thread holds the
    store's lock, and forgetting is always safe for the readers (see the fill rule)."""
    keys = [key for key in keys if isinstance(key, str)]
    if keys:
        cache.discard_many(keys)


class _Views:
    """Per-store views (and what goes with them), holding each store weakly: the views of a sub-table that the
    program dropped go with it."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref[NanaSQLite], Any]] = {}

    def get(self, store: NanaSQLite) -> Any:
        entry = self._by_id.get(id(store))
        return entry[1] if entry is not None and entry[0]() is store else None

    def put(self, store: NanaSQLite, value: Any) -> None:
        key, by_id = id(store), self._by_id

        def forget(ref: weakref.ref[NanaSQLite]) -> None:  # may run on any thread: one dict operation each
            entry = by_id.get(key)
            if entry is not None and entry[0] is ref:
                by_id.pop(key, None)

        by_id[key] = (weakref.ref(store, forget), value)

    def clear(self) -> None:
        self._by_id.clear()

    def __len__(self) -> int:
        return len(self._by_id)


class _FencedLock:
    """The store's lock as the engine sees it. A thread other than the writer that takes it (a program using
    ``sync_db`` from its own threads, which the facade supports) changes the file and the cache outside the
    writer's groups, so the generation is odd while it holds the lock: readers neither fill the cache with rows
    read before its writes nor combine cache entries with rows (see the fill and snapshot rules)."""

    __slots__ = ("_inner", "_engine", "_foreign")

    def __init__(self, inner: Any, engine: Engine) -> None:
        self._inner = inner
        self._engine = engine
        self._foreign = 0  # holds of the thread that has it, when that is not the writer

    def acquire(self) -> None:
        self._inner.acquire()
        if _get_ident() != self._engine.writer_ident:
            self._foreign += 1
            if self._foreign == 1:
                self._engine.churn += 1
                self._engine._fence()

    def release(self) -> None:
        if self._foreign:  # only the holder runs this, so a non-zero count is its own
            self._foreign -= 1
            if not self._foreign:
                self._engine._fence()
                self._engine.churn += 1
        self._inner.release()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def inner(self) -> Any:
        """The lock itself, for the writer thread's views (which never count as foreign)."""
        return self._inner


class _GuardedFill:
    """The shared cache as a reader thread sees it: lookups pass through, fills obey the fill rule."""

    def __init__(self, engine: Engine, cache: CachePolicy) -> None:
        self._engine = engine
        self._cache = cache
        self.start = 1  # the generation read before the current job; odd refuses every fill

    @property
    def hot(self) -> dict[str, Any]:
        return self._cache.hot

    @property
    def raw(self) -> dict[str, str | None] | None:
        return self._cache.raw

    def lookup(self, key: str) -> Any:
        return self._cache.lookup(key)

    def lookup_many(self, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        return self._cache.lookup_many(keys)

    def _fill(self, name: str, *args: Any) -> None:
        engine = self._engine
        start = self.start
        if start & 1:
            return
        with engine.fill_lock:
            if engine.gen == start:
                getattr(self._cache, name)(*args)

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
        self._cache.discard(key)  # forgetting is always safe

    def discard_many(self, keys: list[str]) -> None:
        self._cache.discard_many(keys)

    def clear(self) -> None:
        self._cache.clear()

    def is_cached(self, key: str) -> bool:
        return self._cache.is_cached(key)

    def __len__(self) -> int:
        return len(self._cache)


_FORGOTTEN: Any = object()  # overlay entry: the group discarded the key, so only the file knows it


class _Overlay:
    """The shared cache as a write group sees it: the group's own changes on top, applied after COMMIT."""

    def __init__(self, cache: CachePolicy) -> None:
        self._cache = cache
        self.hot: dict[str, Any] = {}  # stays empty: the writer view answers nothing without lookup()
        self.raw: dict[str, str | None] | None = None
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
            return self._cache.lookup(key)
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
        return len(self._cache)

    def apply(self) -> None:
        """Replay the group's changes on the shared cache (the caller holds ``fill_lock``)."""
        cache = self._cache
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
        self._views = _Views()  # store -> (its view on this thread's connection, the view's cache)

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
        entry = self._views.get(store)
        if entry is None:
            assert self._conn is not None
            engine = self._engine
            guard = _GuardedFill(engine, store._cache)
            view = _derive(
                store,
                _conn=self._conn,
                _lock=self._conn.lock,
                _kv=store._kv.on(self._conn),
                _cache=guard,
                _stamp=engine.stamp,
                _still=engine.still,  # this lock does not keep the writer off the shared cache
            )
            entry = (view, guard)
            self._views.put(store, entry)
        entry[1].start = start
        return entry[0]  # type: ignore[no-any-return]

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
            found = self._view(target, start)._batch_get([job.args[0] for job in jobs], snapshot=False)
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
        self.churn = 0  # odd while the cache may gain entries of a newer state (the snapshot rule)
        self.epoch = 0  # bumped when the file was replaced: readers reopen their connections
        self.stack: list[Level] = []  # the open transaction levels, innermost last (see _async_txn)
        self.closed = False
        self.failure: BaseException | None = None  # what stopped the writer thread, if not close()
        self.writer_ident = 0
        self._finished = False
        # What the writer has taken from its inbox and not answered yet: ready to run, held behind a transaction,
        # in the group being committed. If the writer fails, _finish answers them.
        self._work: deque[Job] = deque()
        self._held: deque[Job] = deque()
        self._group: list[Job] = []
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
        self._wviews = _Views()  # store -> (its writer view, the view's overlay)
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
        # A read of a context inside an open transaction runs on the writer, in the transaction.
        if job.lane == READ and self._readers_ok and (job.level is None or placed(job.level) is None):
            self._read_q.put(job)
        else:
            self._inbox.put(job)

    def abandon(self, level: Level) -> None:
        """Roll back ``level`` (and every level above it) if it is open, or keep it from opening; its owner is
        gone. Called on the loop thread; a no-op once the store is closed (closing rolls back)."""
        with self._state:
            if not self.closed:
                self._inbox.put(Job(CONTROL, None, "", (), {}, None, None, level))

    # The generation as the snapshot rule reads it (see the module doc and NanaSQLite._stamp).

    def forget_views(self) -> None:
        """Drop every thread's views of the stores (they copy a store's state when made): after a store changed
        its class or hooks. On the writer thread; each reader reconnects, with fresh views, at its next read."""
        self._wviews.clear()
        self.epoch += 1

    def stamp(self) -> int:
        return self.gen

    def still(self, stamp: int, locked: bool) -> bool:
        """For a reader's view: ``locked`` (the reader's own lock) keeps nothing of the writer's off the cache."""
        if not locked:
            return not self.churn & 1  # after one probe of the hot dict
        return not stamp & 1 and self.gen == stamp

    def _main_still(self, stamp: int, locked: bool) -> bool:
        # The store itself: under its lock nobody else changes the cache (the writer applies a group's effects
        # holding that lock).
        return locked or not self.churn & 1

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
                jobs: list[Job] = []
                try:
                    jobs, control = self._take_reads()  # holding the turn: Python only in turn with the others
                    if jobs:
                        reader.serve(jobs)
                except BaseException as exc:  # a fault of this module: answer, never leave awaiters hanging
                    _deliver_all([(job, False, _fresh(exc)) for job in jobs])
                    control = None
                finally:
                    if TURN.mine() is not None:  # not when it went on without the turn
                        TURN.release()
                # Nothing of an answered job stays referenced while this thread waits: a future's exception
                # holds the awaiter's frame, and with it the facade, which must stay collectable.
                jobs = []
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
        self.writer_ident = threading.get_ident()
        try:
            with TURN:
                self._serve_writes()
        except BaseException as exc:  # a fault of this module: fail what waits, stop, never leave a call hanging
            self.failure = exc
            with self._state:
                self.closed = True
            for _ in self.readers:
                self._read_q.put(_STOP)
        finally:
            self._finish()

    def _open(self) -> None:
        try:
            store = self._opener()
        except BaseException as exc:
            self.open_error = exc
            return
        # The store's lock, taken by any thread but this one, opens a fence (see _FencedLock), and reads of the
        # store itself without it obey the snapshot rule.
        store._conn.lock = store._lock = _FencedLock(store._conn.lock, self)
        store._still = self._main_still  # type: ignore[method-assign]
        store._stamp = self.stamp  # type: ignore[method-assign]
        self.store = store

    def _serve_writes(self) -> None:
        self._open()
        self.ready.set()
        work, held, group = self._work, self._held, self._group
        inbox = self._inbox
        job: Job | None = None
        while True:
            if TURN.mine() is None:
                TURN.acquire()  # it went on without the turn after waiting out of patience: queue again
            else:
                TURN.pass_on()  # a reader that waits for the turn gets it between two jobs
            if not work:
                if group:
                    self._commit(group)
                    group.clear()
                    continue
                job = None  # see _reader_main: nothing answered stays referenced while this thread waits
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
                    group.clear()
                if self.stack:  # closing rolls back the open transaction, then runs what waited
                    work.appendleft(job)
                    self._end_all()  # puts what waited before the stop order
                    continue
                break
            if self.open_error is not None:
                _deliver(job, False, _fresh(self.open_error))
                continue
            if job.lane == CONTROL:
                self._rollback_to(job.level)  # type: ignore[arg-type]
                continue
            level = job.level if job.lane == END else placed(job.level)
            top = self.stack[-1] if self.stack else None
            if job.lane == END and (level is None or level.state != OPEN):
                self._end_gone(job)
                continue
            if level is not top:
                if self._waits_for_itself(job, level):
                    _deliver(job, False, NanaSQLiteTransactionError(
                        "this task would wait for itself: a nested transaction it opened is still open above "
                        "the level it is now in (its commit failed or was cancelled); roll that level back"
                    ))  # fmt: skip
                else:
                    held.append(job)  # until the levels above its own end
                continue
            if top is not None:  # inside the transaction, one job at a time, on the store itself
                if job.lane == BEGIN:
                    self._begin(job)
                elif job.lane == END:
                    self._end(job)
                else:
                    outcome = self._outcome(job)
                    self._sync_stack()  # before its owner hears of it, so in_transaction() agrees
                    _deliver(job, *outcome)
                continue
            if job.lane == WRITE:
                group.append(job)
                if len(group) >= MAX_GROUP:
                    self._commit(group)
                    group.clear()
                continue
            if group:
                self._commit(group)
                group.clear()
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

    def _outcome(self, job: Job) -> tuple[bool, Any]:
        try:
            return True, _call(self.target(job), job)
        except BaseException as exc:
            return False, exc

    def _run_plain(self, job: Job) -> None:
        _deliver(job, *self._outcome(job))

    # -- transactions (see _async_txn) --------------------------------------------------------------------

    def _waits_for_itself(self, job: Job, level: Level | None) -> bool:
        """Whether a level above ``level`` belongs to the task of ``job``: holding the job would deadlock."""
        if job.task is None:
            return False
        for above in reversed(self.stack):
            if above is level:
                return False
            if above.owner is job.task:
                return True
        return False

    def _begin(self, job: Job) -> None:
        level: Level = job.args[0]
        if level.state != PENDING:  # its task gave up waiting (cancelled) before this ran: never open it
            _deliver(job, False, NanaSQLiteTransactionError("begin_transaction() was abandoned"))
            return
        outer = self.stack[-1] if self.stack else None
        if outer is None:
            self._fence()  # odd while a transaction is open: no reader fills the cache meanwhile
        try:
            self.target(job)._check()  # a sub-table closed on its own
            self._main().begin_transaction()
        except BaseException as exc:
            if outer is None:
                self._fence()
            _deliver(job, False, exc)
            return
        level.parent, level.depth, level.state = outer, len(self.stack) + 1, OPEN
        self.stack.append(level)
        _deliver(job, True, None)

    def _end(self, job: Job) -> None:
        """Commit or roll back the job's level, the top of the stack."""
        level: Level = job.level  # type: ignore[assignment]
        store = self._main()
        try:
            if job.args[0]:
                store.commit()
            else:
                rollback_level(store, every=False)
            outcome: tuple[bool, Any] = (True, None)
        except BaseException as exc:
            outcome = (False, exc)
        self._sync_stack()
        if level.state == OPEN and (job.future is None or job.future.done()):
            self._rollback_to(level)  # it failed and nobody waits to handle it: do not leave it open
        _deliver(job, *outcome)

    def _end_gone(self, job: Job) -> None:
        if job.args[0]:
            _deliver(job, False, NanaSQLiteTransactionError(
                "commit(): the transaction has already ended (rolled back): nothing was committed"
            ))  # fmt: skip
        else:
            _deliver(job, True, None)  # rolled back already

    def _main(self) -> NanaSQLite:
        store = self.store
        assert store is not None
        return store

    def _sync_stack(self) -> None:
        """Pop the levels the connection no longer has: committed, rolled back, or ended by SQLite itself
        (``RAISE(ROLLBACK)``, some I/O errors), or by closing."""
        store = self.store
        depth = 0
        try:
            if store is not None and not store.closed:
                depth = store._conn.depth
                if depth and not store._conn.apsw.in_transaction:
                    rollback_level(store, every=True)
                    depth = store._conn.depth
        except NanaSQLiteError:
            depth = 0
        stack = self.stack
        if len(stack) <= depth:
            return
        while len(stack) > depth:
            stack.pop().state = ENDED
        if not stack:
            self._fence()
        self._work.extendleft(reversed(self._held))  # what waited for those levels runs now, in order
        self._held.clear()

    def _rollback_to(self, level: Level) -> None:
        """Roll back ``level`` and every level above it; a pending level is kept from opening."""
        if level.state == PENDING:
            level.state = ENDED
            return
        while level.state == OPEN:
            before = len(self.stack)
            with contextlib.suppress(NanaSQLiteError):
                rollback_level(self._main(), every=False)
            self._sync_stack()
            if len(self.stack) >= before:  # the connection refuses: end the transaction whole
                self._end_all()

    def _end_all(self) -> None:
        """Roll back the whole transaction (closing, or a connection that refuses a savepoint's rollback)."""
        store = self.store
        if store is not None:
            with contextlib.suppress(NanaSQLiteError):
                rollback_level(store, every=True)
        for level in self.stack:
            level.state = ENDED
        if self.stack:
            self.stack.clear()
            self._fence()
        self._work.extendleft(reversed(self._held))
        self._held.clear()

    # -- write groups -------------------------------------------------------------------------------------

    def _writer_view(self, store: NanaSQLite) -> tuple[NanaSQLite, _Overlay]:
        entry = self._wviews.get(store)
        if entry is None:
            overlay = _Overlay(store._cache)
            lock = store._lock.inner if isinstance(store._lock, _FencedLock) else store._lock
            view = _derive(
                store,
                _cache=overlay,
                _hot=overlay.hot,
                _raw=overlay.raw,
                _filling=_always,
                _lock=lock,
                _refused=partial(_refuse_shared, store._cache),  # not the store: the view must not keep it alive
            )
            entry = (view, overlay)
            self._wviews.put(store, entry)
        return entry  # type: ignore[no-any-return]

    def _commit(self, group: list[Job]) -> None:
        """Run ``group`` in one transaction; resolve each write after COMMIT and after the cache shows it.

        The store's lock is held from BEGIN until the cache shows the group, so that no other thread (one using
        ``sync_db``) writes a key in between and has its newer entry overwritten by the group's older one."""
        store = self.store
        assert store is not None
        conn = store._conn
        try:
            with outside():  # another thread may hold the lock; BEGIN IMMEDIATE may wait for another process
                conn.lock.acquire()
                try:
                    conn.begin()
                except BaseException:
                    conn.lock.release()
                    raise
        except Exception as exc:
            _deliver_all([(job, False, _fresh(exc)) for job in group])
            return
        try:
            outcomes = self._run_group(group, conn)
            if outcomes is not None and hasattr(store, "_coherence_stale"):
                # cache_consistency="auto": the group's COMMIT changed the file's commit marker; agree with it
                # now, so the loop keeps answering its awaiters' next reads from the cache (coherence.py).
                with contextlib.suppress(Exception):  # a failed check is made again by the next read
                    after_own_commit(conn)
        finally:
            conn.lock.release()
        if outcomes is not None:
            _deliver_all(outcomes)

    def _run_group(self, group: list[Job], conn: Connection) -> list[tuple[Job, bool, Any]] | None:
        outcomes: list[tuple[Job, bool, Any]] = []
        overlays: list[_Overlay] = []
        fenced = False
        try:
            for job in group:
                overlay = None
                mark = 0
                try:
                    target = self.target(job)
                    target._check()  # a sub-table closed on its own
                    view, overlay = self._writer_view(target)
                    if overlay not in overlays:
                        overlays.append(overlay)
                    mark = overlay.mark()
                    outcomes.append((job, True, _call(view, job)))
                except BaseException as exc:  # SystemExit from a value's own code fails its write, not the writer
                    if overlay is not None:
                        overlay.truncate(mark)
                    outcomes.append((job, False, exc))
                    if not conn.apsw.in_transaction:
                        raise  # SQLite rolled the whole group back (disk full, I/O error)
            self._fence()  # odd from COMMIT until the cache shows the group: readers neither fill nor combine
            fenced = True
            with outside():  # COMMIT may checkpoint the WAL into the file
                conn.commit()
        except BaseException as exc:
            if fenced:
                self._fence()
            for overlay in overlays:
                overlay.reset()
            with contextlib.suppress(Exception):
                conn.rollback()
            if len(group) == 1:
                job = group[0]
                _deliver(job, False, outcomes[0][2] if outcomes and not outcomes[0][1] else exc)
                outcomes.clear()  # see _deliver
            else:
                outcomes.clear()
                for job in group:  # each write again, alone, so that each awaiter gets its own outcome
                    self._commit([job])
            return None
        with self.fill_lock:  # under the store's lock too, as every change of churn
            self.churn += 1
            try:
                for overlay in overlays:
                    overlay.apply()
            finally:
                self.churn += 1
                self.gen += 1
        return outcomes

    def _finish(self) -> None:
        rest = [*self._group, *self._work, *self._held]
        self._group.clear()
        self._work.clear()
        self._held.clear()
        for level in self.stack:
            level.state = ENDED
        self.stack.clear()
        for thread in self.readers:
            thread.join()
        if self.store is not None:
            try:
                self.store.close()
            except Exception:
                pass
        closed: NanaSQLiteError = NanaSQLiteClosedError(
            f"Database {messages.CONNECTION_CLOSED}: the async store was closed"
        )
        if self.failure is not None:
            closed = NanaSQLiteError(f"the async store's writer thread failed: {self.failure!r}")
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
