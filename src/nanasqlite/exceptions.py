"""The library's exceptions, with the names of the 1.6 package.

Every error the store raises on purpose is a ``NanaSQLiteError``. Validation errors are also ``ValueError``
so callers that catch the builtin keep working, and those about a wrong type (a value that is not JSON, a key
that is not a str) are ``NanaSQLiteTypeError``, also a ``TypeError``, as 1.6 raised; a store used after
``close()`` raises ``NanaSQLiteClosedError`` from every method. ``docs/errors.md`` shows the whole family.
"""

from __future__ import annotations

__all__ = [
    "NanaSQLiteError",
    "NanaSQLiteValidationError",
    "NanaSQLiteTypeError",
    "NanaSQLiteDatabaseError",
    "NanaSQLiteTransactionError",
    "NanaSQLiteConnectionError",
    "NanaSQLiteClosedError",
    "NanaSQLiteLockError",
    "NanaSQLiteCacheError",
    "NanaSQLiteExtensionWarning",
]


class NanaSQLiteError(Exception):
    """Base class of every error raised by nanasqlite."""


class NanaSQLiteValidationError(NanaSQLiteError, ValueError):
    """An argument was rejected: an identifier, an SQL clause, an option or a stored value of the wrong shape."""


class NanaSQLiteTypeError(NanaSQLiteValidationError, TypeError):
    """A value or key of a type that cannot be stored (a datetime, a set, an int dict key, a non-str key).

    A ``TypeError`` as in 1.6 and as the builtin JSON encoders raise; being a ``NanaSQLiteValidationError`` it
    is also a ``ValueError``, so ``except (TypeError, ValueError)`` and ``except NanaSQLiteValidationError``
    both catch every value the store refuses."""


class NanaSQLiteDatabaseError(NanaSQLiteError):
    """SQLite reported an error; the APSW exception is kept in ``original_error``."""

    def __init__(self, message: str, original_error: BaseException | None = None) -> None:
        super().__init__(message)
        self.original_error = original_error


class NanaSQLiteTransactionError(NanaSQLiteError):
    """A transaction call out of order: commit or rollback with none open, close inside one."""


class NanaSQLiteConnectionError(NanaSQLiteError):
    """The connection could not be opened or is not usable."""


class NanaSQLiteClosedError(NanaSQLiteConnectionError):
    """The store (or the parent store of a sub-table) has been closed."""


class NanaSQLiteLockError(NanaSQLiteError):
    """A lock could not be taken in time."""


class NanaSQLiteCacheError(NanaSQLiteError):
    """The cache was configured or used wrongly."""


class NanaSQLiteExtensionWarning(RuntimeWarning):
    """The compiled extensions are missing or broken, so the slower pure-Python implementation runs.

    Issued once, when ``nanasqlite`` is imported; ``NANASQLITE_NO_EXTENSIONS=1`` (asking for the pure build)
    silences it, ``NANASQLITE_REQUIRE_EXTENSIONS=1`` turns it into an ImportError."""
