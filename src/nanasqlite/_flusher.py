"""The write-back flusher: commits the pending writes of write-back stores (``writeback``) to the file.

One ``Flusher`` per connection, shared by a store and its sub-tables, each of which has a ``_Lane``: its pending
map ``{key: JSON text, or None for a delete}``, oldest first. The flusher takes chunks of ``chunk_size`` from the
front of a lane and commits each in one transaction through the batch kernel (``write_texts``: the GIL is
released once per chunk), on its background thread when the flush mode says so, or on the caller's thread for
``flush(wait=True)``, ``close()`` and the operations that read the file.

The invariant everything rests on: every write that is neither committed nor in the dead-letter queue is in
its store's pending map whenever a thread holds the store's lock, except during a chunk, which the flusher
takes and commits (or puts back, or sends to the DLQ) under that lock. So a reader under the lock consults the
pending map first, then the cache and the file, and ``flush(wait=True)`` is a barrier: it takes from the front
of each pending map as many writes as it held at the call (a key written again keeps its place), and
everything taken is committed before the lock is let go.

A chunk that meets a busy database (another process writing) is put back at the front and tried again later,
never dropped; the flusher's own tries wait for the other process only briefly, so that the store's threads
do not wait behind it. A chunk the file refuses (a trigger, a constraint, a full disk) is retried one write at
a time, so that only the refused writes go to the dead-letter queue.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from itertools import islice
from typing import TYPE_CHECKING, Any

import apsw

from .exceptions import NanaSQLiteDatabaseError, NanaSQLiteError
from .storage import Connection, KVTable

if TYPE_CHECKING:
    from .core import NanaSQLite
    from .writeback import V2Config

__all__ = ["Flusher", "FLUSHERS"]

#: Milliseconds the flusher's own tries wait for another process's write lock while holding the store's lock
#: (the store's threads wait behind it); then it lets the lock go, pauses and tries again.
_TRY_MS = 50

#: Longest pause between two tries of a chunk that met a busy database.
_MAX_BACKOFF = 0.5


class _Lane:
    """The pending writes of one store: ``{key: JSON text, or None for a delete}``, oldest first."""

    __slots__ = ("kv", "pending", "since", "store", "failed", "quoted")

    def __init__(self, store: NanaSQLite) -> None:
        self.kv: KVTable = store._kv
        self.pending: dict[str, str | None] = store._pending  # type: ignore[attr-defined]
        self.since: float | None = None  # time.monotonic() when pending last became non-empty
        self.store = weakref.ref(store)
        self.failed: dict[str, dict[str, Any]] = {}  # key -> its newest DLQ entry
        self.quoted = '"' + store._kv.name.replace('"', '""') + '"'


class _Busy(Exception):
    """A chunk met a busy database and was put back."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _is_busy(exc: BaseException) -> bool:
    original = getattr(exc, "original_error", exc)
    return isinstance(original, (apsw.BusyError, apsw.LockedError))


def _put_back(pending: dict[str, str | None], chunk: list[tuple[str, str | None]]) -> None:
    """Put ``chunk`` back at the front of ``pending`` (keys written since were not taken: caller holds the lock)."""
    rest = list(pending.items())
    pending.clear()
    pending.update(chunk)
    pending.update(rest)


class Flusher:
    """Commits the pending writes of the write-back stores on one connection; owns the background thread."""

    def __init__(self, conn: Connection, config: V2Config, busy_timeout: float) -> None:
        self.conn = conn
        # The lock itself, not a wrapper the async facade may put on conn.lock later: the flusher changes the
        # file, not what the caches show (they show the pending writes already), so readers need no fence.
        self.lock = conn.lock
        self.config = config
        self.mode = config.flush_mode
        self.chunk = config.chunk_size
        self.flush_count = config.flush_count
        self.lanes: list[_Lane] = []
        self.patience = max(30.0, 6.0 * busy_timeout)  # how long a waiting flush retries a busy database
        self.busy_ms = int(busy_timeout * 1000)
        self.try_ms = min(self.busy_ms, _TRY_MS)
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.armed = False
        self.changes = 0
        self.flushing = 0
        self.active = False
        self.stopped = False
        self.dlq: list[dict[str, Any]] = []
        self.dropped = 0
        self.failures = 0
        self.last_failure: float | None = None
        self.last_success: float | None = None
        self.metrics_on = bool(config.enable_metrics)
        self.metrics: dict[str, Any] = {
            "flush_count": 0,
            "kvs_items_flushed": 0,
            "strict_tasks_executed": 0,
            "dlq_errors": 0,
            "last_flush_time": None,
            "total_flush_time_ms": 0.0,
        }
        # What a write calls to say it was made, chosen once by the mode.
        self.note = {
            "immediate": self._note_immediate,
            "count": self._note_count,
            "time": _ignore,
            "manual": _ignore,
        }[self.mode]
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=_run, args=(weakref.ref(self),), name="NanaSQLite-writeback", daemon=True)
        self.thread.start()
        _LIVE.add(self)

    # -- triggers (called by writes, under the store's lock) -------------------------------------------------

    def _note_immediate(self, n: int) -> None:
        if not self.armed:
            self.armed = True
            self.wake.set()

    def _note_count(self, n: int) -> None:
        self.changes += n
        if self.changes >= self.flush_count:
            self.changes = 0
            self.wake.set()

    # -- writing chunks -------------------------------------------------------------------------------------

    def _take(self, lane: _Lane, limit: int, patient: bool = True) -> int:
        """Commit up to ``limit`` of ``lane``'s oldest pending writes in one transaction; return how many were
        taken (committed or sent to the DLQ). Caller holds the lock. A busy database: put back, ``_Busy``;
        unless ``patient``, after waiting only ``_TRY_MS`` for it (the caller pauses without the lock)."""
        pending = lane.pending
        if len(pending) <= limit:
            chunk = list(pending.items())
            pending.clear()
            lane.since = None
        else:
            chunk = list(islice(pending.items(), limit))
            for key, _ in chunk:
                del pending[key]
        self.flushing = len(chunk)
        start = time.perf_counter()
        try:
            refused = 0
            con = self.conn.apsw
            if not patient:
                con.set_busy_timeout(self.try_ms)
            try:
                _commit(lane.kv, chunk)
            except NanaSQLiteDatabaseError as exc:
                if _is_busy(exc):
                    raise _Busy(exc) from exc
                refused = self._one_by_one(lane, chunk)
            finally:
                if not patient:
                    con.set_busy_timeout(self.busy_ms)
        except BaseException as exc:
            if not getattr(exc, "put_back", False):
                _put_back(pending, chunk)
            if pending and lane.since is None:
                lane.since = time.monotonic()
            raise
        finally:
            self.flushing = 0
        now = time.time()
        if not refused:
            self.last_success = now
        if self.metrics_on:
            m = self.metrics
            m["kvs_items_flushed"] += len(chunk) - refused
            m["total_flush_time_ms"] += (time.perf_counter() - start) * 1000.0
            m["last_flush_time"] = now
        return len(chunk)

    def _one_by_one(self, lane: _Lane, chunk: list[tuple[str, str | None]]) -> int:
        """The chunk was refused as a whole: commit its writes one at a time; the refused ones go to the DLQ
        (their number is returned). Anything else stops it with the writes not tried yet put back
        (``put_back`` on the error says so)."""
        refused = 0
        for i, (key, text) in enumerate(chunk):
            try:
                _commit(lane.kv, [(key, text)])
            except NanaSQLiteDatabaseError as exc:
                if not _is_busy(exc):
                    self._refuse(lane, key, text, exc)
                    refused += 1
                    continue
                _put_back(lane.pending, chunk[i:])
                busy = _Busy(exc)
                busy.put_back = True  # type: ignore[attr-defined]
                raise busy from exc
            except BaseException as exc:
                _put_back(lane.pending, chunk[i:])
                exc.put_back = True  # type: ignore[attr-defined]
                raise
        if refused:
            self.failures += 1  # one failed flush, however many writes it refused
            self.last_failure = time.time()
        return refused

    def _refuse(self, lane: _Lane, key: str, text: str | None, exc: BaseException) -> None:
        op: dict[str, Any] = {"action": "delete"} if text is None else {"action": "set", "value": text}
        entry: dict[str, Any] = {
            "error": f"write of key {key!r} failed: {exc}",
            "item": ((lane.quoted, key), op),
            "timestamp": time.time(),
            "lane": lane,
            "superseded": False,
        }
        limit = self.config.max_dlq_size
        if limit is not None and len(self.dlq) >= limit:
            old = self.dlq.pop(0)
            old_lane: _Lane = old["lane"]
            if old_lane.failed.get(old["item"][0][1]) is old:
                del old_lane.failed[old["item"][0][1]]
            self.dropped += 1
        self.dlq.append(entry)
        lane.failed[key] = entry
        if self.metrics_on:
            self.metrics["dlq_errors"] += 1
        store = lane.store()
        if store is not None:
            store._cache.discard(key)  # reads show what the file holds, not a value it refused

    def superseded(self, lane: _Lane, key: str) -> None:
        """``key`` was written again: its failed write must not be retried over the new one."""
        entry = lane.failed.pop(key, None)
        if entry is not None:
            entry["superseded"] = True

    def _lanes(self) -> list[_Lane]:
        return list(self.lanes)

    def drain_locked(self) -> None:
        """Commit every pending write now. Caller holds the lock; a busy database raises (nothing is lost)."""
        self.conn.check()
        for lane in self._lanes():
            while lane.pending:
                try:
                    self._take(lane, self.chunk)
                except _Busy as busy:
                    raise busy.cause from None

    def barrier(self, patience: float | None = None) -> None:
        """Commit every write made before the call (``flush(wait=True)``), the lock let go between chunks; a
        busy database is tried again for ``patience`` seconds, then raises (the writes stay pending)."""
        with self.lock:
            self.conn.check()
            owed = [(lane, len(lane.pending)) for lane in self._lanes() if lane.pending]
        deadline = time.monotonic() + (self.patience if patience is None else patience)
        backoff = 0.005
        for lane, count in owed:
            while count > 0:
                try:
                    with self.lock:
                        if self.conn.closed or not lane.pending:
                            break
                        count -= self._take(lane, min(self.chunk, count), patient=False)
                    backoff = 0.005
                except _Busy as busy:
                    if time.monotonic() >= deadline:
                        raise busy.cause from None
                    self.stop.wait(backoff)  # woken early only by close
                    backoff = min(backoff * 2, _MAX_BACKOFF)
        if owed and self.metrics_on:
            self.metrics["flush_count"] += 1

    def background(self) -> None:
        """One round of the thread: commit what is pending, chunk by chunk, until none is left."""
        backoff = 0.005
        wrote = False
        while not self.stopped:
            try:
                with self.lock:
                    if self.conn.closed:
                        return
                    lane = next((lane for lane in self.lanes if lane.pending), None)
                    if lane is None:
                        break
                    self.active = True
                    try:
                        self._take(lane, self.chunk, patient=False)
                    finally:
                        self.active = False
                    wrote = True
                backoff = 0.005
            except _Busy:
                self.stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
        if wrote and self.metrics_on:
            self.metrics["flush_count"] += 1

    # -- DLQ and status ------------------------------------------------------------------------------------

    def get_dlq(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"error": e["error"], "item": e["item"], "timestamp": e["timestamp"]} for e in self.dlq]

    def get_dlq_summary(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"error": "write_failed", "timestamp": e["timestamp"]} for e in self.dlq]

    def retry_dlq(self) -> None:
        """Put every failed write that was not written again since back among the pending writes."""
        with self.lock:
            entries, self.dlq = self.dlq, []
            count = 0
            for entry in entries:
                lane: _Lane = entry["lane"]
                key = entry["item"][0][1]
                if lane.failed.get(key) is entry:
                    del lane.failed[key]
                if entry["superseded"] or lane not in self.lanes:
                    continue
                op = entry["item"][1]
                text = op.get("value") if op["action"] == "set" else None
                if not lane.pending:
                    lane.since = time.monotonic()
                lane.pending[key] = text
                store = lane.store()
                if store is not None:
                    store._cache.discard(key)  # reads see the pending write again (the lane first)
                count += 1
            if count:
                self.note(count)

    def clear_dlq(self) -> None:
        with self.lock:
            for entry in self.dlq:
                lane: _Lane = entry["lane"]
                lane.failed.pop(entry["item"][0][1], None)
            self.dlq.clear()

    def get_status(self) -> dict[str, Any]:
        lanes = self._lanes()
        stamps = [lane.since for lane in lanes if lane.pending and lane.since is not None]
        return {
            "mode": "write_back",
            "pending_kvs_count": sum(len(lane.pending) for lane in lanes),
            "flushing_kvs_count": self.flushing,
            "pending_sql_count": 0,
            "oldest_pending_age_seconds": max(0.0, time.monotonic() - min(stamps)) if stamps else None,
            "flush_active": self.active or self.flushing > 0,
            "failed_count": len(self.dlq),
            "failure_count": self.failures,
            "dropped_failure_count": self.dropped,
            "last_failure_time": self.last_failure,
            "last_successful_flush_time": self.last_success,
        }

    def get_metrics(self) -> dict[str, Any]:
        if not self.metrics_on:
            return {}
        metrics = dict(self.metrics)
        metrics["current_staging_count"] = sum(len(lane.pending) for lane in self._lanes())
        metrics["current_strict_queue_size"] = 0
        return metrics

    # -- lifecycle -----------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the thread and commit everything pending (close and interpreter exit); idempotent."""
        if self.stopped:
            return
        try:
            if not self.conn.closed:
                self.barrier()
        finally:
            self.stopped = True
            self.stop.set()
            self.wake.set()
            thread = self.thread
            if thread is not None and thread is not threading.current_thread():
                thread.join()
            _LIVE.discard(self)
            if FLUSHERS.get(self.conn) is self:
                del FLUSHERS[self.conn]  # its value holds the connection: the entry would keep both alive


def _ignore(n: int) -> None:
    pass


def _commit(kv: KVTable, chunk: list[tuple[str, str | None]]) -> None:
    keys: list[str] = []
    texts: list[str] = []
    gone: list[str] = []
    for key, text in chunk:
        if text is None:
            gone.append(key)
        else:
            keys.append(key)
            texts.append(text)
    kv.put_texts(keys, texts, gone)


def _run(ref: weakref.ReferenceType[Flusher]) -> None:
    """The background thread: waits for its flush mode's signal, then commits what is pending. It holds its
    flusher only while it works, so a store nobody closed can still be collected."""
    flusher = ref()
    if flusher is None:
        return
    timeout = flusher.config.flush_interval if flusher.mode == "time" else None
    wake, stop = flusher.wake, flusher.stop
    del flusher
    while not stop.is_set():
        wake.wait(timeout)
        flusher = ref()
        if flusher is None or flusher.stopped:
            return
        wake.clear()  # before disarming: a write in between wakes the next round (see _note_immediate)
        flusher.armed = False
        try:
            flusher.background()
        except NanaSQLiteError:
            pass  # the connection was closed under it: close() commits what is left
        except Exception:  # the writes stay pending; the next round (or close) tries again
            flusher.failures += 1
            flusher.last_failure = time.time()
        del flusher


_LIVE: weakref.WeakSet[Flusher] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """Normal interpreter exit commits every pending write of every store nobody closed."""
    for flusher in list(_LIVE):
        with contextlib.suppress(Exception):
            flusher.shutdown()


FLUSHERS: weakref.WeakKeyDictionary[Connection, Flusher] = weakref.WeakKeyDictionary()
