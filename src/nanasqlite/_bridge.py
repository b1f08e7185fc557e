"""Pure-Python twin of ``nanasqlite._speedups._bridge``: the batch kernel on plain APSW calls.

Same functions, same transactions, same errors: a batch of its own runs in ``BEGIN IMMEDIATE`` … ``COMMIT``,
a batch inside the caller's transaction in a savepoint, and a failure undoes the whole batch. SQLite errors
are APSW's exceptions. The compiled twin does the same with the GIL released once per batch.

``gate`` is accepted and kept: the compiled twin releases it for its GIL-free phase, but this one has no such
phase (APSW takes the GIL back for every row), so a caller's turn stays with it for the whole call.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from queue import Empty
from types import TracebackType
from typing import Any, Protocol

import apsw

from ._native import codec

__all__ = [
    "KERNEL",
    "Turn",
    "Mailbox",
    "PointRead",
    "attach",
    "put_many",
    "write_texts",
    "delete_many",
    "get_many",
    "scan",
]

#: Which implementation this is (the compiled twin says "native").
KERNEL = "apsw"


class Turn:
    """A first-come, first-served lock for the store's worker threads (see ``nanasqlite._turn``): a thread that
    releases it while others wait hands it to the one that has waited longest.

    ``patience``: seconds a waiter waits before it goes on without the turn (None: no limit); the turn only
    shapes scheduling, so a holder stuck in a slow read must not stop the others. ``enabled=False`` makes
    every method do nothing."""

    def __init__(self, enabled: bool = True, patience: float | None = None) -> None:
        if patience is not None and patience < 0:
            raise ValueError("patience must be None or >= 0")
        self.enabled = enabled
        self.patience = patience
        self._mutex = threading.Lock()
        self._busy = False
        self._waiters: deque[threading.Lock] = deque()
        self._owner: int | None = None

    def acquire(self) -> bool:
        """Wait until every thread that came earlier had the turn, then hold it: True. Out of patience, go on
        without it: False."""
        if not self.enabled:
            return False
        with self._mutex:
            if not self._busy and not self._waiters:
                self._busy = True
                self._owner = threading.get_ident()
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        # released by the holder that hands the turn over (_busy stays set)
        if not waiter.acquire(timeout=-1 if self.patience is None else self.patience):
            with self._mutex:
                if waiter in self._waiters:  # not handed over: leave the queue, hold nothing
                    self._waiters.remove(waiter)
                    return False
            waiter.acquire()  # handed over just now
        self._owner = threading.get_ident()
        return True

    def release(self) -> None:
        """Hand the turn to the thread that has waited longest."""
        if not self.enabled:
            return
        with self._mutex:
            if not self._busy or self._owner != threading.get_ident():
                raise RuntimeError("the turn is released by a thread that does not hold it")
            self._owner = None
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._busy = False

    def pass_on(self) -> None:
        """Let the threads waiting for the turn have it first; the caller, which holds it, waits for it again."""
        if self.enabled and self._waiters and self.mine() is not None:
            self.release()
            self.acquire()

    def mine(self) -> Turn | None:
        """This turn when the calling thread holds it, else None: the gate to hand to the batch functions."""
        return self if self.enabled and self._owner == threading.get_ident() else None

    @property
    def waiting(self) -> int:
        """How many threads wait for the turn."""
        return len(self._waiters)

    def __enter__(self) -> Turn:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.mine() is not None:  # not when it went on without the turn
            self.release()


class Mailbox:
    """A first-in, first-out queue for the store's worker threads. ``take`` leaves the caller's turn while it
    waits for an item and takes the turn again before it returns, as in the compiled twin (which also waits
    for the turn without the GIL)."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, item: Any) -> None:
        """Add ``item`` at the end."""
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def take(self, turn: Turn | None = None) -> Any:
        """The first item, waiting for one; ``turn`` is left while waiting when the caller holds it, and held
        when the item is returned (unless it ran out of patience, as ``Turn.acquire``)."""
        if turn is not None and not isinstance(turn, Turn):
            raise TypeError(f"turn must be a Turn of this module or None, not {type(turn).__name__}")
        if turn is not None and turn.mine() is not None:
            turn.release()
        with self._ready:
            while not self._items:
                self._ready.wait()
            item = self._items.popleft()
        if turn is not None:
            turn.acquire()
        return item

    def take_nowait(self) -> Any:
        """The first item; ``queue.Empty`` when there is none."""
        with self._ready:
            if not self._items:
                raise Empty
            return self._items.popleft()


class Gate(Protocol):
    """What the caller holds and the compiled twin releases while it runs without the GIL."""

    def release(self) -> None: ...
    def acquire(self) -> None: ...


class PointRead:
    """A cold point read: ``read(key)`` runs ``sql`` (``SELECT value ... WHERE key = ?``) and decodes the value;
    ``absent`` for a missing key, None for a stored SQL NULL. ``fallback`` is the compiled twin's decoder of last
    resort; here every text goes through the codec's ``loads``, which gives the same values and errors. APSW
    keeps the statement prepared in its own cache."""

    def __init__(self, connection: apsw.Connection, sql: str, absent: Any, fallback: Callable[[str], Any]) -> None:
        self._connection = connection
        self._sql = sql
        self._absent = absent
        self._closed = False

    def read(self, key: str) -> Any:
        if self._closed:
            raise apsw.ConnectionClosedError("the statement is closed")
        row = self._connection.execute(self._sql, (key,)).fetchone()
        if row is None:
            return self._absent
        text = row[0]
        return None if text is None else codec.loads(text)

    def close(self) -> None:
        self._closed = True


def attach(connection: apsw.Connection) -> bool:
    """Nothing to load: plain APSW serves every connection."""
    return True


def _check_keys(keys: Iterable[Any]) -> list[str]:
    keys = list(keys)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"keys must be str, not {type(key).__name__}")
    return keys


def _atomic(connection: apsw.Connection, work: Callable[[], object]) -> None:
    own = not connection.in_transaction
    connection.execute("BEGIN IMMEDIATE" if own else "SAVEPOINT nana_kernel")
    try:
        work()
    except BaseException:
        if own:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        else:
            connection.execute("ROLLBACK TO nana_kernel; RELEASE nana_kernel")
        raise
    connection.execute("COMMIT" if own else "RELEASE nana_kernel")


def put_many(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    values: Iterable[Any],
    texts: bool = True,
    *,
    gate: Gate | None = None,
) -> list[str] | None:
    """Run ``sql`` (an INSERT with parameters key, value) for every pair, all or nothing; return the texts
    written, or None when ``texts`` is false.

    A value that cannot be stored raises ``TypeError``/``ValueError`` naming its key before anything is
    written.
    """
    keys = _check_keys(keys)
    values = list(values)
    if len(values) != len(keys):
        raise ValueError("keys and values differ in length")
    written = []
    for key, value in zip(keys, values, strict=True):
        try:
            written.append(codec.dumps(value))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"cannot store key {key!r}: {exc}") from None
    _atomic(connection, lambda: connection.executemany(sql, zip(keys, written, strict=True)))
    return written if texts else None


def write_texts(
    connection: apsw.Connection,
    put_sql: str,
    keys: Iterable[str],
    texts: Iterable[str],
    delete_sql: str,
    deleted: Iterable[str],
    *,
    gate: Gate | None = None,
) -> None:
    """Run ``put_sql`` (an INSERT with parameters key, text) for every pair of ``keys`` and ``texts`` (str:
    JSON already encoded, stored as given) and ``delete_sql`` (a DELETE with parameter key) for every key of
    ``deleted``, all in one transaction, all or nothing."""
    keys = _check_keys(keys)
    texts = _check_keys(texts)
    gone = _check_keys(deleted)
    if len(texts) != len(keys):
        raise ValueError("keys and texts differ in length")

    def work() -> None:
        if keys:
            connection.executemany(put_sql, zip(keys, texts, strict=True))
        if gone:
            connection.executemany(delete_sql, ((k,) for k in gone))

    _atomic(connection, work)


def delete_many(connection: apsw.Connection, sql: str, keys: Iterable[str], *, gate: Gate | None = None) -> None:
    """Run ``sql`` (a DELETE with parameter key) for every key, all or nothing."""
    keys = _check_keys(keys)
    _atomic(connection, lambda: connection.executemany(sql, ((k,) for k in keys)))


_IN_CHUNK = 256  # keys per "IN (...)" statement, as in the compiled twin


def get_many(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    decode: Callable[[str, str | None], Any],
    *,
    gate: Gate | None = None,
) -> dict[str, Any]:
    """Run ``sql`` (a SELECT of key, value ending in ``key IN (``) over the keys, a chunk per statement; return
    ``{key: decode(key, text)}`` of the keys found, in the order of ``keys`` (text None for a stored SQL NULL).

    The keys are asked for in sorted order, so that SQLite walks the index in order, as in the compiled twin
    (which parses most texts itself instead of calling ``decode``, to the same values).
    """
    keys = _check_keys(keys)
    ordered = sorted(keys)
    texts: dict[str, str | None] = {}
    for start in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[start : start + _IN_CHUNK]
        texts.update(connection.execute(sql + ",".join("?" * len(chunk)) + ")", chunk))
    found: dict[str, Any] = {}
    for key in keys:
        if key in texts and key not in found:
            found[key] = decode(key, texts[key])
    return found


def scan(connection: apsw.Connection, sql: str, *, gate: Gate | None = None) -> tuple[list[str], list[str | None]]:
    """Run ``sql`` (a SELECT of key, value) to the end; return ``(keys, texts)``."""
    rows = connection.execute(sql).fetchall()
    return [str(r[0]) for r in rows], [None if r[1] is None else str(r[1]) for r in rows]


# -- sealed values: the batch paths of an encrypted store (``nanasqlite.cipher``) --------------------------------

__all__ += ["put_sealed", "get_sealed", "scan_blobs"]


def put_sealed(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    values: Iterable[Any],
    seal: Callable[..., bytes],
    nonces: bytes,
    texts: bool = True,
    *,
    gate: Gate | None = None,
) -> list[str] | None:
    """``put_many`` storing every value's JSON text sealed, as a BLOB: ``nonce + seal(nonce, text, None)`` with
    nonce i the i-th ``len(nonces) // len(keys)`` bytes of ``nonces`` (the AEAD modes), or ``seal(text)`` when
    ``nonces`` is empty (Fernet). Returns the JSON texts written (None unless ``texts``)."""
    keys = _check_keys(keys)
    values = list(values)
    if len(values) != len(keys):
        raise ValueError("keys and values differ in length")
    n = len(keys)
    step = len(nonces) // n if n else 0
    if nonces and (step == 0 or step * n != len(nonces)):
        raise ValueError("nonces must hold one nonce per key")
    written = []
    for key, value in zip(keys, values, strict=True):
        try:
            written.append(codec.dumps(value))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"cannot store key {key!r}: {exc}") from None
    sealed = []
    for i, text in enumerate(written):
        data = text.encode("utf-8")
        nonce = nonces[i * step : (i + 1) * step]
        body = seal(nonce, data, None) if step else seal(data)
        if type(body) is not bytes:
            raise TypeError(f"seal returned {type(body).__name__}, not bytes")
        sealed.append(nonce + body)
    _atomic(connection, lambda: connection.executemany(sql, zip(keys, sealed, strict=True)))
    return written if texts else None


def _stored(value: Any) -> bytes | str | None:
    """What the compiled twin hands on: bytes, None, or the text of anything else."""
    if value is None or type(value) is bytes:
        return value
    return value if type(value) is str else str(value)


def get_sealed(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    decode: Callable[[str, bytes | str | None], Any],
    unseal: Callable[..., bytes],
    nonce_len: int,
    *,
    gate: Gate | None = None,
) -> dict[str, Any]:
    """``get_many`` over sealed values: ``{key: decode(key, stored)}`` with ``stored`` the bytes of a BLOB, the
    str of a TEXT or None for a SQL NULL (the compiled twin opens and parses most BLOBs itself with ``unseal``,
    to the same values)."""
    keys = _check_keys(keys)
    ordered = sorted(keys)
    stored: dict[str, Any] = {}
    for start in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[start : start + _IN_CHUNK]
        stored.update(connection.execute(sql + ",".join("?" * len(chunk)) + ")", chunk))
    found: dict[str, Any] = {}
    for key in keys:
        if key in stored and key not in found:
            found[key] = decode(key, _stored(stored[key]))
    return found


def scan_blobs(
    connection: apsw.Connection, sql: str, *, gate: Gate | None = None
) -> tuple[list[str], list[bytes | str | None]]:
    """``scan`` keeping what is stored: bytes of a BLOB, str of a TEXT, None for a SQL NULL."""
    rows = connection.execute(sql).fetchall()
    return [str(r[0]) for r in rows], [_stored(r[1]) for r in rows]
