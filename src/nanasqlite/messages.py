"""The wording of the errors that users' own tests match, in one place.

Applications written for the 1.6 package check messages with ``pytest.raises(..., match="Invalid identifier")``.
Each message built here keeps our detail (what was wrong, where, what to do) and contains 1.6's phrase for the same
error verbatim, so such a match keeps working. The phrases are public constants, for the same use:

>>> import re
>>> bool(re.search(INVALID_IDENTIFIER, invalid_identifier("table name", "bad;name")))
True
"""

from __future__ import annotations

__all__ = [
    "INVALID_IDENTIFIER",
    "INVALID_CLAUSE",
    "MAX_LENGTH",
    "INTEGER",
    "NON_NEGATIVE",
    "COLUMN_TYPE",
    "COLUMN_TYPE_STRING",
    "PRAGMA_VALUE",
    "CONNECTION_CLOSED",
    "PARENT_CLOSED",
    "NO_TRANSACTION",
    "invalid_identifier",
    "invalid",
    "too_long",
    "not_an_integer",
    "negative",
    "column_type_what",
    "column_type_not_str",
    "pragma_value",
    "closed",
    "no_transaction",
]

#: A table, column or index name that is not a plain name.
INVALID_IDENTIFIER = "Invalid identifier"
#: A where / order_by / group_by clause or a column expression that was refused ("Invalid where clause: ...").
INVALID_CLAUSE = "Invalid"
#: A clause longer than ``max_clause_length``.
MAX_LENGTH = "exceeds maximum length"
#: ``limit`` / ``offset`` of the wrong type ("limit must be an integer").
INTEGER = "must be an integer"
#: A negative ``limit`` / ``offset`` ("limit must be non-negative").
NON_NEGATIVE = "must be non-negative"
#: A column definition that was refused.
COLUMN_TYPE = "Invalid or dangerous column type"
#: A column type that is not a str ("Column type for 'a' must be a string").
COLUMN_TYPE_STRING = "must be a string"
#: A PRAGMA value that cannot be set.
PRAGMA_VALUE = "PRAGMA value must be int, float, or str"
#: Any use of a closed store; sub-tables whose parent was closed say ``PARENT_CLOSED``, which contains it.
CONNECTION_CLOSED = "connection is closed"
PARENT_CLOSED = "Parent database connection is closed"
#: ``commit()`` / ``rollback()`` with no transaction open.
NO_TRANSACTION = "No transaction in progress"


def invalid_identifier(what: str, name: object) -> str:
    return f"{INVALID_IDENTIFIER} {name!r} ({what}): use letters, digits and '_', not starting with a digit"


def invalid(what: str, reason: str) -> str:
    """``Invalid where clause: ';' (a second statement) is not allowed at position 3``."""
    return f"{INVALID_CLAUSE} {what}: {reason}"


def too_long(what: str, limit: int) -> str:
    return f"{what}: SQL expression {MAX_LENGTH} of {limit} characters (max_clause_length)"


def not_an_integer(what: str, value: object) -> str:
    return f"{what} {INTEGER}, got {type(value).__name__}"


def negative(what: str, value: object) -> str:
    return f"{what} {NON_NEGATIVE} and below 2**63, got {value!r}"


def column_type_what(column: str) -> str:
    """The ``what`` of a refused column definition: ``invalid(column_type_what("a"), ...)`` reads
    ``Invalid or dangerous column type for 'a': ...``."""
    return f"{COLUMN_TYPE[len(INVALID_CLAUSE) + 1 :]} for {column!r}"


def column_type_not_str(column: str, value: object) -> str:
    return f"Column type for {column!r} {COLUMN_TYPE_STRING}, not {type(value).__name__}"


def pragma_value(value: object) -> str:
    return (
        f"{PRAGMA_VALUE}, got {type(value).__name__}: an int, a finite float, "
        "or a str of letters, digits, '_', '-' and '.'"
    )


def closed(path: object, table: str, *, parent: bool = False, what: str = "store") -> str:
    """``Database connection is closed (table 'data' of '/tmp/a.db')``; a sub-table closed with the store that
    opened its file says so (1.6's ``Parent database connection is closed``)."""
    if parent:
        return (
            f"{PARENT_CLOSED} (table {table!r} of {path!r}): a table() {what} closes with the store that opened "
            "the file; keep that one open while using it"
        )
    return f"Database {CONNECTION_CLOSED} (table {table!r} of {path!r}): the {what} was closed"


def no_transaction(what: str) -> str:
    return f"{NO_TRANSACTION}: {what}() without an open transaction"
