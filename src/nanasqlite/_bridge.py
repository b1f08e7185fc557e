"""Pure-Python twin of ``nanasqlite._speedups._bridge``: the batch kernel on plain APSW calls.

Same functions, same transactions, same errors: a batch of its own runs in ``BEGIN IMMEDIATE`` … ``COMMIT``,
a batch inside the caller's transaction in a savepoint, and a failure undoes the whole batch. SQLite errors
are APSW's exceptions. The compiled twin does the same with the GIL released once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import apsw

from ._native import codec

__all__ = ["KERNEL", "attach", "put_many", "delete_many", "get_many", "scan"]

#: Which implementation this is (the compiled twin says "native").
KERNEL = "apsw"


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
    connection: apsw.Connection, sql: str, keys: Iterable[str], values: Iterable[Any], texts: bool = True
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


def delete_many(connection: apsw.Connection, sql: str, keys: Iterable[str]) -> None:
    """Run ``sql`` (a DELETE with parameter key) for every key, all or nothing."""
    keys = _check_keys(keys)
    _atomic(connection, lambda: connection.executemany(sql, ((k,) for k in keys)))


_IN_CHUNK = 256  # keys per "IN (...)" statement, as in the compiled twin


def get_many(connection: apsw.Connection, sql: str, keys: Iterable[str]) -> dict[str, str | None]:
    """Run ``sql`` (a SELECT of key, value ending in ``key IN (``) over the keys, a chunk per statement; return
    ``{key: text}`` of the keys found. A stored SQL NULL comes back as None."""
    keys = _check_keys(keys)
    found: dict[str, str | None] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        found.update(connection.execute(sql + ",".join("?" * len(chunk)) + ")", chunk))
    return found


def scan(connection: apsw.Connection, sql: str) -> tuple[list[str], list[str | None]]:
    """Run ``sql`` (a SELECT of key, value) to the end; return ``(keys, texts)``."""
    rows = connection.execute(sql).fetchall()
    return [str(r[0]) for r in rows], [None if r[1] is None else str(r[1]) for r in rows]
