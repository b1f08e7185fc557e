"""Encrypted batch write and batch read, ours beside nanasqlite 1.6.2 encrypting the same data, in one run.

    python benchmarks/encryption_peer.py --nana16 /tmp/nana16 [--reps 5] [--scale 1.0]

``--nana16`` is a directory holding 1.6.2 with ``cryptography`` and orjson (``pip install --target DIR
"nanasqlite[encryption]==1.6.2" orjson``). Each measurement runs in a fresh subprocess, the peers interleaved
(the order alternates per repetition); the medians and ratios are printed (ratio > 1: ours is faster). For ours
it also prints the GIL-free share of the encrypted batch write by the clock method: how fast a spinning Python
thread counts while the batch runs, against how fast it counts alone (1.0: the batch never held the GIL).

Not collected by pytest (no ``test_`` prefix): the timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

KEYS = {
    "aes-gcm": "0123456789abcdef0123456789abcdef",
    "chacha20": "0123456789abcdef0123456789abcdef",
    "fernet": "TmFuYVNRTGl0ZSB0ZXN0IGZlcm5ldCBrZXkhISEhISE=",
}


def _gil_free_share(work: Any) -> float:
    """The share of ``work()``'s wall time during which its thread did not hold the GIL (the clock method).

    A second thread stamps the clock in a loop that lets go of the GIL at every turn (``sleep(0)``), with a
    switch interval so long that the interpreter never takes the GIL from the worker: the spinner gets to stamp
    only while the worker has released the GIL, so the gaps between its stamps are the worker's GIL-held time.
    Being descheduled by the OS also makes gaps, so on a busy machine this errs low."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(5.0)
    stop = threading.Event()
    held = [0.0]
    ready = threading.Event()

    def spin() -> None:
        last = time.perf_counter()
        ready.set()
        gaps = 0.0
        while not stop.is_set():
            time.sleep(0)
            now = time.perf_counter()
            if now - last > 20e-6:
                gaps += now - last
            last = now
        held[0] = gaps

    t = threading.Thread(target=spin)
    t.start()
    ready.wait()
    try:
        start = time.perf_counter()
        work()
        seconds = time.perf_counter() - start
        stop.set()
        t.join()
    finally:
        sys.setswitchinterval(before)
    return max(0.0, 1.0 - held[0] / seconds)


def worker(path: str, data_file: str, mode: str, ours: bool) -> dict[str, Any]:
    from nanasqlite import NanaSQLite

    with open(data_file, encoding="utf-8") as f:
        data = json.load(f)
    keys = list(data)
    out: dict[str, Any] = {}
    db = NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode)
    start = time.perf_counter()
    db.batch_update(data)
    out["write"] = time.perf_counter() - start
    db.close()
    db = NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode)
    start = time.perf_counter()
    got = db.batch_get(keys)
    out["read"] = time.perf_counter() - start
    if len(got) != len(keys):
        raise SystemExit("batch_get lost keys")
    db.close()
    if ours:
        db = NanaSQLite(path + ".share", encryption_key=KEYS[mode], encryption_mode=mode)
        out["share"] = _gil_free_share(lambda: db.batch_update(data))
        db.close()
        plain = NanaSQLite(path + ".plain")
        out["plain_share"] = _gil_free_share(lambda: plain.batch_update(data))
        plain.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nana16", default=os.environ.get("NANA16_DIR", "/tmp/nana16"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--modes", default="aes-gcm,chacha20,fernet")
    parser.add_argument("--worker", nargs=4, metavar=("PATH", "DATA", "MODE", "OURS"))
    args = parser.parse_args()
    if args.worker:
        path, data_file, mode, ours = args.worker
        print(json.dumps(worker(path, data_file, mode, ours == "1")))
        return

    from nanasqlite.bench import shape_items

    shapes = {"records": int(20_000 * args.scale), "documents": int(5_000 * args.scale)}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, reps={args.reps}, 1.6.2 from {args.nana16}")
    print(f"{'shape':10} {'mode':9} {'n':>6}  {'write ours':>10} {'1.6.2':>8} {'ratio':>6}  "
          f"{'read ours':>10} {'1.6.2':>8} {'ratio':>6}  {'GIL-free enc':>12} {'plain':>6}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for shape, n in shapes.items():
            data_file = os.path.join(tmp, f"{shape}.json")
            with open(data_file, "w", encoding="utf-8") as f:
                json.dump(shape_items(shape, n), f, ensure_ascii=False)
            for mode in args.modes.split(","):
                runs: dict[str, list[dict[str, Any]]] = {"ours": [], "1.6.2": []}
                for rep in range(args.reps):
                    order = ["ours", "1.6.2"] if rep % 2 == 0 else ["1.6.2", "ours"]
                    for peer in order:
                        path = os.path.join(tmp, f"{shape}-{mode}-{rep}-{peer}.db")
                        env = dict(os.environ)
                        if peer == "1.6.2":
                            env["PYTHONPATH"] = args.nana16
                        cmd = [
                            sys.executable,
                            __file__,
                            "--worker",
                            path,
                            data_file,
                            mode,
                            "1" if peer == "ours" else "0",
                        ]
                        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                        if result.returncode != 0:
                            raise SystemExit(f"{peer} failed:\n{result.stderr}")
                        runs[peer].append(json.loads(result.stdout))
                med = {p: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for p, rs in runs.items()}
                ours, base = med["ours"], med["1.6.2"]
                w, bw, r, br = ours["write"], base["write"], ours["read"], base["read"]
                print(
                    f"{shape:10} {mode:9} {n:>6}  {w * 1e3:>8.1f}ms {bw * 1e3:>6.1f}ms {bw / w:>5.2f}x  "
                    f"{r * 1e3:>8.1f}ms {br * 1e3:>6.1f}ms {br / r:>5.2f}x  "
                    f"{ours['share']:>11.0%} {ours['plain_share']:>6.0%}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
