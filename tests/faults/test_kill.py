"""kill -9 of a writer mid-stream: after the kill the file passes ``PRAGMA integrity_check`` and holds every write
the writer acknowledged before it died; a batch or transaction is there whole or not at all.

A child process writes in a loop and prints one line per write once the call has returned (the acknowledgement);
the test kills it with SIGKILL at a random moment, reads every line the child got out before dying, and checks the
file. ``NANASQLITE_FAULT_TRIALS`` sets the trials per mode (3 by default; more for a soak run). The child runs the
build the suite runs (compiled or ``NANASQLITE_NO_EXTENSIONS=1``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from . import checked_rows

TRIALS = int(os.environ.get("NANASQLITE_FAULT_TRIALS", "3"))
BOUND = 60  # seconds a child may take to start writing

CHILD = textwrap.dedent(
    r"""
    import asyncio, os, sys
    from nanasqlite import AsyncNanaSQLite, NanaSQLite
    mode, path = sys.argv[1], sys.argv[2]

    def ack(*fields):
        os.write(1, (" ".join(str(f) for f in fields) + "\n").encode())

    if mode == "async":
        async def main():
            async with AsyncNanaSQLite(path, max_workers=2) as db:
                async def writer(w):
                    n = 0
                    while True:
                        n += 1
                        if n % 3:
                            await db.aset(f"a{w}:{n}", n)
                            ack("key", f"a{w}:{n}", n)
                        else:
                            await db.batch_update({f"a{w}:{n}:{i}": n for i in range(20)})
                            ack("group", f"a{w}:{n}:", 20)
                ack("ready")
                await asyncio.gather(*(writer(w) for w in range(50)))
        asyncio.run(main())
    elif mode == "writeback":
        # Acknowledged once flush(wait=True) returned: what write-back mode promises to keep.
        db = NanaSQLite(path, v2_mode=True, flush_mode="immediate", v2_chunk_size=64)
        ack("ready")
        n = 0
        while True:
            n += 1
            db[f"w{n}"] = n
            if n % 100 == 0:
                db.flush(wait=True)
                for m in range(n - 99, n + 1):
                    ack("key", f"w{m}", m)
    else:
        db = NanaSQLite(path)
        ack("ready")
        n = 0
        while True:
            n += 1
            if mode == "set":
                db[f"s{n}"] = n
                ack("key", f"s{n}", n)
            elif mode == "batch":
                db.batch_update({f"b{n}:{i}": n for i in range(50)})
                ack("group", f"b{n}:", 50)
            elif mode == "transaction":
                with db.transaction():
                    db[f"t{n}:a"] = n
                    db.batch_update({f"t{n}:{i}": n for i in range(5)})
                    db[f"t{n}:b"] = n
                ack("group", f"t{n}:", 7)
            elif mode == "increment":
                ack("counter", db.increment("counter", default=0))
    """
)


def run_and_kill(path: str, mode: str, rnd: random.Random) -> list[list[str]]:
    """Start a writer, let it acknowledge writes for a random while, SIGKILL it; every line it printed."""
    lines: list[list[str]] = []
    ready = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                fields = raw.decode().split()
                if fields == ["ready"]:
                    ready.set()
                elif fields:
                    lines.append(fields)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            started = ready.wait(BOUND)
            if started:
                time.sleep(rnd.uniform(0.02, 0.4))  # the kill point: wherever the writer is then
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(BOUND)
            reader.join(BOUND)
        errors = proc.stderr.read().decode()
    assert started and proc.returncode == -signal.SIGKILL, errors
    return lines


def check_file(path: str, lines: list[list[str]]) -> dict[str, Any]:
    rows = checked_rows(path)
    for fields in lines:
        kind = fields[0]
        if kind == "key":
            assert rows.get(fields[1]) == int(fields[2]), f"acknowledged {fields[1]} is missing or wrong"
        elif kind == "group":
            prefix, size = fields[1], int(fields[2])
            assert sum(1 for k in rows if k.startswith(prefix) and k[len(prefix) :].isalnum()) == size, prefix
        elif kind == "counter":
            assert rows["counter"] >= int(fields[1])
    return rows


def groups_whole(rows: dict[str, Any], sizes: dict[str, int]) -> None:
    """Every batch or transaction in the file is whole, acknowledged or not (the one in flight at the kill)."""
    seen: dict[str, int] = {}
    for key in rows:
        stem, sep, _ = key.rpartition(":")
        if sep and stem:
            seen[stem + ":"] = seen.get(stem + ":", 0) + 1
    for prefix, count in seen.items():
        size = sizes.get(prefix[0])
        if size is not None:
            assert count == size, f"{prefix}: {count} of {size} keys: a torn batch"


@pytest.mark.parametrize("mode", ["set", "batch", "transaction", "increment", "async", "writeback"])
def test_a_killed_writer_loses_no_acknowledged_write(tmp_path: Path, mode: str) -> None:
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    path = str(tmp_path / "killed.db")
    acknowledged = 0
    for trial in range(TRIALS):
        lines = run_and_kill(path, mode, rnd)
        acknowledged += len(lines)
        try:
            rows = check_file(path, lines)
            if mode in ("batch", "transaction"):
                groups_whole(rows, {"b": 50, "t": 7})
            if mode == "writeback":  # flushed or not, every row that made it is whole
                assert all(value == int(key[1:]) for key, value in rows.items()), "a torn value"
            if mode == "increment" and lines:
                counters = [int(f[1]) for f in lines]
                assert counters == sorted(counters) and len(set(counters)) == len(counters)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, trial {trial}, {len(lines)} acknowledged: {exc}") from exc
    assert acknowledged > 0, "the writer never got a write out before the kill"
