"""How many reader threads (``max_workers``) an AsyncNanaSQLite needs on this machine.

Each round opens the store with each size in turn (interleaved, so machine noise hits them alike) and times
1000 concurrent cold ``aget`` calls (the cache cleared first), alone and beside 100 concurrent writers; the
table gives the median rate of the rounds and its ratio to the default size (5). Run it on the machine you deploy
to: the answer depends on its cores and its disk.

    python benchmarks/async_workers.py                  # sizes 1 2 3 5 8, 5 rounds
    python benchmarks/async_workers.py --sizes 1 2 4 8 16 --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time

from nanasqlite import NATIVE, AsyncNanaSQLite, NanaSQLite

KEYS = 20_000


async def one_round(path: str, workers: int, readers: int, writers: int) -> float:
    """Reads per second of ``readers`` concurrent cold gets (beside ``writers`` concurrent writes)."""
    rnd = random.Random(workers)
    async with AsyncNanaSQLite(path, max_workers=workers) as db:
        await db.clear_cache()
        keys = [f"k{rnd.randrange(KEYS)}" for _ in range(readers)]
        started = time.perf_counter()
        reads = asyncio.gather(*(db.aget(key) for key in keys))
        writes = asyncio.gather(*(db.aset(f"w{i}", {"i": i}) for i in range(writers)))
        await reads
        elapsed = time.perf_counter() - started
        await writes
    return readers / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3, 5, 8])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "workers.db")
        with NanaSQLite(path) as db:
            db.batch_update({f"k{i}": {"name": f"user {i}", "age": i % 90, "tags": ["a", "b"]} for i in range(KEYS)})
        rates: dict[tuple[int, int], list[float]] = {}
        for _ in range(args.rounds):
            for writers in (0, 100):
                for size in args.sizes:
                    rate = asyncio.run(one_round(path, size, 1000, writers))
                    rates.setdefault((size, writers), []).append(rate)
    base = {w: statistics.median(rates[(5, w)]) if (5, w) in rates else None for w in (0, 100)}
    print(f"# {os.cpu_count()} CPUs, compiled={NATIVE}, {args.rounds} rounds; reads/s of 1000 concurrent cold agets")
    print("| max_workers | alone | vs 5 | beside 100 writers | vs 5 |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        cells = []
        for writers in (0, 100):
            median = statistics.median(rates[(size, writers)])
            ratio = f"{median / base[writers]:.2f}x" if base[writers] else "-"
            cells += [f"{median / 1000:.1f}k", ratio]
        print(f"| {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
