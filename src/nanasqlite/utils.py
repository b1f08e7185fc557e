"""``ExpiringDict``: a dict whose keys disappear a fixed time after they were set (1.6's ``nanasqlite.utils``).

>>> d = ExpiringDict(60, mode=ExpirationMode.LAZY)
>>> d["a"] = 1
>>> d["a"], len(d)
(1, 1)
>>> d.close()

Expiry is checked on every access in every mode, so an expired key is never returned. ``SCHEDULER`` (the
default) and ``TIMER`` also evict keys nobody touches, so ``on_expire(key, value)`` runs near each key's deadline:
both are served by one background thread per dict that sleeps until the next deadline (1.6's ``TIMER`` started a
thread or loop callback per key; the observable behaviour is the same). ``LAZY`` runs no thread. The callback
runs outside the dict's lock, so it may use the dict or take other locks; its exceptions are logged.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from enum import Enum
from typing import Any

__all__ = ["ExpirationMode", "ExpiringDict"]

logger = logging.getLogger(__name__)


class ExpirationMode(str, Enum):
    LAZY = "lazy"  # checked when a key is accessed
    SCHEDULER = "scheduler"  # and evicted near its deadline by one background thread
    TIMER = "timer"  # the same, kept for 1.6's name


class ExpiringDict(MutableMapping[str, Any]):
    """A mapping whose keys expire ``expiration_time`` seconds after they were last set.

    ``clock`` (default ``time.time``) may be replaced, to test expiry without waiting; the background thread
    sleeps in real seconds until the clock says the next key is due."""

    def __init__(
        self,
        expiration_time: float,
        mode: ExpirationMode | str = ExpirationMode.SCHEDULER,
        on_expire: Callable[[str, Any], None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (
            not isinstance(expiration_time, (int, float))
            or isinstance(expiration_time, bool)
            or not expiration_time > 0
        ):
            raise ValueError("expiration_time must be a positive number of seconds")
        self._expiration_time = float(expiration_time)
        self._mode = ExpirationMode(mode)
        self._on_expire = on_expire
        self._clock = clock
        self._data: dict[str, tuple[float, Any]] = {}  # key -> (deadline, value)
        self._deadlines: list[tuple[float, str]] = []  # a heap; stale entries are skipped when popped
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- expiry ---------------------------------------------------------------------------------------------

    def _expired(self, now: float) -> list[tuple[str, Any]]:
        """Remove the keys due at ``now``; caller holds the lock."""
        gone: list[tuple[str, Any]] = []
        heap, data = self._deadlines, self._data
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            item = data.get(key)
            if item is not None and item[0] == deadline:  # not set again since
                del data[key]
                gone.append((key, item[1]))
        return gone

    def _notify(self, gone: list[tuple[str, Any]]) -> None:
        callback = self._on_expire
        if callback is None:
            return
        for key, value in gone:
            try:
                callback(key, value)
            except Exception:
                logger.exception("ExpiringDict on_expire callback failed for key %r", key)

    def expire(self) -> int:
        """Evict every key that is due now (and run ``on_expire`` for each); return how many."""
        with self._lock:
            gone = self._expired(self._clock())
        self._notify(gone)
        return len(gone)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                gone = self._expired(self._clock())
                if not gone:
                    wait = self._deadlines[0][0] - self._clock() if self._deadlines else None
                    self._wake.wait(None if wait is None else max(wait, 0.001))
                    continue
            self._notify(gone)

    def _start(self) -> None:
        if self._mode is ExpirationMode.LAZY or self._closed:
            return
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="ExpiringDict", daemon=True)
            self._thread.start()

    # -- the mapping ----------------------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        deadline = self._clock() + self._expiration_time
        with self._lock:
            self._data[key] = (deadline, value)
            heap = self._deadlines
            first = not heap or deadline < heap[0][0]
            heapq.heappush(heap, (deadline, key))
            if len(heap) > 2 * len(self._data) + 64:  # drop the stale entries of keys set again or deleted
                self._deadlines = [(d, k) for k, (d, _) in self._data.items()]
                heapq.heapify(self._deadlines)
            if self._thread is None:
                self._start()
            elif first:
                self._wake.notify()

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            gone = self._due(key)
            item = self._data.get(key)
        if gone:
            self._notify(gone)
        if item is None:
            raise KeyError(key)
        return item[1]

    def _due(self, key: str) -> list[tuple[str, Any]]:
        item = self._data.get(key)
        if item is not None and item[0] <= self._clock():
            del self._data[key]
            return [(key, item[1])]
        return []

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        with self._lock:
            gone = self._due(key)
            found = key in self._data
        if gone:
            self._notify(gone)
        return found

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.expire()
        with self._lock:
            keys = list(self._data)
        return iter(keys)

    def __len__(self) -> int:
        self.expire()
        return len(self._data)

    def set_on_expire_callback(self, callback: Callable[[str, Any], None]) -> None:
        self._on_expire = callback

    def clear(self) -> None:
        """Forget every key (no callbacks); the dict stays usable."""
        with self._lock:
            self._data.clear()
            self._deadlines.clear()

    def close(self) -> None:
        """Forget every key and stop the background thread for good."""
        with self._lock:
            self._closed = True
            self._data.clear()
            self._deadlines.clear()
            self._wake.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
