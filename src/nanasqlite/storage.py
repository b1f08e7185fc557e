"""The SQLite side of the key-value store: one APSW connection, its lock, its transactions, and the KV tables.

``Connection`` owns an ``apsw.Connection`` shared by a store and its sub-tables, the re-entrant lock that
serialises them, and the transaction depth (nested transactions become savepoints). ``KVTable`` holds the
statements of one ``key TEXT PRIMARY KEY, value TEXT`` table, the file format of the 1.6 package.
Every APSW error leaves this module as ``NanaSQLiteDatabaseError`` with the original in ``original_error``.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import apsw

from . import _bridge as apsw_kernel
from . import messages
from ._native import bridge, codec
from ._turn import TURN
from ._unstorable import library_error, refused_key, refused_value, utf8_problem
from .cache import ABSENT
from .exceptions import (
    NanaSQLiteClosedError,
    NanaSQLiteConnectionError,
    NanaSQLiteDatabaseError,
    NanaSQLiteError,
    NanaSQLiteLockError,
    NanaSQLiteTransactionError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
)

if TYPE_CHECKING:
    from .core import NanaSQLite

__all__ = ["Connection", "KVTable", "quote_identifier", "encode_value", "refused_batch", "path_text"]

_log = logging.getLogger("nanasqlite")

#: Keys per statement of the kernels' ``get_many`` (``_IN_CHUNK`` in both).
IN_CHUNK = 256


def quote_identifier(name: str, what: str = "table name") -> str:
    """Return ``name`` as a quoted SQL identifier; reject what no SQLite identifier can be."""
    if not isinstance(name, str):
        raise NanaSQLiteValidationError(f"{what} must be a str, not {type(name).__name__}")
    if not name or "\x00" in name or not name.strip():
        raise NanaSQLiteValidationError(
            f"{messages.INVALID_IDENTIFIER} {name!r}: a {what} must not be empty or hold NUL"
        )
    return '"' + name.replace('"', '""') + '"'


def path_text(path: object, what: str = "db_path") -> str:
    """``path`` as the str SQLite opens: a ``str``, any ``os.PathLike`` (``pathlib.Path``), or ``bytes`` (decoded
    with ``os.fsdecode``, as the ``os`` functions do; APSW itself takes only str). Other types: ``TypeError``."""
    if type(path) is str:
        return path
    if isinstance(path, (str, bytes, os.PathLike)):
        text = os.fsdecode(path)
        if isinstance(text, str):
            return text
    raise NanaSQLiteTypeError(f"{what} must be a str, bytes or os.PathLike, not {type(path).__name__}")


def encode_value(key: str, value: Any) -> str:
    """The JSON text of ``value``, or the library's error naming the key, the part of the value the codec
    refused and what to store instead (``_unstorable``: computed only once the fast codec has raised)."""
    try:
        return str(codec.dumps(value))
    except (TypeError, ValueError) as exc:
        raise refused_value(key, value, exc) from None


def refused_batch(keys: Any, values: Any, exc: BaseException) -> BaseException:
    """The library's error for a batch a kernel refused with ``exc``: the first key that cannot be stored, else
    the first value (the order the kernels check them in), else ``exc`` itself as the library's error."""
    keys = list(keys)
    for key in keys:
        if not isinstance(key, str) or utf8_problem(key):
            return refused_key(key)
    if values is not None:
        for key, value in zip(keys, values, strict=False):
            try:
                codec.dumps(value)
            except (TypeError, ValueError) as value_exc:
                return refused_value(key, value, value_exc)
    if isinstance(exc, (NanaSQLiteError, UnicodeError)):
        return exc
    return library_error(exc)


def database_error(exc: BaseException, doing: str) -> NanaSQLiteError:
    """The library's error for an APSW error: the closed error, or a database error keeping the original."""
    if isinstance(exc, apsw.ConnectionClosedError):
        return NanaSQLiteClosedError(f"Database {messages.CONNECTION_CLOSED}")
    return NanaSQLiteDatabaseError(f"{doing} failed: {exc}", original_error=exc)


def not_json(key: str, exc: ValueError) -> NanaSQLiteDatabaseError:
    """The error for a stored value that cannot be decoded."""
    return NanaSQLiteDatabaseError(f"the stored value of key {key!r} is not valid JSON: {exc}")


class _TimedLock:
    """An RLock whose ``with`` gives up after ``timeout`` seconds with ``NanaSQLiteLockError``."""

    def __init__(self, timeout: float) -> None:
        self._lock = threading.RLock()
        self.timeout = timeout

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self.timeout):
            raise NanaSQLiteLockError(f"could not take the store's lock within {self.timeout} s")

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def acquire(self) -> None:
        self.__enter__()

    def release(self) -> None:
        self._lock.release()


class Connection:
    """An APSW connection shared by a store and its sub-tables."""

    def __init__(
        self,
        path: str,
        *,
        optimize: bool,
        cache_size_mb: int,
        busy_timeout: float,
        lock_timeout: float | None,
        readonly: bool = False,
        kv_table: str | None = None,
    ) -> None:
        """``kv_table``: a key-value table the caller will use, checked before anything is written to the file
        (setting up WAL changes its header), so that a file of another shape is refused untouched.

        ``readonly``: SQLite opens the file read-only (a store opened with ``readonly=True``, or a reader thread
        of the async facade): it must exist, its journal mode is left as it is, and every write fails."""
        self.path = path
        self.readonly = readonly
        try:
            flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
            self.apsw = apsw.Connection(path, flags=flags)
        except apsw.Error as exc:
            raise NanaSQLiteConnectionError(f"cannot open database {path!r}: {exc}") from exc
        except UnicodeEncodeError:  # bytes that were not UTF-8, decoded by os.fsdecode into lone surrogates
            raise NanaSQLiteConnectionError(f"cannot open database {path!r}: the path is not valid UTF-8") from None
        # reopen() must find the same file even if the working directory has changed since.
        self._reopen_path = self.apsw.db_filename("main") or path
        self._flags = flags
        self.lock: Any = threading.RLock() if lock_timeout is None else _TimedLock(lock_timeout)
        self.closed = False
        self.depth = 0  # open transactions: 1 = BEGIN, more = savepoints inside it
        self.owner = 0  # thread ident of the transaction's owner while depth > 0
        # What waits for the open transaction to end: (level it was queued at, run on COMMIT, run on rollback).
        self.pending: list[tuple[int, Callable[[], None] | None, Callable[[], None] | None]] = []
        # The stores on this connection: added by register() under the lock, removed by the garbage collector
        # whenever a store dies. Read it only through live_stores().
        self.stores: weakref.WeakValueDictionary[int, NanaSQLite] = weakref.WeakValueDictionary()
        self._optimize = optimize
        self._cache_size_mb = cache_size_mb
        self._busy_timeout = busy_timeout
        self.checked: dict[str, bool] = {}  # kv_table -> whether it exists, for the KVTable made next
        self._points: dict[str, Any] = {}  # sql -> the kernel's PointRead on this connection, made on first use
        if kv_table is not None:
            try:
                self.apsw.set_busy_timeout(int(busy_timeout * 1000))  # another process may be setting it up
                self.checked[kv_table] = check_kv_table(self.apsw, kv_table, path)
            except BaseException:
                self.apsw.close()
                raise
        self._configure()

    @property
    def kernel_name(self) -> str:
        """Which batch kernel serves this connection: "native" (GIL released per batch) or "apsw"."""
        return str(self.kernel.KERNEL)

    def _configure(self) -> None:
        # The batch kernel: the compiled bridge when it loads into this connection, else plain APSW calls.
        self.kernel: Any = bridge if bridge.attach(self.apsw) else apsw_kernel
        try:
            self.apsw.set_busy_timeout(int(self._busy_timeout * 1000))
            if self._optimize:
                for pragma in (
                    "journal_mode = WAL",
                    "synchronous = NORMAL",
                    "temp_store = MEMORY",
                    "mmap_size = 268435456",
                    f"cache_size = {-int(self._cache_size_mb) * 1024}",
                ):
                    if not (self.readonly and pragma.startswith("journal_mode")):  # that one writes the file
                        self.apsw.execute(f"PRAGMA {pragma}").fetchall()
        except apsw.Error as exc:
            self.apsw.close()
            raise NanaSQLiteConnectionError(f"cannot set up database {self.path!r}: {exc}") from exc

    def reopen(self) -> None:
        """Close and reopen the file (after it was replaced on disk); every cache of it is dropped.
        The caller holds the lock and has no transaction open; the old connection may be closed already."""
        if self.closed:
            raise NanaSQLiteClosedError(f"Database {messages.CONNECTION_CLOSED}")
        self.close_apsw()
        try:
            self.apsw = apsw.Connection(self._reopen_path, flags=self._flags)
        except apsw.Error as exc:
            self.closed = True
            raise NanaSQLiteConnectionError(f"cannot reopen database {self.path!r}: {exc}") from exc
        self._configure()
        self.invalidate_caches()
        for store in self.live_stores():
            store._reopened()

    def point(self, sql: str) -> Any:
        """The kernel's ``PointRead`` of ``sql`` on this connection (see ``KVTable.read``); the caller holds the
        lock and has checked the connection."""
        reader = self._points.get(sql)
        if reader is None:
            reader = self._points[sql] = self.kernel.PointRead(self.apsw, sql, ABSENT, codec.loads)
        return reader

    def close_apsw(self) -> None:
        """Close the APSW connection, finalizing the kernel's statements first: SQLite refuses to close a
        connection that still has prepared statements."""
        for reader in self._points.values():
            reader.close()
        self._points.clear()
        self.apsw.close()

    def register(self, store: NanaSQLite) -> None:
        """Add a store, ready to be used (its cache set), to the stores of this connection."""
        with self.lock:
            self.stores[id(store)] = store

    def live_stores(self) -> list[NanaSQLite]:
        """The stores on this connection, as a list no other thread can change.

        Never iterate ``stores`` itself: its ``values()`` is a Python generator, so another thread can add a
        store (or commit the removal of a dead one) between two of its steps, and it raises RuntimeError.
        ``valuerefs()`` copies the weak references in one C call, under the GIL; they are dereferenced
        afterwards, leaving out the stores that died since.
        """
        stores: list[NanaSQLite] = []
        for ref in self.stores.valuerefs():
            store = ref()
            if store is not None:
                stores.append(store)
        return stores

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for store in self.live_stores():
                store._mark_closed()
            mine = self.depth if self.owner == threading.get_ident() else 0
            try:
                if self.depth:
                    self.apsw.execute("ROLLBACK")
            except apsw.Error:
                pass
            self.depth = 0
            self._ended(0, committed=False)
            self.close_apsw()
            for _ in range(mine):  # the holds of the transaction this thread had open
                self.lock.release()

    def invalidate_caches(self) -> None:
        """Drop the cache of every store on this connection; one that raises does not keep the others'.

        Callers writing behind the stores' backs (the SQL helpers) call this under the lock *before* the write,
        so that an error here stops the write instead of leaving a committed one behind a stale cache.
        """
        error: BaseException | None = None
        for store in self.live_stores():
            try:
                store._cache.clear()
            except BaseException as exc:  # raised below, once every other cache is dropped
                if error is None:
                    error = exc
        if error is not None:
            raise error

    # Transactions. An open transaction holds the connection's lock, so other threads wait for it to end
    # instead of writing into it; nested ones are savepoints. BEGIN IMMEDIATE takes SQLite's write lock up
    # front, so a read-modify-write inside it never fails to upgrade (SQLITE_BUSY_SNAPSHOT in WAL mode) when
    # another process wrote in between.

    # A signal handler may raise (KeyboardInterrupt) between any two bytecodes, so the bookkeeping below is
    # ordered to leave no window in which SQLite is inside a transaction the store does not know about:
    # acknowledged autocommit writes would silently join it and never be committed.

    def check(self) -> apsw.Connection:
        """The open connection, outside any transaction the store does not know about.

        At depth 0 SQLite must not be inside a transaction. One can be left open only by a call interrupted
        right after its BEGIN (a signal handler raising between two bytecodes); since every call that uses the
        connection passes here first, it holds nothing but that interrupted call's own writes, so it is rolled
        back.
        """
        if self.closed:
            raise NanaSQLiteClosedError(f"Database {messages.CONNECTION_CLOSED}")
        con = self.apsw
        if self.depth == 0 and con.in_transaction:
            try:
                con.execute("ROLLBACK")
            except apsw.Error as exc:
                raise database_error(exc, "rollback of an interrupted transaction") from exc
        return con

    def begin(self) -> None:
        self.lock.acquire()
        before = self.depth
        try:
            con = self.check()
            if before == 0:
                self.owner = threading.get_ident()  # set before depth leaves 0: _end_check relies on it
            self.depth = before + 1  # counted before the SQL runs, undone below if it does not
            con.execute("BEGIN IMMEDIATE" if before == 0 else f"SAVEPOINT nana_{before}")
        except BaseException as exc:
            if self.depth > before:
                self.depth = before
                try:
                    if before == 0:
                        if self.apsw.in_transaction:
                            self.apsw.execute("ROLLBACK")
                    else:
                        self.apsw.execute(f"ROLLBACK TO nana_{before}; RELEASE nana_{before}")
                except apsw.Error:
                    pass  # the statement never ran, so there is nothing to undo
            self.lock.release()
            if isinstance(exc, apsw.Error):
                raise database_error(exc, "begin transaction") from exc
            raise

    def _end_check(self, what: str) -> apsw.Connection:
        """The connection, for the thread that owns the open transaction; NanaSQLiteTransactionError for any
        other caller, at once.

        Ownership is decided from the store's own bookkeeping before the APSW connection is touched: a caller
        that owns no transaction does not hold the lock, and another thread may be running a statement on the
        connection (APSW would raise ThreadingViolationError, and check() could roll back under it). Read
        without the lock, ``depth`` then ``owner`` cannot show this thread as the owner unless it is: begin()
        sets ``owner`` before ``depth`` leaves 0, and only the owner, holding the lock, changes them while it
        is above 0.
        """
        if self.closed:
            raise NanaSQLiteClosedError(f"Database {messages.CONNECTION_CLOSED}")
        if self.depth == 0:
            raise NanaSQLiteTransactionError(messages.no_transaction(what))
        if self.owner != threading.get_ident():
            raise NanaSQLiteTransactionError(f"{what}(): the open transaction belongs to another thread")
        return self.check()  # the owner holds the lock: nobody else is using the connection

    def _lost(self) -> bool:
        """Forget a transaction SQLite has already ended by itself (RAISE(ROLLBACK), some I/O errors)."""
        if self.depth == 0 or self.apsw.in_transaction:
            return False
        for _ in range(self.depth):
            self.lock.release()
        self.depth = 0
        self._ended(0, committed=False)
        return True

    def commit(self) -> None:
        con = self._end_check("commit")
        if self._lost():
            raise NanaSQLiteTransactionError("commit(): SQLite had already rolled the transaction back")
        try:
            self.depth -= 1  # uncounted before the SQL runs, counted again below if it does not
            con.execute("COMMIT" if self.depth == 0 else f"RELEASE nana_{self.depth}")
        except BaseException as exc:
            if self.depth or self.apsw.in_transaction:
                self.depth += 1  # still open: the caller decides (transaction() rolls back)
            else:
                self._ended(0, committed=False)  # SQLite ended it while failing
                self.lock.release()
            if isinstance(exc, apsw.Error):
                raise database_error(exc, "commit") from exc
            raise
        try:
            if self.pending:
                self._ended(self.depth, committed=True)
        finally:
            self.lock.release()

    def rollback(self) -> None:
        """Undo the innermost transaction. The caches need no flush: inside a transaction the stores neither
        fill their caches nor keep what they write (see NanaSQLite._filling)."""
        con = self._end_check("rollback")
        if self._lost():
            return
        self.depth -= 1
        try:
            if self.depth == 0:
                con.execute("ROLLBACK")
            else:
                con.execute(f"ROLLBACK TO nana_{self.depth}; RELEASE nana_{self.depth}")
        except apsw.Error as exc:
            raise database_error(exc, "rollback") from exc
        finally:
            try:
                if self.pending:
                    self._ended(self.depth, committed=False)
            finally:
                self.lock.release()

    def defer(self, on_commit: Callable[[], None] | None, on_rollback: Callable[[], None] | None = None) -> None:
        """Run ``on_commit`` once the open transaction is committed, or ``on_rollback`` if the level open now is
        rolled back (or the transaction is lost). The caller holds the lock, inside a transaction.

        Both run on the committing (rolling back) thread, under the lock, after SQLite has done it; an error of
        one is logged, never raised: the transaction's outcome is settled by then."""
        self.pending.append((self.depth, on_commit, on_rollback))

    def _ended(self, depth: int, committed: bool) -> None:
        """Settle what waits on the levels above ``depth``, which have just ended."""
        keep: list[tuple[int, Callable[[], None] | None, Callable[[], None] | None]] = []
        due: list[Callable[[], None]] = []
        for level, on_commit, on_rollback in self.pending:
            if level <= depth:
                keep.append((level, on_commit, on_rollback))
            elif committed and depth > 0:
                keep.append((depth, on_commit, on_rollback))  # a savepoint released into its parent level
            else:
                fn = on_commit if committed else on_rollback
                if fn is not None:
                    due.append(fn)
        self.pending = keep
        for fn in due:
            try:
                fn()
            except Exception:
                _log.exception("a callback run after the transaction ended failed")

    @contextmanager
    def atomic(self) -> Iterator[apsw.Connection]:
        """All-or-nothing for one operation: its own transaction, or a savepoint inside the caller's.
        The caller holds the lock, so the depth cannot move under it.

        Whatever ends the block (an error, a failed COMMIT, a signal handler raising anywhere in between),
        the level this block opened is rolled back unless it was committed.
        """
        level = self.depth + 1
        try:
            self.begin()
            yield self.apsw
            self.commit()
        except BaseException:
            if self.depth == level and not self.closed:
                self.rollback()
            raise


def check_kv_table(con: apsw.Connection, table: str, path: str) -> bool:
    """Refuse a table ``table`` that exists with another shape than ``key TEXT PRIMARY KEY, value TEXT``; return
    whether it exists. Reads only (a file that is not a database fails here too, with SQLite's word for it)."""
    try:
        columns = con.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
    except apsw.Error as exc:
        raise NanaSQLiteConnectionError(f"cannot open database {path!r}: {exc}") from exc
    if not columns:
        return False  # not there yet: it is created
    names = {row[1]: row for row in columns}
    keys = [row[1] for row in columns if row[5]]
    if "key" not in names or "value" not in names or keys != ["key"]:
        found = ", ".join(f"{row[1]} {row[2]}{' PRIMARY KEY' if row[5] else ''}".strip() for row in columns)
        raise NanaSQLiteConnectionError(
            f"table {table!r} of {path!r} is not a key-value table of nanasqlite: it has ({found}), not "
            "(key TEXT PRIMARY KEY, value TEXT); open another table (table=...) or another file"
        )
    return True


class KVTable:
    """The statements of one key-value table. Callers hold ``Connection.lock``."""

    def __init__(self, conn: Connection, table: str) -> None:
        self.conn = conn
        self.name = table
        t = quote_identifier(table)
        self._create = f"CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, value TEXT)"
        self._get = f"SELECT value FROM {t} WHERE key = ?"
        self._get_in = f"SELECT key, value FROM {t} WHERE key IN ("
        # An upsert updates an existing row in place; INSERT OR REPLACE would delete it from both B-trees
        # (table and key index) and insert it again: 1.5x slower for overwrites, the same for new keys.
        self._put = f"INSERT INTO {t} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        self._delete = f"DELETE FROM {t} WHERE key = ?"
        self._keys = f"SELECT key FROM {t} ORDER BY key"
        self._items = f"SELECT key, value FROM {t} ORDER BY key"
        self._page = f"SELECT key, value FROM {t} WHERE key > ? ORDER BY key LIMIT ?"
        self._first = f"SELECT key, value FROM {t} ORDER BY key LIMIT 1"
        self._count = f"SELECT COUNT(*) FROM {t}"
        self._clear = f"DELETE FROM {t}"
        exists = conn.checked.pop(table, None)  # the connection checked the store's own table before its setup
        if exists is None:  # a sub-table
            exists = check_kv_table(conn.check(), table, conn.path)
        if exists:
            return
        if conn.readonly:
            raise NanaSQLiteConnectionError(
                f"no table {table!r} in {conn.path!r}, which is opened read-only (nothing can be created)"
            )
        self._run(lambda con: con.execute(self._create), "create table")

    def on(self, conn: Connection) -> KVTable:
        """These statements on another connection to the same file (a reader thread's own, read-only): the
        table exists already, so nothing is created."""
        twin = copy.copy(self)
        twin.conn = conn
        return twin

    def _run(self, fn: Callable[[apsw.Connection], Any], doing: str) -> Any:
        con = self.conn.check()
        try:
            return fn(con)
        except apsw.Error as exc:
            raise database_error(exc, doing) from exc

    def read(self, key: str) -> Any:
        """The decoded value (None for a stored SQL NULL), or ``ABSENT``; ``ValueError`` for a text that is not
        JSON. The kernel's prepared statement, parsed from its bytes: every cold ``db[key]`` comes here."""
        conn = self.conn
        conn.check()
        try:
            return conn.point(self._get).read(key)
        except apsw.Error as exc:
            raise database_error(exc, "read") from exc
        except UnicodeEncodeError:  # a key with lone surrogates: no UTF-8 text to look up
            raise refused_key(key) from None
        except ValueError as exc:
            raise not_json(key, exc) from exc

    def get(self, key: str) -> str | None | bool:
        """The stored text, ``None`` for a stored SQL NULL, ``False`` when the key is absent."""
        con = self.conn.check()
        try:  # inline rather than through _run: this is every cold read
            row = con.execute(self._get, (key,)).fetchone()
        except apsw.Error as exc:
            raise database_error(exc, "read") from exc
        except UnicodeEncodeError:  # a key with lone surrogates: no UTF-8 text to look up
            raise refused_key(key) from None
        return False if row is None else row[0]

    # The batch calls hand the kernel the async workers' turn when this thread holds it (see _turn), so that it
    # is left for the GIL-free phase; for every other thread TURN.mine() is None.

    def get_many(self, keys: list[str], decode: Callable[[str, str | None], Any]) -> dict[str, Any]:
        """``{key: decode(key, text)}`` of the keys found, in the order of ``keys``: one state of the file.

        The kernels ask for ``IN_CHUNK`` keys per statement; outside a transaction each statement would read the
        file as it is when it starts, so a longer batch reads inside one read transaction."""

        def run(con: apsw.Connection) -> Any:
            if len(keys) <= IN_CHUNK or not con.getautocommit():
                return self.conn.kernel.get_many(con, self._get_in, keys, decode, gate=TURN.mine())
            con.execute("BEGIN DEFERRED")  # an interrupted call leaves it open: check() rolls it back
            try:
                found = self.conn.kernel.get_many(con, self._get_in, keys, decode, gate=TURN.mine())
            except BaseException:
                if not con.getautocommit():
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")  # it only read
            return found

        try:
            return self._run(run, "batch read")  # type: ignore[no-any-return]
        except (TypeError, ValueError) as exc:
            raise refused_batch(keys, None, exc) from None

    def put(self, key: str, text: str) -> None:
        con = self.conn.check()
        try:  # inline rather than through _run: this is every single write
            con.execute(self._put, (key, text))
        except apsw.Error as exc:
            raise database_error(exc, "write") from exc
        except UnicodeEncodeError:
            raise refused_key(key) from None

    def put_many(self, keys: list[str], values: list[Any], texts: bool = True) -> list[str] | None:
        """Encode and write a batch atomically; return the texts written (None unless ``texts``). A bad value
        writes nothing."""
        try:
            return self._run(  # type: ignore[no-any-return]
                lambda con: self.conn.kernel.put_many(con, self._put, keys, values, texts, gate=TURN.mine()),
                "batch write",
            )
        except (TypeError, ValueError) as exc:  # the kernels' short message: now say where and what to do
            raise refused_batch(keys, values, exc) from None

    def put_texts(self, keys: list[str], texts: list[str], deleted: list[str]) -> None:
        """Write texts already encoded (and validated) and delete ``deleted``, in one transaction, all or nothing:
        a chunk of the write-back flusher."""
        self._run(
            lambda con: self.conn.kernel.write_texts(
                con, self._put, keys, texts, self._delete, deleted, gate=TURN.mine()
            ),
            "flush",
        )

    def delete(self, key: str) -> bool:
        def run(con: apsw.Connection) -> bool:
            con.execute(self._delete, (key,))
            return bool(con.changes())

        try:
            return bool(self._run(run, "delete"))
        except UnicodeEncodeError:
            raise refused_key(key) from None

    def delete_many(self, keys: list[str]) -> None:
        try:
            self._run(
                lambda con: self.conn.kernel.delete_many(con, self._delete, keys, gate=TURN.mine()), "batch delete"
            )
        except (TypeError, ValueError) as exc:
            raise refused_batch(keys, None, exc) from None

    def scan(self) -> tuple[list[str], list[str | None]]:
        """Every key and its stored text, read in one pass (without the GIL in the native kernel)."""
        return self._run(  # type: ignore[no-any-return]
            lambda con: self.conn.kernel.scan(con, self._items, gate=TURN.mine()), "scan"
        )

    def keys(self) -> list[str]:
        return self._run(lambda con: [row[0] for row in con.execute(self._keys)], "read keys")  # type: ignore[no-any-return]

    def items(self) -> list[tuple[str, str | None]]:
        return self._run(lambda con: con.execute(self._items).fetchall(), "read items")  # type: ignore[no-any-return]

    def page(self, after: str | None, limit: int) -> list[tuple[str, str | None]]:
        sql: str = self._page
        args: tuple[Any, ...] = (after, limit)
        if after is None:
            sql, args = self._items + " LIMIT ?", (limit,)
        return self._run(lambda con: con.execute(sql, args).fetchall(), "read items")  # type: ignore[no-any-return]

    def first(self) -> tuple[str, str | None] | None:
        return self._run(lambda con: con.execute(self._first).fetchone(), "read")  # type: ignore[no-any-return]

    def count(self) -> int:
        return int(self._run(lambda con: con.execute(self._count).get, "count"))

    def extract(self, con: apsw.Connection, key: str, path: str) -> Any:
        """The JSON text of the part of ``key``'s value at ``path`` (SQLite's ``->``), None when absent."""
        row = con.execute(f"SELECT value -> ? FROM {quote_identifier(self.name)} WHERE key = ?", (path, key)).fetchone()
        return None if row is None else row[0]

    def clear(self) -> None:
        self._run(lambda con: con.execute(self._clear), "clear")
