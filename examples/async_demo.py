"""A tour of AsyncNanaSQLite: the dict API, batches, concurrency, transactions, sub-tables, SQL and streaming.

    python examples/async_demo.py [DIRECTORY]

Writes ``demo.db`` (and ``demo-backup.db``) into DIRECTORY (default: a new temporary directory) and prints
what each step did. Every step checks its own result, so the script also serves as a smoke test.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

from nanasqlite import AsyncNanaSQLite, NanaSQLite


async def main(directory: str) -> None:
    path = os.path.join(directory, "demo.db")

    # The store opens in the background; `async with` waits for it and closes it (and its threads) at the end.
    async with AsyncNanaSQLite(path, max_workers=4) as db:
        print("1. dict API")
        await db.aset("config", {"theme": "dark", "lang": "en"})
        config = await db.aget("config")  # a cache hit: answered without leaving the event loop
        assert config == {"theme": "dark", "lang": "en"}
        assert await db.acontains("config") and await db.alen() == 1
        print("   config =", config)

        print("2. batches")
        await db.batch_update({f"user_{i}": {"name": f"User{i}", "score": i} for i in range(1000)})
        await db.batch_delete([f"user_{i}" for i in range(500, 1000)])
        some = await db.abatch_get(["user_1", "user_2", "user_999"])
        assert list(some) == ["user_1", "user_2"]
        print("   users kept:", await db.alen() - 1)

        print("3. concurrency")
        await db.clear_cache()  # so that the reads below go to the reader threads, in parallel
        started = time.perf_counter()
        users = await asyncio.gather(*(db.aget(f"user_{i}") for i in range(500)))
        assert [u["score"] for u in users] == list(range(500))
        print(f"   500 concurrent reads in {(time.perf_counter() - started) * 1000:.1f} ms")

        async def add_points(n: int) -> None:
            await db.aincrement("points", n, default=0)  # atomic: no update is lost

        await asyncio.gather(*(add_points(n) for n in range(1, 101)))
        assert await db.aget("points") == 5050
        print("   100 concurrent increments ->", await db.aget("points"))

        print("4. transactions")
        async with db.transaction():
            await db.aset("order_1", {"status": "paid"})
            await db.apatch("user_1", {"orders": 1})
        try:
            async with db.transaction():
                await db.aset("order_2", {"status": "paid"})
                raise RuntimeError("payment failed")
        except RuntimeError:
            pass
        assert await db.aget("order_1") == {"status": "paid"} and await db.aget("order_2") is None
        print("   order_1 committed, order_2 rolled back")

        print("5. sub-tables")
        sessions = await db.table("sessions")
        await sessions.aset("s1", {"user": "user_1"})
        assert await sessions.akeys() == ["s1"] and await db.aget("s1") is None
        print("   sessions:", await sessions.to_dict())

        print("6. SQL")
        await db.create_table("events", {"id": "INTEGER PRIMARY KEY", "kind": "TEXT", "at": "REAL"})
        for kind in ("login", "logout", "login"):
            await db.sql_insert("events", {"kind": kind, "at": time.time()})
        logins = await db.count("events", "kind = ?", ("login",))
        assert logins == 2
        print("   logins:", logins, "| rows:", await db.query("events", columns=["id", "kind"], order_by="id"))

        print("7. streaming")
        seen = 0
        async for _item in db.aiter_items(batch_size=100):  # 100 rows per read, never all at once
            seen += 1
        assert seen == await db.alen()
        print("   iterated", seen, "items")

        print("8. backup")
        backup = os.path.join(directory, "demo-backup.db")
        await db.abackup(backup)  # a consistent copy, taken while the store stays in use
        print("   backup written to", os.path.basename(backup))

    with NanaSQLite(path) as sync:  # the same file, read by the sync store
        assert sync["points"] == 5050 and sync["order_1"] == {"status": "paid"}
    print("done: demo.db is in", directory)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="nanasqlite-demo-")))
