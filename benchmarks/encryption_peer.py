"""Encrypted batch write and batch read, ours beside nanasqlite 1.6.2 encrypting the same data, in one run.

    python benchmarks/encryption_peer.py --nana16 /tmp/nana16 [--reps 5] [--scale 1.0]

``--nana16`` is a directory holding 1.6.2 with ``cryptography`` and orjson (``pip install --target DIR
"nanasqlite[encryption]==1.6.2" orjson``). Each measurement runs in a fresh subprocess, the peers interleaved
(the order alternates per repetition); the medians and ratios are printed (ratio > 1: ours is faster). For ours
it also prints the GIL-free share of the batch write and read, encrypted and plain, by the clock method of
``benchmarks/kernel.py`` (the kernel's GIL-free blocks over the wall time of the public call).

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
import time
from typing import Any

KEYS = {
    "aes-gcm": "0123456789abcdef0123456789abcdef",
    "chacha20": "0123456789abcdef0123456789abcdef",
    "fernet": "TmFuYVNRTGl0ZSB0ZXN0IGZlcm5ldCBrZXkhISEhISE=",
}


def _clocked_shares(path: str, data: dict[str, Any], mode: str) -> dict[str, float]:
    """The GIL-free share of batch_update and cold batch_get, encrypted and plain, by the clock method of
    ``benchmarks/kernel.py``: every kernel call gets a gate whose ``release()``/``acquire()`` bracket each of its
    GIL-free blocks; the share is their time over the wall time of the public call."""
    from nanasqlite import NanaSQLite, _native

    kernel = _native.bridge
    spans: list[float] = []

    class Clock:
        t = 0.0

        def release(self) -> None:
            self.t = time.perf_counter()

        def acquire(self) -> None:
            spans.append(time.perf_counter() - self.t)

    def clocked(fn: Any) -> Any:
        return lambda *a, **kw: fn(*a, **{**kw, "gate": Clock()})

    for name in ("put_many", "get_many", "put_sealed", "get_sealed"):
        setattr(kernel, name, clocked(getattr(kernel, name)))
    keys = list(data)
    out = {}
    for label, key in (("enc", KEYS[mode]), ("plain", None)):
        file = f"{path}.{label}"
        for what, run in (("write", lambda db: db.batch_update(data)), ("read", lambda db: db.batch_get(keys))):
            db = NanaSQLite(file, encryption_key=key, encryption_mode=mode)
            spans.clear()
            start = time.perf_counter()
            run(db)
            out[f"{what}_{label}"] = sum(spans) / (time.perf_counter() - start)
            db.close()
    return out


def worker(path: str, data_file: str, mode: str, ours: bool, inner: int) -> dict[str, Any]:
    """The best of ``inner`` runs of each: a batch_update into a fresh file, a cold batch_get of every key."""
    from nanasqlite import NanaSQLite

    with open(data_file, encoding="utf-8") as f:
        data = json.load(f)
    keys = list(data)
    out: dict[str, Any] = {"write": float("inf"), "read": float("inf")}
    for i in range(inner):
        file = f"{path}.{i}"
        db = NanaSQLite(file, encryption_key=KEYS[mode], encryption_mode=mode)
        start = time.perf_counter()
        db.batch_update(data)
        out["write"] = min(out["write"], time.perf_counter() - start)
        db.close()
    for _ in range(inner):
        db = NanaSQLite(f"{path}.0", encryption_key=KEYS[mode], encryption_mode=mode)  # its cache empty
        start = time.perf_counter()
        got = db.batch_get(keys)
        out["read"] = min(out["read"], time.perf_counter() - start)
        if len(got) != len(keys):
            raise SystemExit("batch_get lost keys")
        db.close()
    if ours:
        out.update(_clocked_shares(path + ".clock", data, mode))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nana16", default=os.environ.get("NANA16_DIR", "/tmp/nana16"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--modes", default="aes-gcm,chacha20,fernet")
    parser.add_argument("--inner", type=int, default=3, help="runs per worker, the best counts")
    parser.add_argument("--worker", nargs=4, metavar=("PATH", "DATA", "MODE", "OURS"))
    args = parser.parse_args()
    if args.worker:
        path, data_file, mode, ours = args.worker
        print(json.dumps(worker(path, data_file, mode, ours == "1", args.inner)))
        return

    from nanasqlite.bench import shape_items

    shapes = {"records": int(20_000 * args.scale), "documents": int(5_000 * args.scale)}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, reps={args.reps}, 1.6.2 from {args.nana16}")
    print(f"{'shape':10} {'mode':9} {'n':>6}  {'write ours':>10} {'1.6.2':>8} {'ratio':>6}  "
          f"{'read ours':>10} {'1.6.2':>8} {'ratio':>6}  GIL-free write enc/plain, read enc/plain")  # fmt: skip
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
                    f"{ours['write_enc']:>6.0%} {ours['write_plain']:>4.0%}  {ours['read_enc']:>6.0%} "
                    f"{ours['read_plain']:>4.0%}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
