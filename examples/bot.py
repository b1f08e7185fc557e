"""A chat bot under load: 1000 concurrent users send messages, each a mix of reads and writes.

    python examples/bot.py [--db PATH] [--users 1000] [--messages 5] [--timeout 120]

Without --db the database is created in a new temporary directory; its path is printed first and last, and
the file is left there for a look (``nanasqlite info PATH``, ``nanasqlite keys PATH --prefix profile:``).

Every user task counts its messages, keeps a profile, logs each message, reads its own profile back (it must
see its own writes at once) and looks at other users' profiles; one shared counter counts every message.
At the end the script checks the counters, the profiles and the log, first through the async store and then
through a fresh sync store on the same file, and exits 0 if all is right, 1 if anything is wrong, 2 if the
run did not finish within --timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time

from nanasqlite import AsyncNanaSQLite, NanaSQLite


async def user_task(db: AsyncNanaSQLite, user: int, messages: int, users: int, rng: random.Random) -> list[str]:
    """One user: returns what went wrong, if anything."""
    errors = []
    await db.aset(f"profile:{user}", {"name": f"user{user}", "last": None, "seen": 0})
    for message in range(messages):
        await db.aset(f"log:{user}:{message}", {"text": f"hello {message}", "from": user})
        count = await db.aincrement(f"count:{user}", default=0)
        if count != message + 1:
            errors.append(f"user {user}: count {count} after message {message}")
        await db.apatch(f"profile:{user}", {"last": message})
        profile = await db.aget(f"profile:{user}")
        if profile is None or profile["last"] != message:
            errors.append(f"user {user}: profile {profile} does not show message {message}")
        other = rng.randrange(users)
        seen = await db.aget(f"profile:{other}")  # another user's profile: may or may not exist yet
        if seen is not None and seen["name"] != f"user{other}":
            errors.append(f"user {user}: read a wrong profile {seen} for user {other}")
        await db.aincrement("messages", default=0)
    return errors


async def run(path: str, users: int, messages: int) -> list[str]:
    rng = random.Random(7)
    async with AsyncNanaSQLite(path, max_workers=8) as db:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(user_task(db, user, messages, users, random.Random(rng.random())) for user in range(users))
        )
        elapsed = time.perf_counter() - started
        errors = [error for result in results for error in result]
        operations = users * messages * 7
        print(f"{users} users x {messages} messages: {operations} operations in {elapsed:.2f} s "
              f"({operations / elapsed:,.0f} ops/s)")  # fmt: skip
        if await db.aget("messages") != users * messages:
            errors.append(f"messages counter is {await db.aget('messages')}, expected {users * messages}")
        counts = await db.abatch_get([f"count:{u}" for u in range(users)])
        errors += [f"count of user {u} is {counts.get(f'count:{u}')}" for u in range(users)
                   if counts.get(f"count:{u}") != messages]  # fmt: skip
    with NanaSQLite(path) as sync:  # what really is in the file
        if sync.get("messages") != users * messages:
            errors.append(f"the file holds messages={sync.get('messages')}")
        for u in range(users):
            if sync.get(f"profile:{u}", {}).get("last") != messages - 1:
                errors.append(f"the file holds profile {sync.get(f'profile:{u}')} for user {u}")
            if sync.get(f"count:{u}") != messages:
                errors.append(f"the file holds count {sync.get(f'count:{u}')} for user {u}")
        logged = sum(1 for key in sync.keys() if key.startswith("log:"))
        if logged != users * messages:
            errors.append(f"the file holds {logged} log entries, expected {users * messages}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database file (default: in a new temporary directory)")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="nanasqlite-bot-"), "bot.db")
    where = "" if args.db else " (a new temporary directory; --db PATH chooses the file)"
    print(f"database: {path}{where}")
    try:
        errors = asyncio.run(asyncio.wait_for(run(path, args.users, args.messages), args.timeout))
    except asyncio.TimeoutError:
        print(f"FAILED: not finished within {args.timeout} s")
        return 2
    if errors:
        print(f"FAILED: {len(errors)} problems, the first ones:")
        for error in errors[:10]:
            print("  ", error)
        return 1
    print(f"the database is left at {path}")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
