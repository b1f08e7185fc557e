"""``cache_persistence_ttl=True``: with the TTL cache strategy, a key that expires from the cache is deleted from
the file too (1.6's semantics: a key lives ``cache_ttl`` seconds after it was last written or read into the cache).

``PersistentTTLCache`` is the TTL policy that remembers what expired; a ``Sweeper`` thread per store deletes those
keys from the file in bounded batches (``BATCH`` keys per statement and per hold of the store's lock), so cache
hits never wait for it and cold reads wait at most one small batch. It takes the store's lock like any writer:
it waits for another thread's transaction to end, and never deletes inside a transaction of the thread that
calls ``sweep`` itself. A key written again after it expired, or deleted, or forgotten by ``clear_cache``, is not
deleted. Keys that were never in this process's cache are never deleted (they have no deadline here).
"""

from __future__ import annotations

import heapq
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cache import ABSENT, MISS, CachePolicy, TTLCache
from .cache import make_cache as plain_cache
from .exceptions import NanaSQLiteError, NanaSQLiteValidationError

if TYPE_CHECKING:
    from .core import NanaSQLite

__all__ = ["make_cache", "PersistentTTLCache", "Sweeper", "BATCH"]

#: Keys deleted per statement (and per hold of the store's lock).
BATCH = 256

_NEVER = float("inf")


def make_cache(
    strategy: Any, size: int | None, ttl: float | None, persist: bool, clock: Callable[[], float] = time.monotonic
) -> CachePolicy:
    """``cache.make_cache``, or with ``persist`` the TTL policy whose expired keys leave the file too."""
    policy = plain_cache(strategy, size, ttl, clock)
    if not persist:
        return policy
    if not isinstance(policy, TTLCache):
        raise NanaSQLiteValidationError("cache_persistence_ttl=True needs cache_strategy='ttl'")
    return PersistentTTLCache(policy.ttl, clock)


class PersistentTTLCache(TTLCache):
    """A ``TTLCache`` that hands its expired keys to a ``Sweeper`` instead of only forgetting them."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl, clock)
        self._deadlines: list[tuple[float, str]] = []  # a heap; entries whose key was set again are skipped
        self._due: dict[str, None] = {}  # keys found expired by a lookup, in order
        self.sweeper: Sweeper | None = None

    def _set(self, key: str, entry: Any) -> None:
        deadline = self._clock() + self.ttl
        self._entries[key] = (deadline, entry)
        self._due.pop(key, None)
        if entry is not ABSENT:
            heapq.heappush(self._deadlines, (deadline, key))

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            item = self._entries.get(key)
            if item is not None and item[1] is not ABSENT and item[0] > self._clock():
                self._entries[key] = (item[0], value)  # a value decoded on its first read: the same deadline
            else:
                self._set(key, value)

    def lookup(self, key: str) -> Any:
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return MISS
            if item[0] <= self._clock():
                if item[1] is ABSENT:
                    del self._entries[key]
                    return MISS
                # Expired means deleted: the key reads as absent until the sweep deletes it from the file (a
                # MISS would read the row back and cache it again). A write of the key discards this entry.
                self._entries[key] = (_NEVER, ABSENT)
                self._due[key] = None
                return ABSENT
            return item[1]

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._due.pop(key, None)

    def discard_many(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)
                self._due.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._due.clear()
            self._deadlines.clear()

    def take_expired(self, limit: int) -> list[str]:
        """Up to ``limit`` keys whose time is up, forgotten here. The caller holds the store's lock, so no
        write can change one of them before it is deleted."""
        with self._lock:
            out: list[str] = []
            due, entries, heap = self._due, self._entries, self._deadlines
            while due and len(out) < limit:
                key = next(iter(due))
                del due[key]
                out.append(key)
            now = self._clock()
            while heap and heap[0][0] <= now and len(out) < limit:
                deadline, key = heapq.heappop(heap)
                item = entries.get(key)
                if item is not None and item[0] == deadline:  # not set again, deleted or forgotten since
                    del entries[key]
                    if item[1] is not ABSENT:
                        out.append(key)
            if len(heap) > 2 * len(entries) + 1024:  # drop the stale deadlines of keys set again
                self._deadlines = [(d, k) for k, (d, e) in entries.items() if e is not ABSENT]
                heapq.heapify(self._deadlines)
            return out

    def next_deadline(self) -> float | None:
        with self._lock:
            if self._due:
                return self._clock()
            return self._deadlines[0][0] if self._deadlines else None

    def attach(self, store: NanaSQLite) -> None:
        """Start sweeping for ``store`` (called once the store is set up)."""
        self.sweeper = Sweeper(store, self)

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()


class Sweeper:
    """Deletes a store's expired keys from its file: on a background thread, and on demand with ``sweep``."""

    def __init__(self, store: NanaSQLite, cache: PersistentTTLCache) -> None:
        self._store = weakref.ref(store)
        self._cache = cache
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.swept = threading.Condition()
        self.passes = 0  # sweeps finished (read under ``swept``)
        self._thread = threading.Thread(target=self._run, name="nanasqlite-ttl-sweeper", daemon=True)
        self._thread.start()

    def sweep(self) -> int:
        """Delete every expired key from the file, ``BATCH`` keys at a time; return how many were deleted."""
        total = 0
        while True:
            store = self._store()
            if store is None or store._closed:
                return total
            with store._lock:
                if store._closed or store._conn.depth > 0:  # this thread's own transaction: not now
                    return total
                keys = self._cache.take_expired(BATCH)
                if keys:
                    store.batch_delete(keys)
            del store
            total += len(keys)
            if len(keys) < BATCH:
                return total

    def _run(self) -> None:
        interval = min(max(self._cache.ttl / 4, 0.01), 1.0)
        while not self._stop.is_set():
            try:
                self.sweep()
            except NanaSQLiteError:
                pass  # a closed or failing store: the next pass (if any) tries again
            with self.swept:
                self.passes += 1
                self.swept.notify_all()
            self._wake.wait(interval)
            self._wake.clear()

    def wait_pass(self, timeout: float) -> bool:
        """Wait until the background thread finished a pass that began after this call."""
        with self.swept:
            target = self.passes + 2
            self._wake.set()
            return self.swept.wait_for(lambda: self.passes >= target or self._stop.is_set(), timeout)

    def stop(self) -> None:
        """Let the thread end (it holds the store weakly and ends within a pass). Not joined: a sub-table is
        closed under the store's lock, which a sweep in progress may be waiting for."""
        self._stop.set()
        self._wake.set()
