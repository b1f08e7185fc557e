"""Write-back mode side by side with the default mode, in one run.

    python -m benchmarks.writeback [--sets 20000] [--pending 100000]

* sets/s: ``--sets`` single ``db[k] = v`` in each mode, write-back including the final ``flush(wait=True)``
  (so every write is committed in both columns); the ratio is what the issue's target (>= 10x) is about.
* async sets/s: 100 tasks awaiting ``aset`` on ``AsyncNanaSQLite`` in each mode (write-back resolves once the
  write is in memory; the default mode once it is committed, group-committed), final flush included.
* loop gap: an asyncio loop ticks every millisecond in the main thread while a write-back store commits
  ``--pending`` writes in its background thread; the longest gap between two ticks is reported, beside the
  longest gap of the same loop ticking alone for as long (what the machine itself adds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from typing import Any

from nanasqlite import NATIVE, AsyncNanaSQLite, NanaSQLite


def _value(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"user{i}", "active": i % 2 == 0, "score": i / 4, "tags": ["red", "green"]}


def sets_per_second(path: str, n: int, **options: Any) -> float:
    """``n`` single sets (fresh file), then ``flush(wait=True)``; sets per second of the whole."""
    values = [(f"key{i:08d}", _value(i)) for i in range(n)]
    with NanaSQLite(path, **options) as db:
        start = time.perf_counter()
        for k, v in values:
            db[k] = v
        db.flush(wait=True)
        elapsed = time.perf_counter() - start
        assert len(db) == n
    return n / elapsed


def async_sets_per_second(path: str, n: int, tasks: int = 100, **options: Any) -> float:
    """``n`` ``aset`` calls spread over ``tasks`` concurrent tasks, then ``aflush(wait=True)``; sets per second."""

    async def main() -> float:
        async with AsyncNanaSQLite(path, **options) as db:
            per = n // tasks

            async def task(t: int) -> None:
                for i in range(per):
                    await db.aset(f"key{t:03d}-{i:06d}", _value(i))

            start = time.perf_counter()
            await asyncio.gather(*(task(t) for t in range(tasks)))
            await db.aflush(wait=True)
            return per * tasks / (time.perf_counter() - start)

    return asyncio.run(main())


def loop_gap_while_flushing(path: str, pending: int) -> tuple[float, float]:
    """(longest gap between 1 ms ticks of an event loop, seconds the flush took) while ``pending`` writes made
    in manual mode are committed by the store's background thread."""
    db = NanaSQLite(path, v2_mode=True, flush_mode="manual", v2_chunk_size=1000)
    db.batch_update({f"key{i:08d}": _value(i) for i in range(pending)})
    done = threading.Event()

    async def ticker() -> float:
        loop = asyncio.get_running_loop()
        worst = 0.0
        last = loop.time()
        db.flush()  # the background thread takes it from here
        waiter = loop.run_in_executor(None, _wait_empty, db, done)
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = loop.time()
            worst = max(worst, now - last)
            last = now
        await waiter
        return worst

    start = time.perf_counter()
    worst = asyncio.run(ticker())
    took = time.perf_counter() - start
    db.close()
    return worst, took


def idle_loop_gap(seconds: float) -> float:
    """The longest gap between 1 ms ticks of an event loop with nothing else running, for ``seconds``."""

    async def ticker() -> float:
        loop = asyncio.get_running_loop()
        worst, last = 0.0, loop.time()
        end = last + seconds
        while last < end:
            await asyncio.sleep(0.001)
            now = loop.time()
            worst, last = max(worst, now - last), now
        return worst

    return asyncio.run(ticker())


def _wait_empty(db: NanaSQLite, done: threading.Event) -> None:
    while db.get_status()["pending_kvs_count"] or db.get_status()["flush_active"]:
        done.wait(0.002)
    done.set()


def run(sets: int, pending: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        default = sets_per_second(os.path.join(tmp, "default.db"), sets)
        back = sets_per_second(os.path.join(tmp, "wb.db"), sets, v2_mode=True, flush_mode="immediate")
        manual = sets_per_second(os.path.join(tmp, "manual.db"), sets, v2_mode=True, flush_mode="manual")
        async_default = async_sets_per_second(os.path.join(tmp, "adefault.db"), sets)
        async_back = async_sets_per_second(os.path.join(tmp, "awb.db"), sets, v2_mode=True, flush_mode="immediate")
        gap, took = loop_gap_while_flushing(os.path.join(tmp, "gap.db"), pending)
        idle = idle_loop_gap(took)
    return {
        "default_sets_per_s": default,
        "writeback_immediate_sets_per_s": back,
        "writeback_manual_sets_per_s": manual,
        "ratio_immediate": back / default,
        "ratio_manual": manual / default,
        "async_default_sets_per_s": async_default,
        "async_writeback_sets_per_s": async_back,
        "async_ratio": async_back / async_default,
        "loop_gap_ms": gap * 1000,
        "idle_loop_gap_ms": idle * 1000,
        "flush_s": took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, default=20000)
    parser.add_argument("--pending", type=int, default=100000)
    args = parser.parse_args()
    print(f"build: {'compiled' if NATIVE else 'pure'}")
    for name, number in run(args.sets, args.pending).items():
        print(f"{name:32} {number:12.2f}")


if __name__ == "__main__":
    main()
