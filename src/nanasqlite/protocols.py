"""``NanaHook``: what a hook may implement. Every method is optional; a store calls only those a hook has.

>>> class Upper:
...     def before_write(self, db, key, value):
...         return value.upper() if isinstance(value, str) else value
>>> from nanasqlite import NanaSQLite
>>> with NanaSQLite(":memory:", hooks=[Upper()]) as db:
...     db["name"] = "nana"
...     print(db["name"])
NANA
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["NanaHook"]


@runtime_checkable
class NanaHook(Protocol):
    """A hook of a store (``db.add_hook(hook)`` or ``hooks=[...]``), with the names of the 1.6 package.

    ``db`` is the store the operation runs on; ``value`` is always a decoded Python value, never stored text.
    """

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        """Check or change a value about to be written; return the value to store, or raise to refuse it."""
        return value

    def on_write_success(self, db: Any, key: str, value: Any, old_value: Any) -> None:
        """Called once the write is committed; ``old_value`` is the stored value before it (``None`` if none)."""

    def after_read(self, db: Any, key: str, value: Any) -> Any:
        """Change a value on its way to the caller; the store and its cache keep the stored form."""
        return value

    def before_delete(self, db: Any, key: str) -> None:
        """Called before an existing key is deleted; raise to refuse the deletion."""

    def on_delete_success(self, db: Any, key: str, old_value: Any) -> None:
        """Called once the deletion is committed, with the value the key had."""
