"""Does the event loop stay responsive while the store works? A 1 ms ticker on the loop records how late each
tick is while a 100k-item ``batch_update`` and thousands of concurrent cold reads (and writes) run.

    python benchmarks/bench_async_loop.py                    # this package, as installed
    NANASQLITE_NO_EXTENSIONS=1 python benchmarks/bench_async_loop.py
    PYTHONPATH=/tmp/nana16 python benchmarks/bench_async_loop.py   # the 1.6.2 package, same script

Prints, per round, the longest gap between two ticks (the goal: under 20 ms), the 99th percentile, and how long
the workload took. Not a test: a timing on a shared machine is a measurement, never an assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

import nanasqlite
from nanasqlite import AsyncNanaSQLite, NanaSQLite

TICK = 0.001


async def ticker(gaps: list[float], stop: asyncio.Event) -> None:
    """Sleep 1 ms at a time; record how much longer than that each turn took."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def one_round(
    path: str, items: int, reads: int, tasks: int, writers: int, workers: int
) -> tuple[float, float, float]:
    async with AsyncNanaSQLite(path, max_workers=workers) as db:
        await db.clear_cache()  # every read below misses the cache and goes to the threads
        batch = {f"batch{i:07d}": {"i": i, "name": f"item{i}", "tags": ["a", "b"]} for i in range(items)}
        gaps: list[float] = []
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(gaps, stop))
        await asyncio.sleep(0.05)  # the ticker's own baseline

        async def read(r: int) -> None:
            for i in range(r, reads, tasks):
                await db.aget(f"seed{i % 20_000:06d}")

        async def write(w: int) -> None:
            for j in range(10):
                await db.aset(f"writer{w}-{j}", {"j": j})

        started = time.perf_counter()
        work = [asyncio.create_task(db.batch_update(batch))]
        # Clients arrive the way requests reach a server: a few dozen per loop turn, not thousands in one
        # callback (creating 5000 tasks at once would stall any event loop by itself, store or no store).
        for r in range(tasks):
            work.append(asyncio.create_task(read(r)))
            if r < writers:
                work.append(asyncio.create_task(write(r)))
            if r % 50 == 49:
                await asyncio.sleep(0)
        await asyncio.gather(*work)
        elapsed = time.perf_counter() - started
        stop.set()
        await tick
    late = sorted(g - TICK for g in gaps)
    return late[-1] * 1000, late[int(len(late) * 0.99)] * 1000, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="size of the batch_update")
    parser.add_argument("--reads", type=int, default=5_000, help="cold reads in all")
    parser.add_argument("--tasks", type=int, default=1_000, help="concurrent reading tasks")
    parser.add_argument("--writers", type=int, default=100, help="concurrent writers, 10 writes each")
    parser.add_argument("--workers", type=int, default=5, help="max_workers")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    native = getattr(nanasqlite, "NATIVE", None)
    print(f"nanasqlite {nanasqlite.__version__} (native={native}), {os.cpu_count()} CPUs")
    print(
        f"workload: batch_update of {args.items:,} + {args.reads:,} cold reads by {args.tasks} tasks"
        f" + {args.writers} writers x 10"
    )
    worst = []
    with tempfile.TemporaryDirectory() as directory:
        for n in range(args.rounds):
            path = os.path.join(directory, f"loop{n}.db")
            seed = NanaSQLite(path)
            seed.batch_update({f"seed{i:06d}": {"i": i} for i in range(20_000)})
            seed.close()
            gap, p99, elapsed = asyncio.run(
                one_round(path, args.items, args.reads, args.tasks, args.writers, args.workers)
            )
            worst.append(gap)
            print(f"round {n + 1}: max gap {gap:6.1f} ms | p99 {p99:5.1f} ms | workload {elapsed:5.2f} s")
    print(f"max gap: median {statistics.median(worst):.1f} ms, worst {max(worst):.1f} ms (goal: < 20 ms)")


if __name__ == "__main__":
    main()
