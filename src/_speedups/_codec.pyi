from collections.abc import Iterable
from typing import Any, Final

__all__ = ["MAX_DEPTH", "INT_MIN", "INT_MAX", "dumps", "loads", "encode_many"]

MAX_DEPTH: Final[int]
INT_MIN: Final[int]
INT_MAX: Final[int]

def dumps(value: Any) -> str: ...
def loads(text: str | bytes) -> Any: ...
def encode_many(values: Iterable[Any]) -> list[str]: ...
