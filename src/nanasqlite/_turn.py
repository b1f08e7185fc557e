"""The turn: on an interpreter with a GIL, at most one of the store's worker threads runs Python at a time.

Why. The event loop of an async program shares the GIL with the store's threads (a writer and a pool of
readers). CPython hands the GIL to a thread that asks for it only after its holder has run for the switch
interval (5 ms), and with two or more other threads asking, the loop often loses that hand-off to one of them and
waits again: with one busy Python thread beside it a 1 ms ticker on the loop is late by up to ~10 ms, with two by
~60 ms (measured on the 2-vCPU VM of this project). Python code cannot run in parallel under a GIL anyway, so
the workers lose nothing by taking turns: a worker holds the turn while it runs Python and leaves it while it
waits (for work, for SQLite, for a lock), so the loop only ever competes with one of them.

Where the turn is left. The native batch kernel leaves it for its GIL-free phase (the ``gate`` argument of the
batch functions) and waits for it again before it asks for the GIL, so a reader's Python runs while the writer's
SQLite work goes on; the writer leaves it around BEGIN and COMMIT, which may wait for the disk or for another
process; a reader takes it only once it has work. Workers wait for work in a ``Mailbox`` of the kernel, whose
``take`` then waits for the turn, both without the GIL: a worker that new work wakes up asks for the GIL only
once it holds the turn, so it never takes a GIL hand-off that was the loop's. Threads that never took the turn
(the event loop, the program's own threads using the sync store) never wait for it: ``mine()`` is ``None`` for
them, and nothing is passed to the kernel.

The turn is a ``Turn`` of the kernel in use (``nanasqlite._speedups._bridge``, or its pure twin
``nanasqlite._bridge``); one per process, as the GIL is. It is patient, not absolute: a worker that waited
``PATIENCE`` goes on without it, so a reader stuck in a slow disk read never stops the writer. On a
free-threaded build (no GIL) it does nothing: threads run Python in parallel there.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from ._native import bridge

__all__ = ["PATIENCE", "TURN", "outside"]


def _gil_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


#: Seconds a worker waits for the turn before it goes on without it. The turn protects no data; it shapes who
#: asks for the GIL. A holder that keeps it this long is stuck (a slow disk, another process's lock) or runs a long
#: computation, and the others must not wait on it indefinitely.
PATIENCE = 0.1

#: The one turn of the process.
TURN: Any = bridge.Turn(enabled=_gil_enabled(), patience=PATIENCE)


@contextlib.contextmanager
def outside(turn: Any = TURN) -> Iterator[None]:
    """Leave ``turn`` for the block when the calling thread holds it, to wait without keeping others waiting."""
    held = turn.mine() is not None
    if held:
        turn.release()
    try:
        yield
    finally:
        if held:
            turn.acquire()
