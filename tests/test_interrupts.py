"""An exception raised by a signal handler at any point of a write (KeyboardInterrupt is the usual one) never
leaves the cache disagreeing with the file: the write either happened or not, and reads show which."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from nanasqlite import NanaSQLite

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX interval timers")


class Interrupted(Exception):
    pass


@pytest.fixture
def alarm() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, handler)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def interrupted_after(delay: float, write: object) -> bool:
    """Run ``write()`` with an alarm due after ``delay`` seconds; True if the alarm cut into it."""
    try:
        signal.setitimer(signal.ITIMER_REAL, delay)
        try:
            write()  # type: ignore[operator]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except Interrupted:
        return True
    return False


def assert_cache_matches_file(db: NanaSQLite, db_path: str, keys: list[str]) -> None:
    seen = {k: db.get(k) for k in keys}
    with NanaSQLite(db_path) as fresh:
        assert seen == {k: fresh.get(k) for k in keys}


def test_batches_interrupted_anywhere_leave_no_stale_cache(db_path: str, alarm: None) -> None:
    keys = [f"k{i:05d}" for i in range(20_000)]
    db = NanaSQLite(db_path)
    db.batch_update(dict.fromkeys(keys, -1))
    assert db.batch_get(keys)  # everything cached and decoded
    hits = 0
    for round_ in range(40):
        delay = 0.0003 * (round_ + 1)
        if round_ % 2:
            new = dict.fromkeys(keys, round_)
            hits += interrupted_after(delay, lambda: db.batch_update(new))  # noqa: B023 (called at once)
        else:
            hits += interrupted_after(delay, lambda: db.batch_delete(keys[::3]))
        assert_cache_matches_file(db, db_path, keys[::97] + keys[-5:])
    assert hits > 0  # the alarm really cut into some of the writes
    db.close()


def test_single_writes_interrupted_anywhere_leave_no_stale_cache(db_path: str, alarm: None) -> None:
    keys = [f"k{i}" for i in range(50)]
    db = NanaSQLite(db_path)
    db.batch_update(dict.fromkeys(keys, 0))
    hits = 0
    for round_ in range(60):

        def writes(round_: int = round_) -> None:
            for k in keys:
                db[k] = {"round": round_}
                db.increment("counter", default=0)
                del db[k]
                db.setdefault(k, round_)

        hits += interrupted_after(0.0002 * (round_ + 1), writes)
        assert_cache_matches_file(db, db_path, [*keys, "counter"])
    assert hits > 0
    db.close()
