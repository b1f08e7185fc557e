"""``cache_consistency="auto"``: a cache that sees what other connections and processes commit.

How. In WAL mode every commit rewrites the WAL-index header, the first 48 bytes of the ``-shm`` file that all
connections to the file share (https://sqlite.org/walformat.html): a change counter, the last frame, checksums.
The store maps that file read-only and, before answering from its cache, compares those 48 bytes with the copy it
took when the cache last agreed with the file (one ``memcmp`` in the compiled build). Equal: nothing was committed
since, and the cache answers. Different: ``_sync`` asks SQLite's ``PRAGMA data_version``, which changes only when
*another* connection committed; if it did, the cache is dropped (SQLite cannot tell which keys changed), else the
change was this connection's own write, which the cache already reflects. Either way the header read *before*
asking becomes the new reference, so a commit that lands meanwhile is seen by the next read.

Without WAL (``optimize=False`` on a file in another journal mode, or a file another program keeps in rollback
mode) there is no shared header: every read asks ``PRAGMA data_version`` (a few microseconds). An in-memory store
has no other connection, so it checks nothing.

The ``-shm`` file is opened once per process and never closed (see ``_MAPPED``): closing any descriptor of a file
drops all of the process's POSIX locks on it, SQLite's among them.

The class is chosen once by ``NanaSQLite.__new__``; a ``"manual"`` store runs none of this.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import apsw

from ._native import front
from .cache import CachePolicy
from .core import NanaSQLite
from .options import Options
from .storage import Connection, database_error

if TYPE_CHECKING:
    from ._front import CoherentFront
else:
    CoherentFront = front.CoherentFront

__all__ = ["CoherentNanaSQLite", "HEADER"]

#: Bytes of the WAL-index header compared on every read.
HEADER = 48

#: Watch modes (see ``CoherentFront``).
OFF, HEADER_WATCH, EVERY_READ = 0, 1, 2


def _data_version(conn: Connection) -> int:
    try:
        return int(conn.apsw.execute("PRAGMA data_version").fetchall()[0][0])  # type: ignore[arg-type]
    except apsw.Error as exc:
        raise database_error(exc, "PRAGMA data_version") from exc


def _watch_target(conn: Connection) -> tuple[int, Any]:
    """How a store on ``conn`` can watch the file: ``(mode, mapped header or None)``."""
    filename = conn.apsw.db_filename("main")
    if not filename:  # in memory, or a temporary file: no other connection can see it
        return OFF, None
    try:
        journal = str(conn.apsw.execute("PRAGMA journal_mode").fetchall()[0][0]).lower()
        locking = str(conn.apsw.execute("PRAGMA locking_mode").fetchall()[0][0]).lower()
        conn.apsw.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # a read opens (creates) the -shm file
    except apsw.Error as exc:
        raise database_error(exc, "reading the journal mode") from exc
    if journal != "wal" or locking != "normal":  # exclusive locking keeps the WAL index in private memory
        return EVERY_READ, None
    mapped = _map_header(filename + "-shm")
    return (EVERY_READ, None) if mapped is None else (HEADER_WATCH, mapped)


# Every -shm file this process mapped, by inode, kept open until the process ends. Closing a descriptor of a
# file drops *all* of this process's POSIX locks on it (a POSIX rule, not SQLite's), SQLite's own among them:
# another process would then take the -shm file for itself and truncate it under this process's connections,
# which crash (SIGBUS) or corrupt the database. So no descriptor opened here is ever closed, and neither is a
# mapping (an mmap holds a duplicate descriptor). One descriptor and one page per -shm file per process.
_MAPPED: dict[tuple[int, int], mmap.mmap] = {}
_KEPT: list[int] = []  # descriptors of files too short to map: kept open for the same reason
_MAPPED_LOCK = threading.Lock()


def _map_header(path: str) -> mmap.mmap | None:
    """The first page of the -shm file at ``path``, mapped read-only and shared; ``None`` when unusable."""
    try:
        before = os.stat(path)
    except OSError:
        return None
    with _MAPPED_LOCK:
        mapped = _MAPPED.get((before.st_dev, before.st_ino))
        if mapped is not None:
            return mapped
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        mapped = _MAPPED.get(key)  # replaced between stat and open by one this process has mapped already
        if mapped is not None or info.st_size < HEADER:
            _KEPT.append(fd)
            return mapped
        try:
            mapped = mmap.mmap(fd, HEADER, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            _KEPT.append(fd)
            return None
        _KEPT.append(fd)
        _MAPPED[key] = mapped
        return mapped


def after_own_commit(conn: Connection) -> None:
    """Bring the ``"auto"`` stores on ``conn`` up to date after a commit of its own (the async writer's groups)."""
    for store in conn.live_stores():
        if isinstance(store, CoherentNanaSQLite) and store._coherence_stale():
            store._sync()


class CoherentNanaSQLite(CoherentFront, NanaSQLite):
    """A ``NanaSQLite`` made with ``cache_consistency="auto"``: every read sees the commits of other connections
    and processes that happened before it began."""

    _coh_version: int
    _front = CoherentFront  # the compiled base allocates its C fields

    def _setup(
        self,
        conn: Connection,
        table: str,
        options: Options,
        policy: CachePolicy,
        bulk_load: bool,
        owner: bool,
    ) -> None:
        with conn.lock:
            self._watch(conn)  # before anything is cached: the reference the cache starts from
        super()._setup(conn, table, options, policy, bulk_load, owner)

    def _watch(self, conn: Connection) -> None:
        mode, view = _watch_target(conn)
        self._coherence_watch(view, mode)  # the header first, then the version: see the module's notes
        self._coh_version = _data_version(conn) if mode != OFF else 0

    def _sync(self) -> None:
        with self._lock:
            if self._closed:
                self._check()
            if not self._coherence_stale():  # another thread synced while this one waited for the lock
                return
            header = self._coherence_header()
            version = _data_version(self._conn)
            if version != self._coh_version:
                self._cache.clear()
                self._coh_version = version
            self._coherence_agree(header)

    def _mark_closed(self) -> None:
        self._coherence_watch(None, OFF)  # a closed store reads the file's header no more
        NanaSQLite._mark_closed(self)

    def _reopened(self) -> None:
        # A restored file is a new -shm file: the old mapping would never change again.
        self._watch(self._conn)

    # Reads that use cache entries besides the three of the front (which check before they look).

    def _resolve(self, key: str, decode: bool = True) -> Any:
        self._coherence_check()
        return NanaSQLite._resolve(self, key, decode)

    def batch_get(self, keys: Iterable[str]) -> dict[str, Any]:
        self._coherence_check()
        return NanaSQLite.batch_get(self, keys)

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        self._coherence_check()
        return NanaSQLite.items(self)
