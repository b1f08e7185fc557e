"""Many processes on one file: increments are exact, concurrent writers neither fail with ``BusyError`` nor lose
anything, and a reader in another process never sees a batch torn (all of it or none of it).

Each process is a real ``python`` process on the same file in ``tmp_path``; ``NANASQLITE_FAULT_INCREMENTS`` sets
the increments per process (1000 by default).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from . import checked_rows

INCREMENTS = int(os.environ.get("NANASQLITE_FAULT_INCREMENTS", "1000"))
BOUND = 300  # seconds the whole scenario may take before it counts as hung

CHILD = textwrap.dedent(
    r"""
    import json, sys, time
    from nanasqlite import NanaSQLite
    role, path, n, me = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with NanaSQLite(path, busy_timeout=60) as db:
        if role == "increment":
            for _ in range(n):
                db.increment("counter", default=0)
                db.increment("stats", field=f"p{me}", default=0)
        elif role == "writer":
            for i in range(n):
                keys = [f"pair{i % 20}:{part}" for part in "abcd"]
                if i % 5 == 4:
                    db.batch_delete(keys)
                elif i % 5 == 3:
                    with db.transaction():
                        for key in keys:
                            db[key] = [me, i]
                else:
                    db.batch_update(dict.fromkeys(keys, [me, i]))
                db[f"w{me}:{i}"] = i
        elif role == "reader":  # 50 rounds at least, then until every writer's last write (n-1) is in the file
            torn = 0
            last = [f"w{w}:{n - 1}" for w in range(6)]
            deadline = time.monotonic() + 120
            i = 0
            while time.monotonic() < deadline and (i < 50 or i % 50 or any(db.get_fresh(k) is None for k in last)):
                i += 1
                db.clear_cache()  # what other processes wrote since: from the file
                keys = [f"pair{i % 20}:{part}" for part in "abcd"]
                got = db.batch_get(keys)
                if len(got) not in (0, 4) or len({json.dumps(v) for v in got.values()}) > 1:
                    torn += 1
                    print("torn", got, flush=True)
            print("reads", i, "torn", torn, flush=True)
    """
)


def spawn(role: str, path: str, n: int, me: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, role, path, str(n), str(me)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=BOUND)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


def test_increments_from_eight_processes_are_exact(tmp_path: Path) -> None:
    path = str(tmp_path / "counter.db")
    finish([spawn("increment", path, INCREMENTS, me) for me in range(8)])
    data = checked_rows(path)
    assert data["counter"] == 8 * INCREMENTS
    assert data["stats"] == {f"p{me}": INCREMENTS for me in range(8)}


def test_writers_in_six_processes_lose_nothing_and_readers_never_see_a_torn_batch(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    writes = 200
    procs = [spawn("writer", path, writes, me) for me in range(6)] + [spawn("reader", path, writes, 9)]
    outputs = finish(procs)
    data = checked_rows(path)
    for me in range(6):  # every single write of every process is there
        assert all(data[f"w{me}:{i}"] == i for i in range(writes))
    for p in range(20):  # each group of four keys is whole: all written together, or all deleted together
        values = [data.get(f"pair{p}:{part}") for part in "abcd"]
        assert len({json.dumps(v) for v in values}) == 1, (p, values)
    report = outputs[-1].split()
    assert report[0] == "reads" and int(report[1]) > 0 and report[2:] == ["torn", "0"], outputs[-1]
