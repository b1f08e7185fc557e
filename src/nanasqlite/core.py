"""``NanaSQLite``: a dict that lives in a SQLite file.

Every write is committed before it returns (or, inside a transaction, when the transaction commits); reads are
answered from an in-memory cache of decoded values. The mapping knows no SQL: it talks to ``storage.KVTable``.

Values read from the store are the cached objects themselves, so reads cost a dict lookup. Mutating such an
object in place changes what later reads in this process return but not the file: write it back with
``db[key] = value`` (or use ``patch``), or ``copy.deepcopy`` it first. Writes never alias the caller's object:
the store keeps the JSON text it wrote and decodes it on the next read.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import expiry, messages
from ._native import codec, front
from ._unstorable import refused_key, utf8_problem
from .cache import ABSENT, MISS, CachePolicy, CacheType, Raw, make_cache
from .cipher import CipherKV, make_cipher
from .exceptions import (
    NanaSQLiteClosedError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
)
from .options import Options
from .sql import SQLMixin
from .storage import Connection, KVTable, encode_value, not_json, path_text
from .writeback import V2Config, refuse_auto, settings, store_class

__all__ = ["NanaSQLite"]

_NO_DEFAULT: Any = object()

#: A batch of at most this many pairs keeps what it wrote in the cache. A bigger one only forgets its keys'
#: entries, and reads fill the cache lazily, as for data written by another process: keeping 100k texts is
#: GIL-bound work (building and inserting them) that would serialise threads writing in parallel.
CACHED_BATCH_LIMIT = 4096
_PYDANTIC_MODEL = "__pydantic_model__"
_PYDANTIC_DATA = "__pydantic_data__"


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


if TYPE_CHECKING:
    from ._front import CacheFront
else:
    CacheFront = front.CacheFront  # the compiled fast path, or its pure twin


class NanaSQLite(CacheFront, SQLMixin, MutableMapping[str, Any]):
    """A persistent dict on a SQLite table ``key TEXT PRIMARY KEY, value TEXT`` (JSON values).

    >>> db = NanaSQLite(":memory:")
    >>> db["user"] = {"name": "Nana", "age": 20}
    >>> db["user"]["name"]
    'Nana'
    >>> "user" in db, len(db)
    (True, 1)
    >>> db.close()

    ``hooks=[...]`` (or ``add_hook``) adds hooks (``nanasqlite.hooks``); ``validator=`` (a validkit-py schema) adds
    a ``ValidkitHook`` with ``coerce``.

    ``readonly=True`` opens an existing file read-only (SQLite's ``SQLITE_OPEN_READONLY``): reads work as usual, its
    journal mode is left as it is, the table must exist, and every write raises ``NanaSQLiteDatabaseError``.

    ``encryption_key`` (str or bytes) encrypts every value in the file, in the format of 1.6, with
    ``encryption_mode`` ``"aes-gcm"`` (default), ``"chacha20"`` or ``"fernet"`` (needs ``nanasqlite[encryption]``);
    ``allow_legacy_plaintext=True`` lets such a store read values stored unencrypted, for a migration.
    Sub-tables inherit the key and mode.
    """

    # Hooks (see _hooked): a store switches to its hooked class when the first one is added.
    _hooks: Any = ()
    _read_hooks: tuple[Any, ...] = ()

    def _read(self, key: str, value: Any) -> Any:
        """``value`` through the ``after_read`` hooks (the hooked store's; none here)."""
        return value

    _from_table = False  # made by table(): see warn_duplicate_table
    _front: Any = CacheFront  # the base class that allocates a store (coherence.py has another)

    def __new__(cls, *args: Any, **kwargs: Any) -> NanaSQLite:
        # The class is chosen here, once, so that a default store pays nothing for these modes on its hot paths:
        # cache_consistency="auto" checks the file before answering (coherence.py); write-back keeps writes in
        # memory for a background flush (writeback.py).
        if cls is NanaSQLite and kwargs.get("cache_consistency") == "auto":
            from .coherence import CoherentNanaSQLite

            cls = CoherentNanaSQLite
        if kwargs.get("v2_mode") or kwargs.get("memory_first"):
            cls = store_class(cls)
        store: NanaSQLite = cls._front.__new__(cls)  # the compiled base that lays out the instance allocates it
        return store

    def __init__(
        self,
        db_path: str | os.PathLike[str] | bytes,
        table: str = "data",
        bulk_load: bool = False,
        optimize: bool = True,
        cache_size_mb: int = 64,
        strict_sql_validation: bool = True,
        validator: Any = None,
        coerce: bool = False,
        *,
        hooks: Iterable[Any] | None = None,
        cache_strategy: CacheType | str = CacheType.UNBOUNDED,
        cache_size: int | None = None,
        cache_ttl: float | None = None,
        busy_timeout: float = 5.0,
        lock_timeout: float | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        max_clause_length: int = 1000,
        readonly: bool = False,
        encryption_key: str | bytes | None = None,
        encryption_mode: str = "aes-gcm",
        allow_legacy_plaintext: bool = False,
        warn_duplicate_table_instance: bool = True,
        cache_consistency: str = "manual",
        cache_persistence_ttl: bool = False,
        v2_mode: bool = False,
        v2_config: V2Config | None = None,
        flush_mode: str = "immediate",
        flush_interval: float = 3.0,
        flush_count: int = 100,
        v2_chunk_size: int = 1000,
        v2_max_dlq_size: int | None = 1000,
        v2_enable_metrics: bool = False,
        memory_first: bool = False,
        memory_flush_interval: float = 5.0,
    ) -> None:
        db_path = path_text(db_path)
        self._wb_config = settings(
            v2_mode, v2_config, flush_mode, flush_interval, flush_count, v2_chunk_size, v2_max_dlq_size,
            v2_enable_metrics, memory_first, memory_flush_interval, cache_strategy, cache_size,
        )  # fmt: skip
        refuse_auto(self._wb_config, cache_consistency)
        if memory_first:
            bulk_load = True
        cipher = make_cipher(encryption_key, encryption_mode, allow_legacy_plaintext)
        options = Options(
            optimize=bool(optimize),
            cache_size_mb=cache_size_mb,
            busy_timeout=busy_timeout,
            lock_timeout=lock_timeout,
            cache_strategy=cache_strategy,
            cache_size=cache_size,
            cache_ttl=cache_ttl,
            strict_sql_validation=bool(strict_sql_validation),
            allowed_sql_functions=allowed_sql_functions,  # type: ignore[arg-type]
            forbidden_sql_functions=forbidden_sql_functions,  # type: ignore[arg-type]
            max_clause_length=max_clause_length,
            cipher=cipher,
            warn_duplicate_table_instance=bool(warn_duplicate_table_instance),
            cache_consistency=cache_consistency,
            cache_persistence_ttl=bool(cache_persistence_ttl),
        )
        policy = expiry.make_cache(cache_strategy, cache_size, cache_ttl, options.cache_persistence_ttl)
        conn = Connection(
            db_path,
            optimize=options.optimize,
            cache_size_mb=options.cache_size_mb,
            busy_timeout=options.busy_timeout,
            lock_timeout=options.lock_timeout,
            readonly=bool(readonly),
            kv_table=table,
        )
        try:
            self._setup(conn, table, options, policy, bulk_load, owner=True)
            if hooks is not None or validator is not None:
                from ._hooked import add_hooks, make_hooks

                add_hooks(self, make_hooks(hooks, validator, coerce))
        except BaseException:
            conn.close()
            raise

    def _setup(
        self,
        conn: Connection,
        table: str,
        options: Options,
        policy: CachePolicy,
        bulk_load: bool,
        owner: bool,
    ) -> None:
        self._closed = True  # until the table exists
        self._hot = {}
        self._raw = None
        self._db_path = conn.path
        self._conn = conn
        self._lock = conn.lock
        self._options = options
        self._owner = owner
        self._bulk_load = bool(bulk_load)
        with self._lock:
            # An encrypted store's table seals and opens values (cipher.py); the mapping is the same.
            self._kv = KVTable(conn, table) if options.cipher is None else CipherKV(conn, table, options.cipher)
            # SQL can read the stored values (UniqueHook's index in the file); not when they are ciphertext
            self._sql_values = options.cipher is None
            self._table = table
            self._cache = policy
            self._hot = policy.hot
            self._raw = policy.raw
            self._closed = False
            conn.register(self)  # under the lock, with its table: an SQL write sees it with both or neither
        attach = getattr(policy, "attach", None)  # a policy with work of its own (expiry.py)
        if attach is not None:
            attach(self)
        if bulk_load:
            self.load_all()

    def add_hook(self, hook: Any) -> None:
        """Add a hook (``nanasqlite.hooks``, or any object with ``NanaHook`` methods); it runs after those
        added before it. A store without hooks pays nothing for them."""
        from ._hooked import add_hooks

        add_hooks(self, [hook])

    # -- state --------------------------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise NanaSQLiteClosedError(
                messages.closed(self._db_path, self._table, parent=not self._owner and self._conn.closed)
            )

    def _mark_closed(self) -> None:
        self._closed = True
        stop = getattr(self._cache, "stop", None)
        if stop is not None:
            stop()
        self._cache = make_cache()
        self._hot = self._cache.hot
        self._raw = self._cache.raw

    def _reopened(self) -> None:
        """The connection was opened again (``restore``): its caches are already dropped."""

    def close(self) -> None:
        """Close the store; closing the store that opened the file closes its sub-tables too. Idempotent.

        An open transaction is rolled back.
        """
        if self._owner:
            self._conn.close()
        self._mark_closed()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> NanaSQLite:
        self._check()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"cached={len(self._cache)}"
        return f"{type(self).__name__}({self._db_path!r}, table={self._table!r}, {state})"

    # -- cache plumbing -----------------------------------------------------------------------------------

    def _decode(self, key: str, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return codec.loads(text)
        except ValueError as exc:
            raise not_json(key, exc) from exc

    def _filling(self) -> bool:
        # Inside a transaction the cache is neither filled nor updated: other threads could otherwise see
        # data that is not committed yet, and a rollback would leave it behind.
        return self._conn.depth == 0

    def _resolve(self, key: str, decode: bool = True) -> Any:
        """The value of ``key`` (``Raw`` when not ``decode``), or ``ABSENT``. Caller holds the lock.

        This is every cold read, so it is written flat: one cache lookup, one query, one decode.
        """
        if self._closed:
            self._check()
        cache = self._cache
        entry = cache.lookup(key)
        if entry is MISS:
            if decode:
                value = self._kv.read(key)  # the kernel: one prepared statement, parsed from its bytes
                filling = self._filling()
                if value is ABSENT:
                    if filling:
                        cache.put_absent(key)
                    return ABSENT
                if filling:
                    cache.put(key, value)
                return value
            text = self._kv.get(key)
            filling = self._filling()
            if text is False:
                if filling:
                    cache.put_absent(key)
                return ABSENT
            if filling:
                cache.put_raw(key, text)  # type: ignore[arg-type]
            return Raw(text)  # type: ignore[arg-type]
        elif decode and type(entry) is Raw:
            value = self._decode(key, entry.text)
            filling = self._filling()
        else:
            return entry
        if filling:
            cache.put(key, value)
        return value

    # Every write forgets the cached entries of its keys *before* touching the file and records the new state
    # after: an exception in between (a KeyboardInterrupt after COMMIT, say) leaves entries missing, to be
    # read from the file again, never stale ones.

    def _forget(self, keys: list[str]) -> None:
        self._cache.discard_many(keys)

    def _written(self, keys: list[str], texts: list[str]) -> None:
        if self._filling():
            self._cache.put_raw_many(keys, texts)

    def _refused(self, keys: Iterable[object]) -> None:
        """Forget the entries of keys whose write failed. Reads return the cached objects themselves, so the
        caller may have changed one in place before trying to write it back (``u = db["u"]; u["x"] = ...;
        db["u"] = u``): the entry would then show a value the file never got. Forgetting is always safe (the
        next read asks the file). The async writer view replaces this method with one that forgets in the
        shared cache, since its own cache is an overlay from which a failed write's records are cut.

        Without the store's lock: a failed write must raise its own error, not wait for (or time out on) another
        thread's transaction, and a forget racing a read under the lock only makes that read's key be read from
        the file again."""
        names = [key for key in keys if isinstance(key, str)]  # a key that cannot be stored is never cached
        if names:
            self._cache.discard_many(names)

    def _removed(self, keys: Iterable[str]) -> None:
        if self._filling():
            for key in keys:
                self._cache.put_absent(key)

    # The CacheFront base calls these when ``_hot`` cannot answer.

    def _miss(self, key: str) -> Any:
        if not isinstance(key, str):
            self._check()
            raise KeyError(key)
        with self._lock:
            value = self._resolve(key)
        if value is ABSENT:
            raise KeyError(key)
        return value

    def _miss_get(self, key: str, default: Any) -> Any:
        if not isinstance(key, str):
            self._check()
            return default
        with self._lock:
            value = self._resolve(key)
        return default if value is ABSENT else value

    def _miss_contains(self, key: object) -> bool:
        if not isinstance(key, str):
            self._check()
            return False
        with self._lock:
            return self._resolve(key, decode=False) is not ABSENT

    # -- the mapping protocol -----------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        # Written flat (no helper calls): this is every single write, and SQLite's commit is its only real cost.
        if self._closed:
            self._check()
        if not isinstance(key, str):
            raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
        try:
            text = encode_value(key, value)
        except BaseException:
            self._refused((key,))
            raise
        with self._lock:
            if self._closed:
                self._check()
            cache = self._cache
            cache.discard(key)  # before the write: see _forget
            self._kv.put(key, text)
            if self._filling():
                cache.put_raw(key, text)

    def __delitem__(self, key: str) -> None:
        self._check()
        if not isinstance(key, str):  # a key that cannot be stored is missing, as for get (and 1.6)
            raise KeyError(key)
        with self._lock:
            self._check()
            self._cache.discard(key)
            if not self._kv.delete(key):
                self._removed([key])
                raise KeyError(key)
            self._removed([key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        self._check()
        with self._lock:
            self._check()
            return self._kv.count()

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def keys(self) -> list[str]:  # type: ignore[override]
        """All keys, in key order (a list, as in 1.6)."""
        self._check()
        with self._lock:
            self._check()
            return self._kv.keys()

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        """All ``(key, value)`` pairs of the store, in key order, whatever the cache holds."""
        self._check()
        with self._lock:
            self._check()
            stamp = self._stamp()
            rows = self._kv.items()  # one statement: one state of the file
            cache = self._cache
            filling = self._filling()
            out = []
            for key, text in rows:
                entry = cache.lookup(key)
                if type(entry) is Raw:
                    # Loaded but never read (bulk_load, a write): decode once and keep the value, so a
                    # second to_dict() after bulk_load is all cache hits.
                    entry = self._decode(key, text)
                    if filling:
                        cache.put(key, entry)
                elif entry is MISS or entry is ABSENT:
                    entry = self._decode(key, text)  # not cached: a full scan must not fill the cache
                out.append((key, entry))
            if not self._still(stamp, True):  # the cache moved meanwhile (see _stamp): the rows alone answer
                return [(key, self._decode(key, text)) for key, text in rows]
            return out

    def values(self) -> list[Any]:  # type: ignore[override]
        """All values of the store, in key order."""
        return [v for _, v in self.items()]

    def iter_items(self, batch_size: int = 1000) -> Iterator[tuple[str, Any]]:
        """Yield all pairs in key order, reading ``batch_size`` rows at a time; no lock is held between pages.

        Changes made while iterating may or may not be seen by later pages.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise NanaSQLiteValidationError("batch_size must be a positive int")
        after: str | None = None
        while True:
            with self._lock:
                self._check()
                rows = self._kv.page(after, batch_size)
            for key, text in rows:
                yield key, self._decode(key, text)
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    def to_dict(self) -> dict[str, Any]:
        """The whole store as a plain dict."""
        return dict(self.items())

    def copy(self) -> dict[str, Any]:
        """A plain dict copy of the whole store (as in 1.6)."""
        return self.to_dict()

    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        self._check()
        if not isinstance(key, str):  # a key that cannot be stored is missing, as for get (and 1.6)
            if default is _NO_DEFAULT:
                raise KeyError(key)
            return default
        with self._lock:
            with self._conn.atomic():
                value = self._resolve(key)
                if value is not ABSENT:
                    self._cache.discard(key)
                    self._kv.delete(key)
            if value is ABSENT:
                if default is _NO_DEFAULT:
                    raise KeyError(key)
                return default
            self._removed([key])
            return value

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the pair with the smallest key; ``KeyError`` when the store is empty."""
        self._check()
        with self._lock:
            with self._conn.atomic():
                row = self._kv.first()
                if row is None:
                    raise KeyError("popitem(): the store is empty")
                self._cache.discard(row[0])
                self._kv.delete(row[0])
            self._removed([row[0]])
            return row[0], self._decode(row[0], row[1])

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._check()
        _check_key(key)
        with self._lock:
            value = self._resolve(key)
            if value is not ABSENT:
                return value
            self[key] = default
            return default

    def update(self, mapping: Any = (), /, **kwargs: Any) -> None:
        """Write all pairs as one atomic batch (1.6 wrote them one by one)."""
        self.batch_update(dict(mapping, **kwargs))

    def clear(self) -> None:
        """Delete every key of this table."""
        self._check()
        with self._lock:
            self._check()
            self._cache.clear()
            self._kv.clear()

    def flush(self, wait: bool = False) -> None:
        """Every write is already committed when it returns; kept for compatibility with 1.6 (whose write-back
        mode, ``v2_mode=True``, this store has too: see ``writeback``)."""
        self._check()

    # The write-back mode's queue and status; a store that writes through has nothing pending or failed.

    def get_dlq(self) -> list[dict[str, Any]]:
        """The writes the file refused at flush time (write-back mode), with their payload."""
        self._check()
        return []

    def get_dlq_summary(self) -> list[dict[str, Any]]:
        """``get_dlq`` without payloads or error texts: safe to log."""
        self._check()
        return []

    def retry_dlq(self) -> None:
        self._check()

    def clear_dlq(self) -> None:
        self._check()

    def get_v2_metrics(self) -> dict[str, Any]:
        """Flush counts and timings of write-back mode with ``v2_enable_metrics=True``; else empty."""
        self._check()
        return {}

    def get_status(self) -> dict[str, Any]:
        """A payload-free snapshot of the write mode (1.6's keys)."""
        self._check()
        return {
            "mode": "immediate",
            "oldest_pending_age_seconds": None,
            "pending_kvs_count": 0,
            "flushing_kvs_count": 0,
            "pending_sql_count": 0,
            "flush_active": False,
            "failed_count": 0,
            "failure_count": 0,
            "dropped_failure_count": 0,
            "last_failure_time": None,
            "last_successful_flush_time": None,
        }

    # -- batches ------------------------------------------------------------------------------------------

    def batch_update(self, mapping: Mapping[str, Any]) -> None:
        """Write all pairs in one transaction: a value that cannot be stored raises and nothing is written."""
        self._check()
        if not isinstance(mapping, Mapping):
            raise NanaSQLiteTypeError(f"batch_update() takes a mapping, not {type(mapping).__name__}")
        keys = list(mapping.keys())  # the kernel refuses a non-str key before it writes anything
        values = [mapping[k] for k in keys] if type(mapping) is not dict else list(mapping.values())
        if not keys:
            return
        keep = len(keys) <= CACHED_BATCH_LIMIT
        with self._lock:
            self._check()
            self._forget(keys)
            try:
                texts = self._kv.put_many(keys, values, keep)
            except BaseException:
                self._refused(keys)  # in the async writer view, _forget above is cut with the failed write
                raise
            if texts is not None:
                self._written(keys, texts)

    def batch_update_partial(self, mapping: Mapping[str, Any]) -> dict[str, str]:
        """Write every pair that can be stored, as one transaction; return ``{key: reason}`` for the others."""
        self._check()
        good: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for key, value in mapping.items():
            try:
                _check_key(key)
                if utf8_problem(key):
                    raise refused_key(key)
                encode_value(key, value)
            except (TypeError, ValueError) as exc:
                failed[key] = str(exc)
            else:
                good[key] = value
        if failed:
            self._refused(failed)
        self.batch_update(good)
        return failed

    def batch_get(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of the keys that exist, in the order asked; one query for all cache misses.

        The answer is one state of the store: the values the keys had together at one moment, never some from
        before a write (or a transaction of another thread) and some from after it."""
        return self._batch_get(keys, snapshot=True)

    def _batch_get(self, keys: Iterable[str], snapshot: bool) -> dict[str, Any]:
        """``batch_get``; without ``snapshot``, each key is answered on its own (lookups coalesced into one
        query by the async readers need no common state)."""
        self._check()
        keys = list(keys)
        for key in keys:
            if type(key) is not str:
                _check_key(key)
        hits: dict[str, Any]
        stamp = self._stamp()
        hits, misses = front.probe(self._hot, keys)
        if not misses and (not snapshot or self._still(stamp, False)):
            # One C call under the GIL (the pure twin too: see _front.probe): the hot dict at one moment, and
            # the hot dict only ever holds values of the committed state (writes forget their keys first).
            return hits
        with self._lock:
            self._check()
            if snapshot and hits:
                # Hits taken before the lock may predate a write that committed while this thread waited for
                # it: under the lock the cache and the file agree, so every key is asked again here.
                stamp = self._stamp()
                hits, misses = front.probe(self._hot, keys)
            known, need = self._cache.lookup_many(misses)
            found: dict[str, Any] = {}
            for key, entry in known.items():
                if type(entry) is Raw:
                    found[key] = self._resolve(key)
                elif entry is not ABSENT:
                    found[key] = entry
            read = self._read_many(need) if need else {}
            if snapshot and not self._still(stamp, True):
                # The shared cache moved while this view read its file (an async reader thread, whose cache the
                # writer thread updates without this lock): the file alone answers, in one read transaction.
                return self._kv.get_many(keys, self._decode)
        if not hits and not found:
            return read  # all from the file, which answers in the order asked
        hits.update(found)
        hits.update(read)
        return {k: hits[k] for k in keys if k in hits}

    # A multi-key read combines cache entries with rows of the file. Under the store's lock the two agree: every
    # writer of this store takes the lock. The async facade's reader threads read through their own connection
    # and lock while the writer thread updates the shared cache, so their views replace these two with a check
    # of the writer's generation (the snapshot rule of _async_threads): a read whose stamp is no longer the same,
    # or was odd, answers from the file alone.

    def _stamp(self) -> int:
        return 0

    def _still(self, stamp: int, locked: bool) -> bool:
        """Whether cache entries read since ``_stamp`` returned ``stamp`` agree with the file (``locked``: the
        caller held the store's lock throughout)."""
        return True

    def _read_many(self, keys: list[str]) -> dict[str, Any]:
        """Read uncached keys from the file: ``{key: value}`` of those found, in order; cache them. Caller holds
        the lock.

        Every value is decoded before any is cached: a value that is not JSON raises with nothing cached."""
        found = self._kv.get_many(keys, self._decode)
        if self._filling():
            cache = self._cache
            cache.put_many(found)
            if len(found) < len(keys):
                for key in keys:
                    if key not in found:
                        cache.put_absent(key)
        return found

    def batch_delete(self, keys: Iterable[str]) -> None:
        """Delete all keys in one transaction; keys that do not exist are ignored."""
        self._check()
        keys = list(keys)  # the kernel refuses a non-str key before it deletes anything
        if not keys:
            return
        with self._lock:
            self._check()
            self._forget(keys)
            self._kv.delete_many(keys)
            self._removed(keys)

    # -- cache control ------------------------------------------------------------------------------------

    def load_all(self) -> None:
        """Read every row into the cache; values are decoded on their first access."""
        self._check()
        with self._lock:
            self._check()
            keys, texts = self._kv.scan()
            if self._filling():
                self._cache.put_raw_many(keys, texts)  # type: ignore[arg-type]

    def refresh(self, key: str | None = None) -> None:
        """Forget cached data (of ``key``, or all) so the next read sees the file; reload all under bulk_load."""
        self._check()
        if key is not None:
            _check_key(key)
            with self._lock:
                self._cache.discard(key)
            return
        self.clear_cache()
        if self._bulk_load:
            self.load_all()

    def is_cached(self, key: str) -> bool:
        self._check()
        return self._cache.is_cached(key)

    def clear_cache(self) -> None:
        """Drop the in-memory cache; the file is untouched."""
        self._check()
        with self._lock:
            self._cache.clear()

    def get_fresh(self, key: str, default: Any = None) -> Any:
        """Read ``key`` from the file, bypassing and then updating the cache."""
        self._check()
        _check_key(key)
        with self._lock:
            self._cache.discard(key)
            value = self._resolve(key)
        return default if value is ABSENT else value

    # -- transactions -------------------------------------------------------------------------------------

    def begin_transaction(self) -> None:
        """Start a transaction (a savepoint when one is already open). It belongs to the calling thread:
        other threads wait for it to end before they touch the file."""
        self._check()
        self._conn.begin()

    def commit(self) -> None:
        self._check()
        self._conn.commit()

    def rollback(self) -> None:
        """Undo the innermost open transaction."""
        self._check()
        self._conn.rollback()

    def in_transaction(self) -> bool:
        self._check()
        return self._conn.depth > 0

    @contextmanager
    def transaction(self) -> Iterator[NanaSQLite]:
        """``with db.transaction():`` commits on success and rolls back on error; nesting uses savepoints."""
        self._check()
        with self._lock, self._conn.atomic():
            yield self

    # -- atomic read-modify-write -------------------------------------------------------------------------

    @contextmanager
    def _read_modify_write(self, key: str) -> Iterator[list[Any]]:
        """Hold the write lock of the file while the caller turns ``slot[0]`` (the stored value or ABSENT)
        into a new value; other threads and processes wait."""
        self._check()
        _check_key(key)
        with self._lock:
            self._check()
            with self._conn.atomic():
                text = self._kv.get(key)
                slot = [ABSENT if text is False else self._decode(key, text)]  # type: ignore[arg-type]
                yield slot  # an error of the caller's block (a refused request) keeps the cache as it is
                try:
                    new_text = encode_value(key, slot[0])
                    self._cache.discard(key)
                    self._kv.put(key, new_text)
                except BaseException:  # a write that failed: see _refused
                    self._refused((key,))
                    raise
            self._written([key], [new_text])

    def increment(
        self,
        key: str,
        amount: int | float = 1,
        *,
        field: str | None = None,
        default: int | float | None = None,
    ) -> Any:
        """Add ``amount`` to a stored number (or to the number in ``field`` of a stored dict), atomically
        across threads and processes, and return the new stored value. A missing key or field is
        ``KeyError`` unless ``default`` gives its starting value."""
        if not _number(amount):
            raise NanaSQLiteValidationError(f"amount must be an int or float, not {type(amount).__name__}")
        if isinstance(amount, float) and amount - amount != 0.0:
            raise NanaSQLiteValidationError("amount must be finite")
        if default is not None and not _number(default):
            raise NanaSQLiteValidationError(f"default must be an int or float, not {type(default).__name__}")
        if isinstance(default, float) and default - default != 0.0:
            raise NanaSQLiteValidationError("default must be finite")
        if field is not None and (not isinstance(field, str) or not field):
            raise NanaSQLiteValidationError("field must be a non-empty string or None")
        with self._read_modify_write(key) as slot:
            stored = slot[0]
            if field is None:
                current = self._start(stored, default, key)
                slot[0] = self._add(current, amount)
            else:
                if stored is ABSENT:
                    if default is None:
                        raise KeyError(key)
                    stored = {}
                if not isinstance(stored, dict):
                    raise NanaSQLiteValidationError(f"stored value of {key!r} must be a dict to use field=")
                current = self._start(stored.get(field, ABSENT), default, field)
                slot[0] = {**stored, field: self._add(current, amount)}
        return slot[0]

    @staticmethod
    def _start(current: Any, default: int | float | None, name: str) -> int | float:
        if current is ABSENT:
            if default is None:
                raise KeyError(name)
            return default
        if not _number(current):
            raise NanaSQLiteValidationError(f"stored value must be an int or float, not {type(current).__name__}")
        return current  # type: ignore[no-any-return]

    @staticmethod
    def _add(current: int | float, amount: int | float) -> int | float:
        result = current + amount
        if isinstance(result, float) and result - result != 0.0:
            raise NanaSQLiteValidationError("increment would store a non-finite number")
        return result

    def patch(self, key: str, changes: Mapping[str, Any], *, create: bool = False) -> Any:
        """Merge ``changes`` into the dict stored at ``key`` (shallow), atomically; return the new value."""
        if not isinstance(changes, Mapping):
            raise NanaSQLiteValidationError(f"changes must be a mapping, not {type(changes).__name__}")
        with self._read_modify_write(key) as slot:
            stored = slot[0]
            if stored is ABSENT:
                if not create:
                    raise KeyError(key)
                stored = {}
            if not isinstance(stored, dict):
                raise NanaSQLiteValidationError(f"stored value of {key!r} must be a dict to patch it")
            slot[0] = {**stored, **changes}
        return slot[0]

    # -- pydantic -----------------------------------------------------------------------------------------

    def set_model(self, key: str, model: Any) -> None:
        """Store a pydantic model with its class name, in the 1.6 format (fields in JSON mode)."""
        if not hasattr(model, "model_dump") or not hasattr(type(model), "model_validate"):
            raise NanaSQLiteTypeError(
                f"set_model() needs a pydantic model, not {type(model).__name__}"
                + ("; store a plain value with db[key] = value" if type(model).__module__ == "builtins" else "")
            )
        cls = type(model)
        try:
            data = model.model_dump(mode="json")
        except BaseException:
            self._refused((key,))
            raise
        self[key] = {_PYDANTIC_MODEL: f"{cls.__module__}.{cls.__qualname__}", _PYDANTIC_DATA: data}

    def get_model(self, key: str, model_class: type | None = None) -> Any:
        """Rebuild a model stored by ``set_model`` (or a plain dict) as ``model_class``. Without a class, the
        stored class name is looked up among already imported modules; nothing is imported for it."""
        data = self[key]
        stored_name = None
        if isinstance(data, dict) and _PYDANTIC_MODEL in data and _PYDANTIC_DATA in data:
            stored_name = data[_PYDANTIC_MODEL]
            data = data[_PYDANTIC_DATA]
        if model_class is None:
            if not isinstance(stored_name, str):
                raise NanaSQLiteValidationError(f"key {key!r} holds no model class name; pass model_class")
            model_class = _find_model_class(stored_name)
        validate = getattr(model_class, "model_validate", None)
        if validate is None:
            raise NanaSQLiteTypeError(f"{model_class!r} is not a pydantic model class")
        return validate(data)

    # -- sub-tables ---------------------------------------------------------------------------------------

    def table(
        self,
        table_name: str,
        cache_strategy: CacheType | str | None = None,
        cache_size: int | None = None,
        cache_ttl: float | None = None,
        cache_persistence_ttl: bool | None = None,
        validator: Any = _NO_DEFAULT,
        coerce: Any = _NO_DEFAULT,
        hooks: Any = _NO_DEFAULT,
        *,
        warn_duplicate_table_instance: bool | None = None,
    ) -> NanaSQLite:
        """A store over another table of the same file and connection, with its own cache and this store's
        settings (the cache options may be overridden). Closing this store closes it too.

        It has this store's hooks unless ``hooks=`` (``None``: none) or ``validator=`` / ``coerce=`` is given.
        A second live ``table()`` store of the same table on this connection warns (``UserWarning``): the two
        caches can disagree. ``warn_duplicate_table_instance=False`` (here or on the parent) silences it."""
        self._check()
        options = self._options
        warn = options.warn_duplicate_table_instance
        if warn_duplicate_table_instance is not None:
            warn = bool(warn_duplicate_table_instance)
        if warn:
            warn_duplicate_table(self._conn, table_name)
        strategy = options.cache_strategy if cache_strategy is None else cache_strategy
        size = options.cache_size if cache_size is None else cache_size
        ttl = options.cache_ttl if cache_ttl is None else cache_ttl
        persist = options.cache_persistence_ttl if cache_persistence_ttl is None else bool(cache_persistence_ttl)
        policy = expiry.make_cache(strategy, size, ttl, persist)
        child = type(self).__new__(type(self))
        child._setup(self._conn, table_name, options, policy, bulk_load=False, owner=False)
        child._from_table = True
        if self._hooks or not (hooks is validator is coerce is _NO_DEFAULT):
            from ._hooked import child_hooks

            child_hooks(self, child, validator, coerce, hooks, _NO_DEFAULT)
        return child


# The signature users see is __init__'s: __new__ only picks the class (inspect would otherwise show *args).
_INIT = inspect.signature(NanaSQLite.__init__)
setattr(NanaSQLite, "__signature__", _INIT.replace(parameters=list(_INIT.parameters.values())[1:]))  # noqa: B010


def warn_duplicate_table(conn: Connection, table_name: str) -> None:
    """Warn when ``conn`` already serves a live, open ``table()`` store of ``table_name`` (1.6's wording)."""
    for store in conn.live_stores():
        if store._from_table and store._table == table_name and not store._closed:
            warnings.warn(
                f"Table {table_name!r} already has an active NanaSQLite table() instance for this database. "
                "Multiple live instances keep independent caches and may observe stale values. "
                "Reuse the first table instance, call close(), or pass warn_duplicate_table_instance=False "
                "when this is intentional.",
                UserWarning,
                stacklevel=3,
            )
            return


def _find_model_class(name: str) -> type:
    parts = name.split(".")
    obj: Any = None
    # "pkg.module.Outer.Inner": try the longest imported module prefix first.
    for i in range(len(parts) - 1, 0, -1):
        obj = sys.modules.get(".".join(parts[:i]))
        for part in parts[i:]:
            obj = getattr(obj, part, None)
        if obj is not None:
            break
    if not isinstance(obj, type) or not hasattr(obj, "model_validate"):
        raise NanaSQLiteValidationError(f"model class {name!r} is not an imported pydantic model; pass model_class")
    return obj
