"""Does the event loop stay responsive while the store works? A 1 ms ticker on the loop records how late each
tick is while a 100k-item ``batch_update`` and thousands of concurrent cold reads (and writes) run.

    python benchmarks/bench_async_loop.py                    # this package, as installed
    NANASQLITE_NO_EXTENSIONS=1 python benchmarks/bench_async_loop.py
    PYTHONPATH=/tmp/nana16 python benchmarks/bench_async_loop.py   # the 1.6.2 package, same script

Prints, per round, the longest gap between two ticks (the goal: under 20 ms), the 99th percentile, and how long
the workload took. Not a test: a timing on a shared machine is a measurement, never an assertion.

``--spinners N`` measures what the interpreter alone does to the same ticker: no store, N threads each spinning in
a pure-Python loop. CPython hands the GIL to a thread that asks for it only after the holder has run for the
switch interval (5 ms), and with several threads asking the loop loses hand-offs; that is the floor the store's
worker threads must stay above, and why they take turns (``nanasqlite._turn``).

Each round builds its 100k-item batch (300k Python objects) and then collects the heap before the ticker starts,
as a benchmark harness does between runs: otherwise the full collection that building those objects makes due
(25-40 ms here, whatever store is used) lands in the measured window by chance. Collections the round's own
work causes still count. ``--no-collect`` measures without that step.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import threading
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
    path: str, items: int, reads: int, tasks: int, writers: int, workers: int, collect: bool = True
) -> tuple[float, float, float]:
    async with AsyncNanaSQLite(path, max_workers=workers) as db:
        await db.clear_cache()  # every read below misses the cache and goes to the threads
        batch = {f"batch{i:07d}": {"i": i, "name": f"item{i}", "tags": ["a", "b"]} for i in range(items)}
        if collect:
            gc.collect()
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


async def spinners_round(spinners: int, seconds: float = 0.4) -> float:
    """The longest ticker gap while ``spinners`` threads run pure-Python loops (no store at all)."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    threads = [threading.Thread(target=spin) for _ in range(spinners)]
    for thread in threads:
        thread.start()
    gaps: list[float] = []
    done = asyncio.Event()
    tick = asyncio.create_task(ticker(gaps, done))
    await asyncio.sleep(seconds)
    done.set()
    await tick
    stop.set()
    for thread in threads:
        thread.join()
    return (max(gaps) - TICK) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="size of the batch_update")
    parser.add_argument("--reads", type=int, default=5_000, help="cold reads in all")
    parser.add_argument("--tasks", type=int, default=1_000, help="concurrent reading tasks")
    parser.add_argument("--writers", type=int, default=100, help="concurrent writers, 10 writes each")
    parser.add_argument("--workers", type=int, default=5, help="max_workers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-collect", action="store_true", help="do not collect the heap before each round")
    parser.add_argument("--spinners", type=int, default=None, help="no store: N busy Python threads instead")
    args = parser.parse_args()
    if args.spinners is not None:
        worst = [asyncio.run(spinners_round(args.spinners)) for _ in range(args.rounds)]
        print(f"no store, {args.spinners} busy Python thread(s), {os.cpu_count()} CPUs")
        print(f"max gap: median {statistics.median(worst):.1f} ms, worst {max(worst):.1f} ms")
        return
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
                one_round(path, args.items, args.reads, args.tasks, args.writers, args.workers, not args.no_collect)
            )
            worst.append(gap)
            print(f"round {n + 1}: max gap {gap:6.1f} ms | p99 {p99:5.1f} ms | workload {elapsed:5.2f} s")
    print(f"max gap: median {statistics.median(worst):.1f} ms, worst {max(worst):.1f} ms (goal: < 20 ms)")


if __name__ == "__main__":
    main()
