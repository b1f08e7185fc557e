"""Settings shared by a store, its sub-tables and the async facade."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cache import CacheType
from .exceptions import NanaSQLiteValidationError


@dataclass(frozen=True)
class Options:
    optimize: bool = True
    cache_size_mb: int = 64
    busy_timeout: float = 5.0
    lock_timeout: float | None = None
    cache_strategy: CacheType | str = CacheType.UNBOUNDED
    cache_size: int | None = None
    cache_ttl: float | None = None
    strict_sql_validation: bool = True
    allowed_sql_functions: tuple[str, ...] | None = None
    forbidden_sql_functions: tuple[str, ...] | None = None
    max_clause_length: int = 1000
    cipher: Any = field(default=None, repr=False, compare=False)  # cipher.Cipher of an encrypted store, or None
    warn_duplicate_table_instance: bool = True
    cache_consistency: str = "manual"
    cache_persistence_ttl: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.cache_size_mb, int) or isinstance(self.cache_size_mb, bool) or self.cache_size_mb <= 0:
            raise NanaSQLiteValidationError("cache_size_mb must be a positive int")
        if not isinstance(self.busy_timeout, (int, float)) or self.busy_timeout < 0:
            raise NanaSQLiteValidationError("busy_timeout must be a non-negative number of seconds")
        if self.lock_timeout is not None and (not isinstance(self.lock_timeout, (int, float)) or self.lock_timeout < 0):
            raise NanaSQLiteValidationError("lock_timeout must be None or a non-negative number of seconds")
        if not isinstance(self.max_clause_length, int) or self.max_clause_length <= 0:
            raise NanaSQLiteValidationError("max_clause_length must be a positive int")
        if self.cache_consistency not in ("manual", "auto"):
            raise NanaSQLiteValidationError(
                f"cache_consistency must be 'manual' or 'auto', not {self.cache_consistency!r}"
            )
        if self.cache_consistency == "auto" and self.cache_persistence_ttl:
            # A foreign commit drops the whole cache, and with it the deadlines of keys waiting to expire.
            raise NanaSQLiteValidationError(
                "Automatic cache consistency requires immediate persistence without persistence TTL "
                "(cache_consistency='auto' cannot be combined with cache_persistence_ttl=True)"
            )
        for name in ("allowed_sql_functions", "forbidden_sql_functions"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                    raise NanaSQLiteValidationError(f"{name} must be a list of str")
                object.__setattr__(self, name, tuple(value))
