"""Async transactions: levels, their owners, and where a job runs while one is open.

A transaction of ``AsyncNanaSQLite`` is a stack of ``Level`` objects on the writer thread: the outermost is the
``BEGIN IMMEDIATE``, each one above it a savepoint. A level is opened by one task, its *owner*, and the context
variable ``CURRENT`` of that task (and of the tasks it creates inside the level, which inherit the context) names
it. The rules, applied by the writer thread, which alone changes the stack:

* A job runs at the innermost level of its context that is still open (``placed``): a level that ended (committed,
  rolled back, or ended by SQLite) hands its jobs to its parent, and a context none of whose levels is open runs
  outside any transaction, as the sync store does after a commit.
* A job runs only when its level is the top of the stack. Otherwise it is held until the levels above it end:
  tasks outside the transaction wait for all of it, and a task inside it waits while a sibling task has a nested
  block open (so siblings never undo or commit each other's savepoints). A held job whose own task owns a level
  above it would wait for itself: it fails at once with ``NanaSQLiteTransactionError`` instead.
* Every wait is tied to an owner known to be alive: when the owner task of an open level ends (it returned,
  failed, or was cancelled without its block ending the level), the level and every level above it are rolled
  back, and what waited runs.
* Commit and rollback end exactly the level they name, never another.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._async_threads import Engine

__all__ = ["CURRENT", "ENDED", "OPEN", "PENDING", "Level", "placed"]

PENDING, OPEN, ENDED = 0, 1, 2

#: The innermost transaction level of the current context (the task's own, or the one it was created in).
CURRENT: ContextVar[Level | None] = ContextVar("nanasqlite_transaction", default=None)


class Level:
    """One level of an async transaction: its BEGIN, or a savepoint inside it.

    ``state`` moves PENDING -> OPEN -> ENDED (or PENDING -> ENDED when its begin was abandoned), written by the
    writer thread only; ``parent`` is set when it opens."""

    __slots__ = ("engine", "parent", "state", "owner", "depth")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.parent: Level | None = None
        self.state = PENDING
        self.owner: asyncio.Task[Any] | None = None
        self.depth = 0  # 1 for the BEGIN, 2 for the first savepoint ...

    def __repr__(self) -> str:
        state = ("pending", "open", "ended")[self.state]
        return f"<transaction level {self.depth} {state}>"

    # -- the owner, on the event loop -------------------------------------------------------------------------

    def watch(self, task: asyncio.Task[Any] | None) -> None:
        """Tie the level to ``task``: if the task ends while the level is open, the level is rolled back."""
        self.owner = task
        if task is not None:
            task.add_done_callback(self._owner_done)

    def unwatch(self) -> None:
        if self.owner is not None:
            self.owner.remove_done_callback(self._owner_done)

    def _owner_done(self, task: asyncio.Task[Any]) -> None:
        if self.state != ENDED:
            self.engine.abandon(self)


def placed(level: Level | None) -> Level | None:
    """The innermost level of a context that is still open, or ``None``."""
    while level is not None and level.state != OPEN:
        level = level.parent
    return level
