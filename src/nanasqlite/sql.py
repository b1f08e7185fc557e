"""SQL helper methods of the store (filled in by the SQL layer)."""

from __future__ import annotations


class SQLMixin:
    """The SQL helpers of ``NanaSQLite``: raw SQL, schema, rows, utilities, backup and restore."""

    __slots__ = ()
