"""Write-back mode (1.6's ``v2_mode``): writes land in memory at once and a background thread commits them.

``NanaSQLite(path, v2_mode=True)`` returns a store of a subclass made here (``store_class``), so a store without
write-back pays nothing for it. Its writes are validated and encoded when they are made (a bad value raises at
the call, as in the default mode) and kept in a pending map of the store, beside the cache; reads see them at
once. The ``Flusher`` of its connection (``_flusher``) commits them in chunks when the flush mode says so:
``immediate`` (as soon as it can), ``count`` (every ``flush_count`` writes), ``time`` (every ``flush_interval``
seconds) or ``manual`` (only ``flush()`` and ``close()``). Operations that read the file as a whole (``len``,
``keys``, iteration, the SQL helpers, transactions) commit what is pending first, holding the store's lock.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._flusher import FLUSHERS, Flusher, _Lane
from ._native import codec
from ._unstorable import refused_key, utf8_problem
from .cache import ABSENT, MISS, CacheType, Raw
from .exceptions import NanaSQLiteDatabaseError, NanaSQLiteTypeError, NanaSQLiteValidationError
from .storage import Connection, encode_value

if TYPE_CHECKING:
    from .core import NanaSQLite

__all__ = ["V2Config", "FLUSH_MODES", "settings", "store_class"]

FLUSH_MODES = ("immediate", "count", "time", "manual")
FlushMode = Literal["immediate", "count", "time", "manual"]

_dumps = codec.dumps


@dataclass
class V2Config:
    """The write-back settings in one object, for ``NanaSQLite(path, v2_mode=True, v2_config=...)`` (and the
    async facade). When given, it replaces the separate keywords (``flush_mode``, ``flush_interval``,
    ``flush_count``, ``v2_chunk_size``, ``v2_max_dlq_size``, ``v2_enable_metrics``).

    >>> V2Config(flush_mode="count", flush_count=500).chunk_size
    1000
    """

    flush_mode: FlushMode = "immediate"
    flush_interval: float = 3.0
    flush_count: int = 100
    chunk_size: int = 1000
    max_dlq_size: int | None = 1000
    enable_metrics: bool = False

    def __post_init__(self) -> None:
        if self.flush_mode not in FLUSH_MODES:
            raise NanaSQLiteValidationError(f"Invalid flush_mode: {self.flush_mode}")
        interval = self.flush_interval
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not math.isfinite(interval)
            or interval <= 0
        ):
            raise NanaSQLiteValidationError("flush_interval must be a positive finite number")
        if not _positive_int(self.flush_count):
            raise NanaSQLiteValidationError("flush_count must be a positive integer")
        if not _positive_int(self.chunk_size):
            raise NanaSQLiteValidationError("chunk_size must be a positive integer")
        if self.max_dlq_size is not None and not _positive_int(self.max_dlq_size):
            raise NanaSQLiteValidationError("max_dlq_size must be None or a positive integer")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def settings(
    v2_mode: bool,
    v2_config: V2Config | None,
    flush_mode: str,
    flush_interval: float,
    flush_count: int,
    v2_chunk_size: int,
    v2_max_dlq_size: int | None,
    v2_enable_metrics: bool,
    memory_first: bool,
    memory_flush_interval: float,
    cache_strategy: CacheType | str,
    cache_size: int | None,
) -> V2Config | None:
    """The write-back settings of a store, validated (also when write-back is off: a bad value is a mistake
    either way), or None for a store that writes through."""
    if v2_config is not None and not isinstance(v2_config, V2Config):
        raise NanaSQLiteTypeError(f"v2_config must be a V2Config, not {type(v2_config).__name__}")
    if memory_first:
        if cache_strategy not in (CacheType.UNBOUNDED, "unbounded") or cache_size is not None:
            raise NanaSQLiteValidationError("memory_first=True requires the default unbounded cache without cache_size")
        # 1.6: memory_first flushes on a timer unless told otherwise (a keyword left at its default).
        if flush_mode == "immediate":
            flush_mode = "time"
        if flush_interval == 3.0:
            flush_interval = memory_flush_interval
    if v2_config is None:
        v2_config = V2Config(
            flush_mode=flush_mode,  # type: ignore[arg-type]
            flush_interval=flush_interval,
            flush_count=flush_count,
            chunk_size=v2_chunk_size,
            max_dlq_size=v2_max_dlq_size,
            enable_metrics=bool(v2_enable_metrics),
        )
    return v2_config if (v2_mode or memory_first) else None


# -- the store ------------------------------------------------------------------------------------------------

_CLASSES: dict[type, type] = {}
_CLASSES_LOCK = threading.Lock()


def refuse_auto(config: V2Config | None, cache_consistency: str) -> None:
    """Write-back mode and ``cache_consistency="auto"`` do not mix: "auto" drops the cache when another process
    commits, and writes not flushed yet live only there."""
    if config is not None and cache_consistency == "auto":
        raise NanaSQLiteValidationError(
            "cache_consistency='auto' cannot be combined with write-back mode (v2_mode / memory_first): "
            "writes not flushed yet live only in this process's cache"
        )


def store_class(cls: type[NanaSQLite]) -> type[NanaSQLite]:
    """The write-back subclass of ``cls`` (``NanaSQLite`` or a user's subclass of it), made once, with the same
    name so that reprs and error messages read as before."""
    with _CLASSES_LOCK:
        made = _CLASSES.get(cls)
        if made is None:
            made = type(
                cls.__name__, (WriteBack, cls), {"__qualname__": cls.__qualname__, "__module__": cls.__module__}
            )
            _CLASSES[cls] = made
        return made


def _raw_lock(lock: Any) -> Any:
    """The ``threading.RLock`` under the store's lock: the async facade wraps it to fence its reader threads
    (write-back mode runs none) and ``lock_timeout`` wraps it in a timed lock."""
    lock = getattr(lock, "inner", lock)
    return getattr(lock, "_lock", lock)


class WriteBack:
    """The write-back behaviour, mixed in before ``NanaSQLite`` by ``store_class``. Every method not here is the
    default store's, which reaches the file only through the methods overridden here or after a flush."""

    if TYPE_CHECKING:
        _flusher: Flusher
        _lane: _Lane
        _pending: dict[str, str | None]
        _wb_config: V2Config

    # -- setup and lifecycle ---------------------------------------------------------------------------------

    def _setup(self, conn: Connection, table: str, options: Any, policy: Any, bulk_load: bool, owner: bool) -> None:
        me: Any = self
        me._pending = {}
        if owner:
            if conn.readonly:
                raise NanaSQLiteValidationError("v2_mode=True needs a store that can write; it is opened readonly=True")
            flusher = Flusher(conn, me._wb_config, options.busy_timeout)
            FLUSHERS[conn] = flusher
        else:
            flusher = FLUSHERS[conn]
        me._flusher = flusher
        super()._setup(conn, table, options, policy, bulk_load, owner)  # type: ignore[misc]
        with conn.lock:
            me._lane = _Lane(me)
            me._failed = me._lane.failed
            me._note = flusher.note
            flusher.lanes.append(me._lane)
        if owner:
            flusher.start()
            weakref.finalize(self, flusher.shutdown)

    def close(self) -> None:
        me: Any = self
        try:
            if not me._closed:
                flusher: Flusher = me._flusher
                if me._owner:
                    flusher.shutdown()
                else:
                    with me._lock:
                        if not me._conn.closed:
                            flusher.drain_locked()  # if this raises, the lane stays: the flusher commits it later
                        with contextlib.suppress(ValueError):
                            flusher.lanes.remove(me._lane)
        finally:
            super().close()  # type: ignore[misc]  # closed even when the last flush failed (it raises)

    def flush(self, wait: bool = False) -> None:
        """Commit the pending writes: in the background, or (``wait=True``) before returning, every write made
        before the call. A busy database is tried again, for up to ``max(30 s, 6 x busy_timeout)`` when
        waiting (then ``NanaSQLiteDatabaseError``; the writes stay pending)."""
        me: Any = self
        me._check()
        flusher: Flusher = me._flusher
        if wait:
            flusher.barrier()
        elif any(lane.pending for lane in flusher.lanes):  # nothing pending: no round to start
            flusher.wake.set()

    # -- writes --------------------------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        # Written flat: this is every single write of the mode, and it costs microseconds.
        me: Any = self
        if me._closed:
            me._check()
        if type(key) is not str and not isinstance(key, str):
            raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
        if not key.isascii() and utf8_problem(key):
            raise refused_key(key)
        try:
            text = _dumps(value)
        except BaseException:
            me._refused((key,))
            encode_value(key, value)  # raises the library's error, naming the key and the part refused
            raise
        with me._lock:
            if me._closed:
                me._check()
            if me._conn.depth:  # this thread's transaction (it holds the lock): write into it
                return super().__setitem__(key, value)  # type: ignore[misc,no-any-return]
            pending = me._pending
            if not pending:
                me._lane.since = time.monotonic()
            pending[key] = text
            me._cache.put_raw(key, text)
            if me._failed:
                me._flusher.superseded(me._lane, key)
            me._note(1)

    def _try_set(self, key: str, value: Any) -> bool:
        """``self[key] = value`` if the store's lock is free at this moment, else False (nothing done): the
        async facade's ``aset`` runs this on the event loop, which must never wait for the lock. A key or
        value that cannot be stored raises, as for ``self[key] = value``."""
        me: Any = self
        if me._closed:
            me._check()
        if type(key) is not str and not isinstance(key, str):
            raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
        if not key.isascii() and utf8_problem(key):
            raise refused_key(key)
        try:
            text = _dumps(value)
        except BaseException:
            encode_value(key, value)
            raise
        lock = _raw_lock(me._conn.lock)
        if not lock.acquire(blocking=False):
            return False
        try:
            if me._closed or me._conn.depth:
                return False
            pending = me._pending
            if not pending:
                me._lane.since = time.monotonic()
            pending[key] = text
            me._cache.put_raw(key, text)
            if me._failed:
                me._flusher.superseded(me._lane, key)
            me._note(1)
            return True
        finally:
            lock.release()

    def __delitem__(self, key: str) -> None:
        me: Any = self
        me._check()
        if not isinstance(key, str):
            raise KeyError(key)
        with me._lock:
            me._check()
            if me._conn.depth:
                return super().__delitem__(key)  # type: ignore[misc,no-any-return]
            if me._resolve(key, False) is ABSENT:
                raise KeyError(key)
            self._gone([key])

    def _gone(self, keys: list[str]) -> None:
        """Record deletes of ``keys`` (caller holds the lock, outside any transaction)."""
        me: Any = self
        pending = me._pending
        if not pending:
            me._lane.since = time.monotonic()
        cache = me._cache
        lane = me._lane
        for key in keys:
            pending[key] = None
            cache.put_absent(key)
            if lane.failed:
                me._flusher.superseded(lane, key)
        me._flusher.note(len(keys))

    def batch_update(self, mapping: Mapping[str, Any]) -> None:
        """Record all pairs at once: a key or value that cannot be stored raises and nothing is recorded."""
        me: Any = self
        me._check()
        if not isinstance(mapping, Mapping):
            raise NanaSQLiteTypeError(f"batch_update() takes a mapping, not {type(mapping).__name__}")
        keys = list(mapping.keys())
        if not keys:
            return
        texts: list[str] = []
        for key in keys:
            if type(key) is not str:
                raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
            if not key.isascii() and utf8_problem(key):
                raise refused_key(key)
            try:
                texts.append(encode_value(key, mapping[key]))
            except BaseException:
                me._refused(keys)
                raise
        with me._lock:
            me._check()
            if me._conn.depth:
                return super().batch_update(mapping)  # type: ignore[misc,no-any-return]
            pending = me._pending
            if not pending:
                me._lane.since = time.monotonic()
            pending.update(zip(keys, texts, strict=True))
            cache = me._cache
            from .core import CACHED_BATCH_LIMIT

            if len(keys) <= CACHED_BATCH_LIMIT:
                cache.put_raw_many(keys, texts)
            else:
                cache.discard_many(keys)  # reads find them in the pending map
            lane = me._lane
            if lane.failed:
                for key in keys:
                    me._flusher.superseded(lane, key)
            me._flusher.note(len(keys))

    def batch_delete(self, keys: Iterable[str]) -> None:
        me: Any = self
        me._check()
        keys = list(keys)
        for key in keys:
            if type(key) is not str:
                raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
            if not key.isascii() and utf8_problem(key):
                raise refused_key(key)
        if not keys:
            return
        with me._lock:
            me._check()
            if me._conn.depth:
                return super().batch_delete(keys)  # type: ignore[misc,no-any-return]
            self._gone(keys)

    def pop(self, key: str, default: Any = MISS) -> Any:
        me: Any = self
        me._check()
        if not isinstance(key, str):
            if default is MISS:
                raise KeyError(key)
            return default
        with me._lock:
            me._check()
            if me._conn.depth:
                return super().pop(key) if default is MISS else super().pop(key, default)  # type: ignore[misc]
            value = me._resolve(key)
            if value is ABSENT:
                if default is MISS:
                    raise KeyError(key)
                return default
            self._gone([key])
            return value

    def clear(self) -> None:
        me: Any = self
        me._check()
        with me._lock:
            me._check()
            me._pending.clear()  # every pending write of this table is deleted with the rest
            me._lane.since = None
            super().clear()  # type: ignore[misc]

    # -- reads: the pending map first ------------------------------------------------------------------------

    def _resolve(self, key: str, decode: bool = True) -> Any:
        me: Any = self
        pending = me._pending
        if pending:
            text = pending.get(key, MISS)
            if text is not MISS:
                if text is None:
                    return ABSENT
                if not decode:
                    return Raw(text)
                value = me._decode(key, text)
                if me._filling():
                    me._cache.put(key, value)
                return value
        return super()._resolve(key, decode)  # type: ignore[misc]

    def _read_many(self, keys: list[str]) -> dict[str, Any]:
        me: Any = self
        pending = me._pending
        if not pending:
            return super()._read_many(keys)  # type: ignore[misc,no-any-return]
        known: dict[str, Any] = {}
        rest: list[str] = []
        for key in keys:
            text = pending.get(key, MISS)
            if text is MISS:
                rest.append(key)
            elif text is not None:
                known[key] = me._decode(key, text)
        read = super()._read_many(rest) if rest else {}  # type: ignore[misc]
        read.update(known)
        return {key: read[key] for key in keys if key in read}

    # -- operations that see the file: flush first, holding the lock ------------------------------------------

    def _settled(self) -> Any:
        """Hold the store's lock with nothing pending (committed first)."""
        me: Any = self
        return _Settled(me)

    def __len__(self) -> int:
        with self._settled():
            return super().__len__()  # type: ignore[misc,no-any-return]

    def keys(self) -> list[str]:
        with self._settled():
            return super().keys()  # type: ignore[misc,no-any-return]

    def items(self) -> list[tuple[str, Any]]:
        with self._settled():
            return super().items()  # type: ignore[misc,no-any-return]

    def iter_items(self, batch_size: int = 1000) -> Iterator[tuple[str, Any]]:
        with self._settled():
            pass
        return super().iter_items(batch_size)  # type: ignore[misc,no-any-return]

    def popitem(self) -> tuple[str, Any]:
        with self._settled():
            return super().popitem()  # type: ignore[misc,no-any-return]

    def load_all(self) -> None:
        with self._settled():
            super().load_all()  # type: ignore[misc]

    def get_fresh(self, key: str, default: Any = None) -> Any:
        with self._settled():
            return super().get_fresh(key, default)  # type: ignore[misc]

    @contextmanager
    def _read_modify_write(self, key: str) -> Iterator[list[Any]]:
        with self._settled(), super()._read_modify_write(key) as slot:  # type: ignore[misc]
            yield slot

    def begin_transaction(self) -> None:
        """Commit what is pending, then start a transaction; writes inside it go straight into it."""
        with self._settled():
            super().begin_transaction()  # type: ignore[misc]

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Commit what is pending, then run the block as a transaction of the file (as the default mode
        does): writes inside it go straight into it, and it commits or rolls back as a whole."""
        with self._settled(), super().transaction() as db:  # type: ignore[misc]
            yield db

    def _sql(self, fn: Any, doing: str, writes: str | None = None) -> Any:
        with self._settled():
            return super()._sql(fn, doing, writes)  # type: ignore[misc]

    def vacuum(self) -> None:
        with self._settled():
            super().vacuum()  # type: ignore[misc]

    def restore(self, src_path: Any) -> None:
        with self._settled():
            pass
        super().restore(src_path)  # type: ignore[misc]

    def backup(
        self, dest_path: Any, *, verify: bool = True, flush: bool = True, allow_incomplete: bool = False
    ) -> None:
        """As in 1.6: commit what is pending first (unless ``flush=False``) and refuse while failed writes wait in
        the dead-letter queue (unless ``allow_incomplete=True``)."""
        me: Any = self
        me._check()
        if flush:
            me.flush(wait=True)
        if not allow_incomplete and me._flusher.dlq:
            raise NanaSQLiteDatabaseError(
                "Backup refused because the v2 dead-letter queue is not empty; "
                "retry or clear failed writes, or pass allow_incomplete=True"
            )
        super().backup(dest_path, verify=verify, flush=flush, allow_incomplete=allow_incomplete)  # type: ignore[misc]

    # -- DLQ, status, metrics -------------------------------------------------------------------------------

    def get_dlq(self) -> list[dict[str, Any]]:
        me: Any = self
        me._check()
        return me._flusher.get_dlq()  # type: ignore[no-any-return]

    def get_dlq_summary(self) -> list[dict[str, Any]]:
        me: Any = self
        me._check()
        return me._flusher.get_dlq_summary()  # type: ignore[no-any-return]

    def retry_dlq(self) -> None:
        me: Any = self
        me._check()
        me._flusher.retry_dlq()

    def clear_dlq(self) -> None:
        me: Any = self
        me._check()
        me._flusher.clear_dlq()

    def get_status(self) -> dict[str, Any]:
        me: Any = self
        me._check()
        return me._flusher.get_status()  # type: ignore[no-any-return]

    def get_v2_metrics(self) -> dict[str, Any]:
        me: Any = self
        me._check()
        return me._flusher.get_metrics()  # type: ignore[no-any-return]


class _Settled:
    """``with``: the store's lock, taken after (and kept since) every pending write was committed."""

    __slots__ = ("store",)

    def __init__(self, store: Any) -> None:
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        store._check()
        store._lock.acquire()
        try:
            store._check()
            if not store._conn.depth:
                store._flusher.drain_locked()
        except BaseException:
            store._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self.store._lock.release()
