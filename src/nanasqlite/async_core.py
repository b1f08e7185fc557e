"""``AsyncNanaSQLite``: the store for asyncio programs, a thin proxy over ``NanaSQLite``.

Every async method is one or two lines: it answers a cache hit on the event loop, or hands the public sync
method of the same meaning to ``_run``, which queues it on the thread its lane names (``_async_threads``) and
returns the future that thread resolves with ``call_soon_threadsafe``. A public sync method without a
hand-written twin (one added later) gets a generated one with its signature, run on the writer thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any

import apsw

from . import messages
from ._async_threads import BEGIN, END, READ, SOLO, WRITE, Engine, Job
from ._async_txn import CURRENT, ENDED, Level, placed
from ._native import front
from ._turn import TURN
from .cache import ABSENT, MISS, CacheType, Raw
from .cipher import make_cipher
from .core import _NO_DEFAULT, NanaSQLite, warn_duplicate_table
from .exceptions import NanaSQLiteClosedError, NanaSQLiteTransactionError, NanaSQLiteValidationError
from .sql import Params
from .storage import path_text
from .writeback import V2Config, refuse_auto, settings

__all__ = ["AsyncNanaSQLite", "Rows"]

_NOT_FOUND: Any = object()
#: Items per call when a big batch is written in slices (see write_in_slices): about 5 ms of GIL-bound work in
#: the native kernel; the pure one spends 4x longer per item with the GIL, so its slices are 4x shorter.
WRITE_SLICE = 8192
PURE_WRITE_SLICE = 2048
#: Longer cached JSON texts are decoded on a reader thread rather than on the event loop.
LOOP_DECODE_LIMIT = 1 << 16
#: Most cache entries of one batch_get that are not decoded yet and are decoded on the loop.
LOOP_PEEK_LIMIT = 64


def _is_memory(path: str) -> bool:
    return path in ("", ":memory:") or "mode=memory" in path


class AsyncNanaSQLite:
    """The async twin of ``NanaSQLite``: the same options, data and file, every method awaitable.

    >>> async def main() -> None:
    ...     async with AsyncNanaSQLite("app.db") as db:
    ...         await db.aset("user", {"name": "Nana"})
    ...         print(await db.aget("user"))

    Options are those of ``NanaSQLite`` (an unknown keyword is a ``TypeError``), plus ``max_workers`` (reader
    threads, default 5), ``read_pool_size`` (overrides that count; 0 sends every read to the writer thread) and
    ``thread_name_prefix``.

    How it runs. The loop thread answers cache hits itself (``aget``, ``acontains``, ``abatch_get``). Other reads
    (and the SQL helpers that only read: ``query``, ``count``, ``table_exists`` ...) go to the reader threads,
    each with its own read-only connection, so they run in parallel with each other and with writes (WAL); at
    most one reader per CPU works at a time, the rest wait without competing for the GIL. Writes go to one
    writer thread, which commits every write queued at that moment in one transaction (group commit); each
    awaited write resolves only once its own data is committed and cached, so any task reads it afterwards. A
    write that fails (a value that cannot be stored, a missing key) fails only its own awaiter. The other SQL
    helpers, cache control and backup/restore run on the writer thread, one at a time, in order with the writes;
    ``execute`` returns its rows already read (``Rows``). ``":memory:"`` cannot be shared between connections,
    so there every read runs on the writer thread too. The store opens on the writer thread, so the constructor
    never blocks the loop and may run outside one; an error opening the file is raised by the first awaited call
    (``async with`` awaits one).

    Cancellation. Cancelling (or timing out) an awaiting task stops the wait, not the work: a write that was
    queued is committed exactly once, whether or not anybody still awaits it; a read nobody awaits is skipped.

    Transactions. ``async with db.transaction():`` (or ``begin_transaction``/``commit``/``rollback``) belongs to
    the task that began it and the tasks it creates inside it. Its operations, reads included, run on the writer
    thread inside the transaction, so they see its uncommitted writes. Other tasks keep reading committed data
    (from the cache and the readers) but their writes queue behind the transaction until it ends; a task that
    begins a second transaction waits likewise. A nested block is a savepoint owned by the task that opened it:
    while it is open, the other tasks of the transaction wait for it, so sibling tasks never commit or undo each
    other's work. Leaving a block by an exception or a cancellation rolls back that block only; a commit that
    was queued when its awaiter was cancelled still runs, as any queued write does. A transaction whose owner
    task ends while it is open is rolled back, so nothing waits for it forever; ``close()`` rolls back one still
    open. ``begin_transaction()`` must be awaited in the task that will use the transaction: run in a task of its
    own (``asyncio.wait_for`` before Python 3.12, ``create_task``, ``gather``, ``shield``), it raises
    ``NanaSQLiteTransactionError`` at once, since that task ends with it. Details: ``_async_txn``.

    Sub-tables (``await db.table(name)``) share the threads and the connection; closing the store closes them.
    """

    _engine: Engine
    _own: NanaSQLite | None  # a sub-table's sync store; None for the store that opened the file
    _closed: bool
    _parent: AsyncNanaSQLite | None
    _write_back: bool

    def __init__(
        self,
        db_path: str | os.PathLike[str] | bytes,
        table: str = "data",
        bulk_load: bool = False,
        optimize: bool = True,
        cache_size_mb: int = 64,
        max_workers: int = 5,
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
        read_pool_size: int | None = None,
        thread_name_prefix: str = "AsyncNanaSQLite",
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
        make_cipher(encryption_key, encryption_mode, allow_legacy_plaintext)  # a bad key raises here, not later
        write_back = settings(
            v2_mode, v2_config, flush_mode, flush_interval, flush_count, v2_chunk_size, v2_max_dlq_size,
            v2_enable_metrics, memory_first, memory_flush_interval, cache_strategy, cache_size,
        )  # fmt: skip
        refuse_auto(write_back, cache_consistency)
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers <= 0:
            raise NanaSQLiteValidationError("max_workers must be a positive int")
        if read_pool_size is not None and (
            not isinstance(read_pool_size, int) or isinstance(read_pool_size, bool) or read_pool_size < 0
        ):
            raise NanaSQLiteValidationError("read_pool_size must be None or an int >= 0")
        opener = partial(
            NanaSQLite,
            db_path,
            table,
            bulk_load,
            optimize,
            cache_size_mb,
            strict_sql_validation,
            validator,
            coerce,
            hooks=hooks,
            cache_strategy=cache_strategy,
            cache_size=cache_size,
            cache_ttl=cache_ttl,
            busy_timeout=busy_timeout,
            lock_timeout=lock_timeout,
            allowed_sql_functions=allowed_sql_functions,
            forbidden_sql_functions=forbidden_sql_functions,
            max_clause_length=max_clause_length,
            readonly=readonly,
            encryption_key=encryption_key,
            encryption_mode=encryption_mode,
            allow_legacy_plaintext=allow_legacy_plaintext,
            warn_duplicate_table_instance=warn_duplicate_table_instance,
            cache_consistency=cache_consistency,
            cache_persistence_ttl=cache_persistence_ttl,
            v2_mode=write_back is not None,
            v2_config=write_back,
            memory_first=memory_first,
        )
        # "auto": reads check the file's commit marker first (coherence.py); a changed one sends the read to the
        # writer thread, which brings the cache up to date before answering.
        self._coherent = cache_consistency == "auto"
        self._warn_duplicate = bool(warn_duplicate_table_instance)
        readers = 0 if _is_memory(db_path) else max_workers if read_pool_size is None else read_pool_size
        # Write-back mode: writes resolve once in memory (one at a time on the writer thread, outside any group
        # transaction), and reads must see them, so they run there too: the readers' connections would not.
        self._write_back = write_back is not None
        if self._write_back:
            readers = 0
        # Readers open the file by its absolute path: the cwd may change before they first need it.
        self._engine = Engine(opener, os.path.abspath(db_path), readers, thread_name_prefix)
        self._own = None
        self._closed = False
        self._parent = None
        self._db_path = db_path
        self._table = table
        self._max_workers = max_workers
        # A store nobody closed stops its threads when it is garbage-collected.
        weakref.finalize(self, self._engine.shutdown)

    # -- the one helper ---------------------------------------------------------------------------------

    def _run(self, lane: int, call: str | Callable[..., Any], /, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Queue ``call`` (a method name of the sync store, or a function taking it) on its lane's thread."""
        level = CURRENT.get()  # self._level(), inlined: this is every call that leaves the loop
        if level is not None and level.engine is not self._engine:
            level = None
        if lane == WRITE and level is None and self._write_back:
            lane = SOLO
        if lane == READ and self._coherent and level is None and self._stale():
            return self._submit(SOLO, level, _synced, (call, *args), kwargs)
        return self._submit(lane, level, call, args, kwargs)

    def _closed_error(self) -> NanaSQLiteClosedError:
        parent = self._parent is not None and not self._closed  # the store that opened the file closed it
        return NanaSQLiteClosedError(messages.closed(self._db_path, self._table, parent=parent, what="async store"))

    def _stale(self) -> bool:
        """Whether another connection may have committed since the cache last agreed with the file."""
        store = self._db
        return store is not None and not store._closed and store._coherence_stale()  # type: ignore[attr-defined]

    def _submit(
        self, lane: int, level: Level | None, call: str | Callable[..., Any], args: tuple[Any, ...], kwargs: Any
    ) -> asyncio.Future[Any]:
        engine = self._engine
        if self._closed or engine.closed:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        engine.submit(Job(lane, self._own, call, args, kwargs, loop, future, level, asyncio.current_task()))
        return future

    def _level(self) -> Level | None:
        """The transaction level of the current context on this store's file, if any."""
        level = CURRENT.get()
        return level if level is not None and level.engine is self._engine else None

    def _ready(self) -> NanaSQLite | None:
        """The sync store when its cache may answer on the loop thread (``None`` before it is open)."""
        if self._closed or self._engine.closed:
            raise self._closed_error()
        store = self._db
        return None if store is None or store._closed else store

    def _peek(self, key: Any, default: Any) -> Any:
        """The cached answer of ``get(key, default)`` on the loop thread, or ``MISS``."""
        store = self._ready()
        if store is None or (self._coherent and store._coherence_stale()):  # type: ignore[attr-defined]
            return MISS
        return cached_get(self._engine, store, key, default)

    @property
    def _db(self) -> NanaSQLite | None:
        return self._own if self._own is not None else self._engine.store

    @property
    def sync_db(self) -> NanaSQLite | None:
        """The sync store underneath (``None`` until it is open). Calling it from the program's own threads is
        supported and stays coherent with the async cache and readers; its calls block: not for the event loop."""
        return self._db

    @property
    def closed(self) -> bool:
        return self._closed or self._engine.closed

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"max_workers={self._max_workers}"
        return f"{type(self).__name__}({self._db_path!r}, table={self._table!r}, {state})"

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncNanaSQLite:
        try:
            await self._run(SOLO, "flush")  # raises the error of opening the file, if any
        except BaseException:
            # ``async with`` does not call __aexit__ when __aenter__ raises: stop the threads here.
            with contextlib.suppress(Exception):
                await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Finish the queued work, roll back an open transaction, close the file and stop every thread.
        Idempotent; closing a sub-table closes only it."""
        if self._own is not None:
            if not self.closed:
                done = self._run(SOLO, "close")
                self._closed = True
                await done
            self._closed = True
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._engine.close((loop, future))
        await future
        self._engine.writer.join()  # it resolved us as its last act

    # -- reads: the cache on the loop, the rest on the readers --------------------------------------------

    async def aget(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``: from the cache on the event loop, else from a reader thread."""
        value = self._peek(key, default)
        return value if value is not MISS else await self._run(READ, "get", key, default)

    async def acontains(self, key: str) -> bool:
        """Whether ``key`` exists (``key in db``): from the cache on the event loop, else from a reader thread."""
        found = self._peek(key, _NOT_FOUND)
        return found is not _NOT_FOUND if found is not MISS else await self._run(READ, "__contains__", key)

    async def abatch_get(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of the keys that exist, in the order asked; all cached: no thread hop."""
        keys = list(keys)
        store = self._ready()
        if self._coherent and store is not None and store._coherence_stale():  # type: ignore[attr-defined]
            store = None
        hits = cached_batch_get(self._engine, store, keys) if store is not None else None
        return hits if hits is not None else await self._run(READ, "batch_get", keys)

    async def alen(self) -> int:
        """The number of keys (``len(db)``), counted by a reader thread."""
        return await self._run(READ, "__len__")  # type: ignore[no-any-return]

    async def akeys(self) -> list[str]:
        return await self._run(READ, "keys")  # type: ignore[no-any-return]

    async def avalues(self) -> list[Any]:
        return await self._run(READ, "values")  # type: ignore[no-any-return]

    async def aitems(self) -> list[tuple[str, Any]]:
        return await self._run(READ, "items")  # type: ignore[no-any-return]

    async def to_dict(self) -> dict[str, Any]:
        return await self._run(READ, "to_dict")  # type: ignore[no-any-return]

    async def copy(self) -> dict[str, Any]:
        return await self._run(READ, "copy")  # type: ignore[no-any-return]

    async def get_fresh(self, key: str, default: Any = None) -> Any:
        return await self._run(READ, "get_fresh", key, default)

    async def get_model(self, key: str, model_class: type | None = None) -> Any:
        return await self._run(READ, "get_model", key, model_class)

    async def is_cached(self, key: str) -> bool:
        store = self._ready()
        return store.is_cached(key) if store is not None else await self._run(READ, "is_cached", key)

    async def aiter_items(self, batch_size: int = 1000) -> AsyncIterator[tuple[str, Any]]:
        """Yield every ``(key, value)`` in key order, ``batch_size`` rows per read; see ``iter_items``."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise NanaSQLiteValidationError("batch_size must be a positive int")
        after: str | None = None
        while True:
            page = await self._run(READ, read_page, after, batch_size, True)
            for item in page:
                yield item
            if len(page) < batch_size:
                return
            after = page[-1][0]

    async def _aiter_keys(self) -> AsyncIterator[str]:
        after: str | None = None
        while True:
            page = await self._run(READ, read_page, after, 1000, False)
            for key in page:
                yield key
            if len(page) < 1000:
                return
            after = page[-1]

    def __aiter__(self) -> AsyncIterator[str]:
        """``async for key in db``: every key in key order, read 1000 at a time."""
        return self._aiter_keys()

    # -- writes: grouped on the writer thread -------------------------------------------------------------

    async def aset(self, key: str, value: Any) -> None:
        """``db[key] = value``: resolves once the write is committed (with others queued meanwhile) and cached.
        In write-back mode it resolves once the write is in memory, made on the event loop when the store's
        lock is free at that moment (outside a transaction), else on the writer thread."""
        if self._write_back and self._level() is None:
            store = self._ready()
            if store is not None and store._try_set(key, value):  # type: ignore[attr-defined]
                return
        await self._run(WRITE, "__setitem__", key, value)

    async def adelete(self, key: str) -> None:
        """``del db[key]``; ``KeyError`` when the key does not exist."""
        await self._run(WRITE, "__delitem__", key)

    async def apop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        return await self._run(WRITE, "pop", key, default)

    async def apopitem(self) -> tuple[str, Any]:
        return await self._run(WRITE, "popitem")  # type: ignore[no-any-return]

    async def asetdefault(self, key: str, default: Any = None) -> Any:
        return await self._run(WRITE, "setdefault", key, default)

    async def aupdate(self, mapping: Any = (), /, **kwargs: Any) -> None:
        await self._run(WRITE, "update", mapping, **kwargs)

    async def aclear(self) -> None:
        await self._run(WRITE, "clear")

    async def batch_update(self, mapping: Mapping[str, Any]) -> None:
        await self._run(WRITE, write_in_slices, "batch_update", mapping)

    async def batch_update_partial(self, mapping: Mapping[str, Any]) -> dict[str, str]:
        return await self._run(WRITE, "batch_update_partial", mapping)  # type: ignore[no-any-return]

    async def batch_delete(self, keys: Iterable[str]) -> None:
        await self._run(WRITE, write_in_slices, "batch_delete", list(keys))

    async def aincrement(
        self, key: str, amount: int | float = 1, *, field: str | None = None, default: int | float | None = None
    ) -> Any:
        return await self._run(WRITE, "increment", key, amount, field=field, default=default)

    async def apatch(self, key: str, changes: Mapping[str, Any], *, create: bool = False) -> Any:
        return await self._run(WRITE, "patch", key, changes, create=create)

    async def set_model(self, key: str, model: Any) -> None:
        await self._run(WRITE, "set_model", key, model)

    # -- the rest on the writer thread, one at a time -----------------------------------------------------

    async def aflush(self, wait: bool = False) -> None:
        """Resolves once every write queued before it is committed (in write-back mode: with ``wait=True``,
        once every write made before it is committed; else once the flush is started)."""
        await self._run(SOLO, "flush", wait)

    async def aget_dlq(self) -> list[dict[str, Any]]:
        return await self._run(SOLO, "get_dlq")  # type: ignore[no-any-return]

    async def aget_dlq_summary(self) -> list[dict[str, Any]]:
        return await self._run(SOLO, "get_dlq_summary")  # type: ignore[no-any-return]

    async def aretry_dlq(self) -> None:
        await self._run(SOLO, "retry_dlq")

    async def aclear_dlq(self) -> None:
        await self._run(SOLO, "clear_dlq")

    async def aget_status(self) -> dict[str, Any]:
        return await self._run(SOLO, "get_status")  # type: ignore[no-any-return]

    async def aget_v2_metrics(self) -> dict[str, Any]:
        return await self._run(SOLO, "get_v2_metrics")  # type: ignore[no-any-return]

    async def load_all(self) -> None:
        await self._run(SOLO, "load_all")

    async def refresh(self, key: str | None = None) -> None:
        await self._run(SOLO, "refresh", key)

    async def clear_cache(self) -> None:
        await self._run(SOLO, "clear_cache")

    async def table(
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
    ) -> AsyncNanaSQLite:
        """An async store over another table of the same file, sharing this one's threads and connection.
        ``validator=``, ``coerce=`` and ``hooks=`` as for ``NanaSQLite.table``."""
        warn = self._warn_duplicate if warn_duplicate_table_instance is None else bool(warn_duplicate_table_instance)
        parent = self._ready()
        if warn and parent is not None:  # here, not on the writer thread: the warning points at the caller
            warn_duplicate_table(parent._conn, table_name)
        store = await self._run(
            SOLO,
            "table",
            table_name,
            cache_strategy,
            cache_size,
            cache_ttl,
            cache_persistence_ttl,
            validator=validator,
            coerce=coerce,
            hooks=hooks,
            warn_duplicate_table_instance=False,
        )
        child = object.__new__(type(self))
        child.__dict__.update(self.__dict__)
        child._own, child._closed, child._parent, child._table = store, False, self, table_name
        return child

    async def add_hook(self, hook: Any) -> None:
        """``NanaSQLite.add_hook``, on the writer thread; every thread's view of the store sees it afterwards.
        Hooks run where the operation runs: writes on the writer thread, reads on a reader thread or, for a
        cache hit, on the event loop."""
        engine = self._engine

        def install(store: NanaSQLite) -> None:
            store.add_hook(hook)
            engine.forget_views()

        await self._run(SOLO, install)

    # -- SQL helpers: reads on the readers, everything else on the writer thread ------------------------

    async def execute(self, sql: str, parameters: Params = None) -> Rows:
        """Run any SQL on the writer thread. Its rows are read there too and come back as ``Rows`` (a cursor
        over a list), since an APSW cursor cannot be stepped from the event loop while the writer works."""
        return await self._run(SOLO, _execute, sql, parameters)  # type: ignore[no-any-return]

    async def execute_many(self, sql: str, parameters_list: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
        await self._run(SOLO, "execute_many", sql, list(parameters_list))

    async def fetch_one(self, sql: str, parameters: Params = None) -> tuple[Any, ...] | None:
        return await self._run(SOLO, "fetch_one", sql, parameters)  # type: ignore[no-any-return]

    async def fetch_all(self, sql: str, parameters: Params = None) -> list[tuple[Any, ...]]:
        return await self._run(SOLO, "fetch_all", sql, parameters)  # type: ignore[no-any-return]

    async def create_table(
        self, table_name: str, columns: Mapping[str, str], if_not_exists: bool = True, primary_key: str | None = None
    ) -> None:
        await self._run(SOLO, "create_table", table_name, columns, if_not_exists, primary_key)

    async def create_index(
        self, index_name: str, table_name: str, columns: Sequence[str], unique: bool = False, if_not_exists: bool = True
    ) -> None:
        await self._run(SOLO, "create_index", index_name, table_name, columns, unique, if_not_exists)

    async def drop_table(self, table_name: str, if_exists: bool = True) -> None:
        await self._run(SOLO, "drop_table", table_name, if_exists)

    async def drop_index(self, index_name: str, if_exists: bool = True) -> None:
        await self._run(SOLO, "drop_index", index_name, if_exists)

    async def alter_table_add_column(
        self, table_name: str, column_name: str, column_type: str, default: Any = None
    ) -> None:
        await self._run(SOLO, "alter_table_add_column", table_name, column_name, column_type, default)

    async def get_table_schema(self, table_name: str | None = None) -> list[dict[str, Any]]:
        return await self._run(READ, "get_table_schema", table_name)  # type: ignore[no-any-return]

    async def list_tables(self) -> list[str]:
        return await self._run(READ, "list_tables")  # type: ignore[no-any-return]

    async def table_exists(self, table_name: str) -> bool:
        return await self._run(READ, "table_exists", table_name)  # type: ignore[no-any-return]

    async def list_indexes(self, table_name: str | None = None) -> list[dict[str, Any]]:
        return await self._run(READ, "list_indexes", table_name)  # type: ignore[no-any-return]

    async def sql_insert(self, table_name: str, data: Mapping[str, Any]) -> int:
        return await self._run(SOLO, "sql_insert", table_name, data)  # type: ignore[no-any-return]

    async def sql_update(self, table_name: str, data: Mapping[str, Any], where: str, parameters: Params = None) -> int:
        return await self._run(SOLO, "sql_update", table_name, data, where, parameters)  # type: ignore[no-any-return]

    async def sql_delete(self, table_name: str, where: str, parameters: Params = None) -> int:
        return await self._run(SOLO, "sql_delete", table_name, where, parameters)  # type: ignore[no-any-return]

    async def upsert(
        self, table_name: str | Any = None, data: Any = None, conflict_columns: Sequence[str] | None = None
    ) -> int | None:
        return await self._run(SOLO, "upsert", table_name, data, conflict_columns)  # type: ignore[no-any-return]

    async def import_from_dict_list(self, table_name: str, data_list: Iterable[Mapping[str, Any]]) -> int:
        return await self._run(SOLO, "import_from_dict_list", table_name, list(data_list))  # type: ignore[no-any-return]

    async def export_table_to_dict(self, table_name: str) -> list[dict[str, Any]]:
        return await self._run(READ, "export_table_to_dict", table_name)  # type: ignore[no-any-return]

    async def query(
        self,
        table_name: str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        parameters: Params = None,
        order_by: str | None = None,
        limit: int | None = None,
        strict_sql_validation: bool | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> list[dict[str, Any]]:
        return await self._run(  # type: ignore[no-any-return]
            READ, "query", table_name, columns, where, parameters, order_by, limit,
            strict_sql_validation, allowed_sql_functions, forbidden_sql_functions, override_allowed,
        )  # fmt: skip

    async def query_with_pagination(
        self,
        table_name: str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        parameters: Params = None,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        group_by: str | None = None,
        strict_sql_validation: bool | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> list[dict[str, Any]]:
        return await self._run(  # type: ignore[no-any-return]
            READ, "query_with_pagination", table_name, columns, where, parameters, order_by, limit, offset,
            group_by, strict_sql_validation, allowed_sql_functions, forbidden_sql_functions, override_allowed,
        )  # fmt: skip

    async def count(
        self,
        table_name: str | None = None,
        where: str | None = None,
        parameters: Params = None,
        strict_sql_validation: bool | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> int:
        return await self._run(  # type: ignore[no-any-return]
            READ, "count", table_name, where, parameters,
            strict_sql_validation, allowed_sql_functions, forbidden_sql_functions, override_allowed,
        )  # fmt: skip

    async def exists(self, table_name: str, where: str, parameters: Params = None) -> bool:
        return await self._run(READ, "exists", table_name, where, parameters)  # type: ignore[no-any-return]

    async def vacuum(self) -> None:
        await self._run(SOLO, "vacuum")

    async def pragma(self, pragma_name: str, value: Any = None) -> Any:
        return await self._run(SOLO, "pragma", pragma_name, value)

    async def get_db_size(self) -> int:
        return await self._run(READ, "get_db_size")  # type: ignore[no-any-return]

    async def get_last_insert_rowid(self) -> int:
        """The last rowid inserted through the writer's connection (writes of every task share it)."""
        return await self._run(SOLO, "get_last_insert_rowid")  # type: ignore[no-any-return]

    async def get_by_path(self, key: str, path: str) -> Any:
        return await self._run(READ, "get_by_path", key, path)

    async def backup(
        self,
        dest_path: str | os.PathLike[str] | bytes,
        *,
        verify: bool = True,
        flush: bool = True,
        allow_incomplete: bool = False,
    ) -> None:
        await self._run(SOLO, "backup", dest_path, verify=verify, flush=flush, allow_incomplete=allow_incomplete)

    async def restore(self, src_path: str | os.PathLike[str] | bytes) -> None:
        """Replace the database with ``src_path``; the readers reopen the new file."""
        await self._run(SOLO, "restore", src_path)

    # -- transactions -------------------------------------------------------------------------------------

    async def begin_transaction(self) -> None:
        """Begin a transaction owned by this task (a savepoint when it already has one); see the class doc."""
        task = asyncio.current_task()
        if task is not None and getattr(task.get_coro(), "cr_frame", None) is sys._getframe(0):
            raise NanaSQLiteTransactionError(
                "begin_transaction() ran in a task of its own (asyncio.wait_for before Python 3.12, create_task, "
                "gather or shield), which ends as soon as it returns, so no task would own the transaction: "
                "await it directly (asyncio.timeout() bounds it), or use `async with db.transaction():`"
            )
        await self._begin()

    async def _begin(self) -> Level:
        level = Level(self._engine)
        future = self._submit(BEGIN, self._level(), "begin_transaction", (level,), {})
        try:
            await future
        except BaseException:
            # Cancelled (or failed): the writer may have begun it, or may still; nobody owns it now, so end it.
            self._engine.abandon(level)
            raise
        level.watch(asyncio.current_task())
        CURRENT.set(level)
        return level

    async def _end(self, level: Level, commit: bool) -> None:
        """Commit or roll back exactly ``level``; the context is back in its parent once it has ended."""
        await self._submit(END, level, "", (commit,), {})
        if level.state == ENDED:
            level.unwatch()
            if CURRENT.get() is level:
                CURRENT.set(level.parent)

    async def commit(self) -> None:
        """Commit the innermost transaction level of this task (a savepoint's changes join the level below)."""
        await self._end(self._open_level("commit"), commit=True)

    async def rollback(self) -> None:
        """Roll back the innermost transaction level of this task."""
        await self._end(self._open_level("rollback"), commit=False)

    def _open_level(self, what: str) -> Level:
        level = placed(self._level())
        if level is None:
            self._ready()  # the closed error first, when closed
            raise NanaSQLiteTransactionError(messages.no_transaction(what))
        return level

    async def in_transaction(self) -> bool:
        """Whether a transaction is open on this store's file (whichever task owns it)."""
        self._ready()  # raises when closed
        return bool(self._engine.stack)

    def transaction(self) -> _Transaction:
        """``async with db.transaction():`` commits on success, rolls back on an exception or a cancellation."""
        return _Transaction(self)

    # -- the names of the 1.6 package ---------------------------------------------------------------------

    get = aget
    contains = acontains
    keys = akeys
    values = avalues
    items = aitems
    flush = aflush
    increment = aincrement
    patch = apatch
    aload_all = load_all
    arefresh = refresh
    ais_cached = is_cached
    abatch_update = batch_update
    abatch_update_partial = batch_update_partial
    abatch_delete = batch_delete
    ato_dict = to_dict
    acopy = copy
    aget_fresh = get_fresh
    aset_model = set_model
    aget_model = get_model
    aclear_cache = clear_cache
    atable = table
    aexecute = execute
    aexecute_many = execute_many
    afetch_one = fetch_one
    afetch_all = fetch_all
    acreate_table = create_table
    acreate_index = create_index
    adrop_table = drop_table
    adrop_index = drop_index
    aalter_table_add_column = alter_table_add_column
    aget_table_schema = get_table_schema
    alist_tables = list_tables
    atable_exists = table_exists
    alist_indexes = list_indexes
    asql_insert = sql_insert
    asql_update = sql_update
    asql_delete = sql_delete
    aupsert = upsert
    aimport_from_dict_list = import_from_dict_list
    aexport_table_to_dict = export_table_to_dict
    aquery = query
    aquery_with_pagination = query_with_pagination
    acount = count
    aexists = exists
    avacuum = vacuum
    apragma = pragma
    aget_db_size = get_db_size
    aget_last_insert_rowid = get_last_insert_rowid
    aget_by_path = get_by_path
    abackup = backup
    arestore = restore


class Rows:
    """The result of ``AsyncNanaSQLite.execute``: the rows, read on the writer thread, behind a cursor's API."""

    def __init__(self, rows: list[tuple[Any, ...]], description: tuple[tuple[str, str | None], ...] | None) -> None:
        self._rows = rows
        self._next = 0
        self._description = description

    @property
    def description(self) -> tuple[tuple[str, str | None], ...] | None:
        """``(name, declared type)`` of each result column, or ``None`` when the SQL returned no rows."""
        return self._description

    def getdescription(self) -> tuple[tuple[str, str | None], ...] | None:
        return self._description

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Rows:
        return self

    def __next__(self) -> tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def close(self) -> None:
        self._next = len(self._rows)


def _synced(store: NanaSQLite, call: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A read of a ``cache_consistency="auto"`` store whose file changed: on the writer thread, on the store
    itself, bring its cache up to date (``coherence.CoherentNanaSQLite._sync``), then answer."""
    store._coherence_check()  # type: ignore[attr-defined]
    return getattr(store, call)(*args, **kwargs) if isinstance(call, str) else call(store, *args, **kwargs)


def _execute(store: NanaSQLite, sql: str, parameters: Params) -> Rows:
    cursor = store.execute(sql, parameters)
    try:
        description = tuple((d[0], d[1]) for d in cursor.getdescription())
    except apsw.ExecutionCompleteError:  # nothing left to read: not a query, or a query without rows
        description = None
    return Rows(cursor.fetchall(), description)


# -- answers from the cache, on the event loop ---------------------------------------------------------------


def cached_get(engine: Engine, store: NanaSQLite, key: Any, default: Any) -> Any:
    """The cached answer of ``store.get(key, default)`` without I/O, or ``MISS``; runs on the loop thread.

    An entry not decoded yet is decoded here (when short) and kept, by the readers' fill rule."""
    value = store._hot.get(key, MISS)
    if value is not MISS:
        return value
    if not isinstance(key, str):
        return MISS
    start = engine.gen
    entry = store._cache.lookup(key)
    if entry is MISS:
        return MISS
    if entry is ABSENT:
        return default
    if type(entry) is not Raw:
        return store._read(key, entry) if store._read_hooks else entry  # after_read: see _hooked
    if entry.text is not None and len(entry.text) > LOOP_DECODE_LIMIT:
        return MISS
    value = store._decode(key, entry.text)
    if not start & 1:
        with engine.fill_lock:
            if engine.gen == start:
                store._cache.put(key, value)
    return store._read(key, value) if store._read_hooks else value


def cached_batch_get(engine: Engine, store: NanaSQLite, keys: list[Any]) -> dict[str, Any] | None:
    """The cached answer of ``store.batch_get(keys)``, or ``None`` when the file must be asked.

    Only when the answer is one state of the store: see the snapshot rule of ``_async_threads``."""
    hits: dict[str, Any]
    misses: list[Any]
    start, churn = engine.gen, engine.churn
    hits, misses = front.probe(store._hot, keys)
    if not misses:
        return None if churn & 1 else hits
    if churn & 1 or len(misses) > LOOP_PEEK_LIMIT:  # decoding many cached texts belongs on a reader thread
        return None
    in_order = not hits  # every hit below is added in the order asked
    for key in misses:
        value = cached_get(engine, store, key, _NOT_FOUND)
        if value is MISS:
            return None
        if value is not _NOT_FOUND:
            hits[key] = value
    if engine.gen != start or engine.churn != churn:
        return None
    return hits if in_order and len(hits) == len(keys) else {key: hits[key] for key in keys if key in hits}


# -- what the facade sends to the threads, besides the store's own methods ------------------------------------


def read_page(store: NanaSQLite, after: str | None, limit: int, values: bool) -> list[Any]:
    """One keyset page of ``store`` in key order: ``(key, value)`` pairs, or only keys when not ``values``."""
    with store._lock:
        store._check()
        rows = store._kv.page(after, limit)
    if not values:
        return [key for key, _ in rows]
    if store._read_hooks:
        return [(key, store._read(key, store._decode(key, text))) for key, text in rows]
    return [(key, store._decode(key, text)) for key, text in rows]


def write_in_slices(store: NanaSQLite, method: str, batch: Any) -> None:
    """``store.batch_update(mapping)`` or ``store.batch_delete(keys)``, for a big batch in slices inside one
    savepoint: the same writes, all or none, but no single call holds the GIL (and stalls the loop) or the
    workers' turn (and stalls the readers) for long."""
    size = WRITE_SLICE if store._conn.kernel_name == "native" else PURE_WRITE_SLICE
    if method == "batch_update" and isinstance(batch, Mapping) and len(batch) > size:
        keys = list(batch)
        parts: list[Any] = [{k: batch[k] for k in keys[i : i + size]} for i in range(0, len(keys), size)]
    elif method == "batch_delete" and isinstance(batch, list) and len(batch) > size:
        parts = [batch[i : i + size] for i in range(0, len(batch), size)]
    else:
        getattr(store, method)(batch)
        return
    try:
        with store.transaction():
            for part in parts:
                TURN.pass_on()  # readers waiting for the turn run between two slices (see _turn)
                getattr(store, method)(part)
    except BaseException:
        if method == "batch_update":
            store._refused(keys)  # every slice is undone, not only the one that raised (see NanaSQLite._refused)
        raise


class _Transaction:
    def __init__(self, db: AsyncNanaSQLite) -> None:
        self._db = db
        self._level: Level | None = None

    async def __aenter__(self) -> AsyncNanaSQLite:
        self._level = await self._db._begin()
        return self._db

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        level, db = self._level, self._db
        assert level is not None
        try:
            if exc_type is not None:
                # The block's own error is what the caller must see, not one of the rollback (closed, say).
                with contextlib.suppress(Exception):
                    await db._end(level, commit=False)
                return
            try:
                await db._end(level, commit=True)
            except asyncio.CancelledError:
                raise  # the commit is queued and runs: cancelling stops the wait, not the work
            except BaseException:
                # A COMMIT that failed leaves the level open, and it would hold every other writer: end it.
                with contextlib.suppress(Exception):
                    await db._end(level, commit=False)
                raise
        finally:
            if CURRENT.get() is level:
                CURRENT.set(level.parent)  # this block is over, whatever became of its level


# -- twins of the other public sync methods -------------------------------------------------------------------


def _solo_twin(name: str, sync: Callable[..., Any]) -> Callable[..., Any]:
    async def twin(self: AsyncNanaSQLite, *args: Any, **kwargs: Any) -> Any:
        return await self._run(SOLO, name, *args, **kwargs)

    twin.__name__ = name
    twin.__qualname__ = f"AsyncNanaSQLite.{name}"
    twin.__doc__ = sync.__doc__
    twin.__signature__ = inspect.signature(sync)  # type: ignore[attr-defined]
    return twin


def _add_twins(cls: type[AsyncNanaSQLite]) -> None:
    """Give every public sync method without a hand-written twin (one added to the sync store after this
    module was written) a twin that runs it on the writer thread, as ``name`` and ``a<name>``."""
    for name, member in inspect.getmembers(NanaSQLite, inspect.isroutine):
        if name.startswith("_") or hasattr(cls, name) or hasattr(cls, "a" + name):
            continue
        twin = _solo_twin(name, member)
        setattr(cls, name, twin)
        setattr(cls, "a" + name, twin)


#: Async methods whose sync twin is a dunder of the mapping protocol.
_SYNC_NAME = {"aset": "__setitem__", "adelete": "__delitem__", "acontains": "__contains__", "alen": "__len__"}


def _add_docs(cls: type[AsyncNanaSQLite]) -> None:
    """Give every public async method without a docstring its sync twin's: the behaviour is written down once,
    where it is implemented, and the async facade only says that it is awaited."""
    for name, member in vars(cls).items():
        if name.startswith("_") or not inspect.iscoroutinefunction(member) or member.__doc__:
            continue
        own = member.__name__
        sync_name = _SYNC_NAME.get(own) or (own[1:] if own.startswith("a") and hasattr(NanaSQLite, own[1:]) else own)
        doc = inspect.getdoc(getattr(NanaSQLite, sync_name, None))
        head = f"Awaitable ``NanaSQLite.{sync_name}`` (see the class doc for the thread it runs on)."
        member.__doc__ = head if not doc or doc == inspect.getdoc(object) else f"{head}\n\n{doc}"


_add_twins(AsyncNanaSQLite)
_add_docs(AsyncNanaSQLite)
