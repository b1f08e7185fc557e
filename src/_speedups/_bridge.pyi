from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, Protocol, overload

import apsw
from typing_extensions import disjoint_base

class _Gate(Protocol):
    def release(self) -> None: ...
    def acquire(self) -> None: ...

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

KERNEL: Final[str]

@disjoint_base
class Turn:
    @property
    def enabled(self) -> bool: ...
    @property
    def patience(self) -> float | None: ...
    def __init__(self, enabled: bool = True, patience: float | None = None) -> None: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def pass_on(self) -> None: ...
    def mine(self) -> Turn | None: ...
    @property
    def waiting(self) -> int: ...
    def __enter__(self) -> Turn: ...
    def __exit__(self, *exc_info: object) -> None: ...

@disjoint_base
class Mailbox:
    def put(self, item: Any) -> None: ...
    def take(self, turn: Turn | None = None) -> Any: ...
    def take_nowait(self) -> Any: ...

@disjoint_base
class PointRead:
    def __init__(self, connection: apsw.Connection, sql: str, absent: Any, fallback: Callable[[str], Any]) -> None: ...
    def read(self, key: str) -> Any: ...
    def close(self) -> None: ...

def attach(connection: apsw.Connection) -> bool: ...
def libversion() -> str: ...
@overload
def put_many(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    values: Iterable[Any],
    texts: Literal[True] = True,
    *,
    gate: _Gate | None = None,
) -> list[str]: ...
@overload
def put_many(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    values: Iterable[Any],
    texts: bool,
    *,
    gate: _Gate | None = None,
) -> list[str] | None: ...
def write_texts(
    connection: apsw.Connection,
    put_sql: str,
    keys: Iterable[str],
    texts: Iterable[str],
    delete_sql: str,
    deleted: Iterable[str],
    *,
    gate: _Gate | None = None,
) -> None: ...
def delete_many(connection: apsw.Connection, sql: str, keys: Iterable[str], *, gate: _Gate | None = None) -> None: ...
def get_many(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    decode: Callable[[str, str | None], Any],
    *,
    gate: _Gate | None = None,
) -> dict[str, Any]: ...
def scan(connection: apsw.Connection, sql: str, *, gate: _Gate | None = None) -> tuple[list[str], list[str | None]]: ...

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
    gate: _Gate | None = None,
) -> list[str] | None: ...
def get_sealed(
    connection: apsw.Connection,
    sql: str,
    keys: Iterable[str],
    decode: Callable[[str, bytes | str | None], Any],
    unseal: Callable[..., bytes],
    nonce_len: int,
    *,
    gate: _Gate | None = None,
) -> dict[str, Any]: ...
def scan_blobs(
    connection: apsw.Connection, sql: str, *, gate: _Gate | None = None
) -> tuple[list[str], list[bytes | str | None]]: ...
