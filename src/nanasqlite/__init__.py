"""nanasqlite: a dict-like persistent key-value store on SQLite, with GIL-free batch paths and an async facade.

>>> from nanasqlite import NanaSQLite
>>> with NanaSQLite(":memory:") as db:
...     db["user"] = {"name": "Nana", "age": 20}
...     print(db["user"])
{'name': 'Nana', 'age': 20}
"""

from __future__ import annotations

from ._native import NATIVE
from .async_core import AsyncNanaSQLite
from .cache import CacheType
from .compat import HAS_ORJSON, HAS_VALIDKIT
from .core import NanaSQLite
from .exceptions import (
    NanaSQLiteCacheError,
    NanaSQLiteClosedError,
    NanaSQLiteConnectionError,
    NanaSQLiteDatabaseError,
    NanaSQLiteError,
    NanaSQLiteExtensionWarning,
    NanaSQLiteLockError,
    NanaSQLiteTransactionError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
)
from .hooks import BaseHook, CheckHook, ForeignKeyHook, PydanticHook, UniqueHook, ValidkitHook
from .protocols import NanaHook
from .writeback import V2Config

__version__ = "1.7.0"

__all__ = [
    "NATIVE",
    "HAS_ORJSON",
    "HAS_VALIDKIT",
    "NanaSQLite",
    "AsyncNanaSQLite",
    "CacheType",
    "HAS_VALIDKIT",
    "NanaHook",
    "BaseHook",
    "CheckHook",
    "UniqueHook",
    "ForeignKeyHook",
    "PydanticHook",
    "ValidkitHook",
    "V2Config",
    "NanaSQLiteError",
    "NanaSQLiteValidationError",
    "NanaSQLiteTypeError",
    "NanaSQLiteDatabaseError",
    "NanaSQLiteTransactionError",
    "NanaSQLiteConnectionError",
    "NanaSQLiteLockError",
    "NanaSQLiteCacheError",
    "NanaSQLiteClosedError",
    "NanaSQLiteExtensionWarning",
]
