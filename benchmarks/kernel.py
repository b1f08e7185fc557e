"""Proof benchmark of the batch kernel: GIL-free batches, thread scaling, and a busy event-loop-like thread.

Every measurement runs in a fresh subprocess per repetition, peers interleaved round-robin (A, B, C, A, B, C,
...) so that machine noise hits them alike; medians and min/max are reported with ratios.

    python benchmarks/kernel.py                      # all workloads, this machine's defaults
    python benchmarks/kernel.py --threads 1 2 4 16   # scaling on a bigger machine
    python benchmarks/kernel.py --json out.json

Peers: ``native`` (this package, compiled kernel), ``pure`` (this package, NANASQLITE_NO_EXTENSIONS=1),
``apsw+orjson`` (hand-written executemany of orjson-encoded values in one transaction), ``1.6.2`` (the public
package, installed with pip --target into a cache directory and put on PYTHONPATH).

How the fraction of time outside the GIL is measured, two ways:

- the clock: each call into the kernel gets a ``gate`` (the object the async workers' turn is passed as) that
  notes the time of its ``release()`` and ``acquire()``, which the kernel calls right before and right after its
  GIL-free block; the share is the sum of those spans over the wall time of the whole public call (the kernel
  and everything our Python does around it), idle machine. This is the definition, and it is steady.
- the probe: a probe thread counts iterations of a pure-Python loop, first alone, then while the main thread
  runs the batch. With the GIL released the probe runs on its own core at full speed, with it held the probe
  stops, so ``probe rate during / probe rate alone`` is the share of the batch's wall time during which other
  Python code could run; it also counts the GIL hand-over delays, and on a shared two-core VM, whose second
  core comes and goes, it is noisy. It needs at least two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nanasqlite-bench"

WORKER = textwrap.dedent(
    r"""
    import gc, json, os, sys, threading, time
    peer, workload, n, threads, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

    def values(count, salt=0):
        return {f"user:{salt}:{i}": {"name": f"User {i}", "age": i % 100, "tags": ["a", "b"], "score": i * 0.5}
                for i in range(count)}

    if peer == "apsw+orjson":
        import apsw, orjson
        def open_store(path):
            con = apsw.Connection(path)
            con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE IF NOT EXISTS data (key TEXT PRIMARY KEY, value TEXT)")
            return con
        def write(con, data):
            with con:
                con.executemany("INSERT OR REPLACE INTO data (key, value) VALUES (?, ?)",
                                [(k, orjson.dumps(v).decode()) for k, v in data.items()])
    else:
        from nanasqlite import NanaSQLite
        def open_store(path):
            return NanaSQLite(path)
        def write(db, data):
            db.batch_update(data)

    def probe(stop, counter):
        i = 0
        while not stop.is_set():
            i += 1
            if not i & 1023:
                counter[0] = i
        counter[0] = i

    def probe_rate(seconds):
        stop, counter = threading.Event(), [0]
        t = threading.Thread(target=probe, args=(stop, counter)); t0 = time.perf_counter(); t.start()
        time.sleep(seconds); stop.set(); t.join()
        return counter[0] / (time.perf_counter() - t0)

    result = {}
    if workload == "batch":
        store = open_store(os.path.join(tmp, "a.db")); data = values(n)
        t0 = time.perf_counter(); write(store, data); result["seconds"] = time.perf_counter() - t0
    elif workload == "busy":
        # Another thread runs Python the whole time, as an event loop or a web worker would.
        store = open_store(os.path.join(tmp, "a.db")); data = values(n)
        stop, counter = threading.Event(), [0]
        t = threading.Thread(target=probe, args=(stop, counter)); t.start()
        t0 = time.perf_counter(); write(store, data); result["seconds"] = time.perf_counter() - t0
        stop.set(); t.join()
    elif workload == "nogil":
        # (1) The probe: how fast another thread's Python loop runs during a batch, against alone.
        store = open_store(os.path.join(tmp, "a.db")); data = values(n)
        alone = probe_rate(0.5)
        stop, counter = threading.Event(), [0]
        t = threading.Thread(target=probe, args=(stop, counter))
        t0 = time.perf_counter(); t.start(); write(store, data); dt = time.perf_counter() - t0
        stop.set(); t.join()
        result["seconds"] = dt
        result["nogil_fraction"] = min(1.0, (counter[0] / dt) / alone)
        if peer == "native":
            # (2) The clock: every kernel call gets a gate (the API the async workers' turn uses) whose release()
            # and acquire() bracket the call's GIL-free block; the share is the time between them over the wall
            # time of the whole public call, on an idle machine.
            from nanasqlite import _native
            kernel = _native.bridge
            spans = []
            class Clock:
                def release(self): self.t = time.perf_counter()
                def acquire(self): spans.append(time.perf_counter() - self.t)
            def without_gc(fn, *args):
                gc.disable()
                try: return fn(*args)
                finally: gc.enable()
            def clocked(fn):
                return lambda *a, **kw: fn(*a, **{**kw, "gate": Clock()})
            for name in ("put_many", "delete_many", "get_many", "scan"):
                setattr(kernel, name, clocked(getattr(kernel, name)))
            from nanasqlite import NanaSQLite
            path = os.path.join(tmp, "b.db"); keys = list(data); random_keys = keys[:]
            __import__("random").Random(1).shuffle(random_keys)
            paths = {  # each opens a fresh store (its cache empty), which is part of the time of "bulk load"
                "batch_update": lambda db: db.batch_update(data),
                "batch_get (cold)": lambda db: db.batch_get(random_keys),
                # the same, with the cyclic GC off for the call: what the collector's passes over the new
                # values cost (the process holds this benchmark's 100k values besides)
                "batch_get (cold, GC off)": lambda db: without_gc(db.batch_get, random_keys),
                "bulk load": None,
                "batch_delete": lambda db: db.batch_delete(keys),
            }
            for label, run in paths.items():
                spans.clear(); t0 = time.perf_counter()
                db = NanaSQLite(path, bulk_load=run is None)
                if run is not None:
                    db = NanaSQLite(path); spans.clear(); t0 = time.perf_counter(); run(db)
                wall = time.perf_counter() - t0
                db.close()
                result[f"clock: {label}"] = sum(spans) / wall
    elif workload == "threads":
        # The same work (threads x n items, one file each): first one thread in turn, then all at once.
        stores = [open_store(os.path.join(tmp, f"t{i}.db")) for i in range(threads)]
        datas = [values(n, salt=i) for i in range(threads)]
        t0 = time.perf_counter()
        for s, d in zip(stores, datas):
            write(s, d)
        serial = time.perf_counter() - t0
        datas = [values(n, salt=i + threads) for i in range(threads)]
        workers = [threading.Thread(target=write, args=(s, d)) for s, d in zip(stores, datas)]
        t0 = time.perf_counter()
        for w in workers: w.start()
        for w in workers: w.join()
        parallel = time.perf_counter() - t0
        result["seconds"] = parallel
        result["scaling"] = serial / parallel
    elif workload == "procs":
        # The machine's own ceiling for the "threads" workload: the same writes from separate processes, which
        # share nothing (no GIL, no allocator), each started with its data built before the clock starts.
        import subprocess
        me = sys.orig_argv[sys.orig_argv.index("-c") + 1]  # this script
        def spawn(salt):
            p = subprocess.Popen([sys.executable, "-c", me, peer, "proc-child", str(n), str(salt), tmp],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline() == "ready\n"
            return p
        def go(p):
            p.stdin.write("go\n"); p.stdin.flush()
        def done(p):
            assert p.stdout.readline() == "done\n"; p.stdin.close(); p.wait()
        procs = [spawn(i) for i in range(threads)]
        t0 = time.perf_counter()
        for p in procs:
            go(p); done(p)
        serial = time.perf_counter() - t0
        procs = [spawn(i + threads) for i in range(threads)]
        t0 = time.perf_counter()
        for p in procs: go(p)
        for p in procs: done(p)
        parallel = time.perf_counter() - t0
        result["seconds"] = parallel
        result["scaling"] = serial / parallel
    elif workload == "proc-child":  # one process of "procs"; here the threads argument is its number
        store = open_store(os.path.join(tmp, f"p{threads}.db")); data = values(n, salt=threads)
        print("ready", flush=True); sys.stdin.readline()
        write(store, data)
        print("done", flush=True); sys.stdin.readline()
        sys.exit(0)
    print(json.dumps(result))
    """
)


def nana16_dir() -> Path:
    target = CACHE / "nana16"
    if not (target / "nanasqlite").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "nanasqlite==1.6.2"],
            check=True,
        )
    return target


def env_for(peer: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANASQLITE_")}
    if peer == "1.6.2":
        env["PYTHONPATH"] = str(nana16_dir())
    elif peer == "pure":
        env["NANASQLITE_NO_EXTENSIONS"] = "1"
    elif peer == "native":
        env["NANASQLITE_REQUIRE_EXTENSIONS"] = "1"
    return env


def run_once(peer: str, workload: str, n: int, threads: int, timeout: float) -> dict[str, float] | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            out = subprocess.run(
                [sys.executable, "-c", WORKER, peer, workload, str(n), str(threads), tmp],
                env=env_for(peer),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
        except subprocess.TimeoutExpired:
            return None
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"{peer}/{workload} failed:\n{exc.stderr}") from None
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(
    peers: list[str], workload: str, n: int, threads: int, reps: int, timeout: float, procs: bool = False
) -> dict[str, list]:
    """Samples per peer; with ``procs``, also the native build's "procs" workload, as peer "processes"."""
    results: dict[str, list] = {p: [] for p in peers}
    if procs:
        results["processes"] = []
    for _ in range(reps):
        for peer in peers:  # interleaved
            results[peer].append(run_once(peer, workload, n, threads, timeout))
        if procs:
            results["processes"].append(run_once("native", "procs", n, threads, timeout))
    return results


SECTIONS = ["batch", "busy", "nogil", "threads"]


def summary(samples: list, field: str) -> str:
    vals = [s[field] for s in samples if s is not None]
    if not vals:
        return "timed out"
    return f"{statistics.median(vals):.3g} ({min(vals):.3g}-{max(vals):.3g})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--thread-items", type=int, default=50_000)
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--busy-items-16", type=int, default=5_000, help="items for 1.6.2 under load (it is slow)")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="run only these sections")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import apsw

    report: dict[str, object] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": apsw.sqlite_lib_version(),
            "apsw": apsw.apsw_version(),
        }
    }
    print(f"# machine: {report['machine']}")
    n = args.items

    if "batch" in args.only:
        batch = measure(["native", "pure", "apsw+orjson", "1.6.2"], "batch", n, 1, args.reps, 600)
        report["batch"] = batch
        print(f"\nbatch_update of {n} items, idle, seconds median (min-max):")
        for peer, s in batch.items():
            print(f"  {peer:12} {summary(s, 'seconds')}")
    if "busy" in args.only:
        busy(args, n, report)
    if "nogil" in args.only:
        nogil = measure(["native", "pure"], "nogil", n, 1, args.reps, 600)
        report["nogil"] = nogil
        print("\nshare of batch_update wall time when another thread could run Python (probe method):")
        for peer, s in nogil.items():
            print(f"  {peer:12} {summary(s, 'nogil_fraction')}")
        print("share of each native batch path's wall time spent in its GIL-free block (clock method):")
        for field in [f for f in nogil["native"][0] if f.startswith("clock: ")]:
            print(f"  {field[7:]:24} {summary(nogil['native'], field)}")
    if "threads" in args.only:
        for t in args.threads:
            scale = measure(["native", "pure", "1.6.2"], "threads", args.thread_items, t, args.reps, 600, procs=True)
            report[f"threads_{t}"] = scale
            print(f"\n{t} threads x {args.thread_items} items into {t} files: serial time / parallel time:")
            for peer, s in scale.items():
                label = f"native, {t} processes instead (this machine's ceiling)" if peer == "processes" else peer
                print(f"  {label:12} {summary(s, 'scaling')}x")

    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def busy(args: argparse.Namespace, n: int, report: dict[str, object]) -> None:
    busy = measure(["native", "pure", "apsw+orjson"], "busy", n, 1, args.reps, 600)
    busy16 = measure(["1.6.2"], "busy", args.busy_items_16, 1, args.reps, 600)
    report["busy"] = {**busy, "1.6.2": busy16["1.6.2"], "1.6.2_items": args.busy_items_16}
    print("\nbatch_update while another thread runs Python, µs per item median (min-max):")
    for peer, s in busy.items():
        per = [x["seconds"] / n * 1e6 for x in s if x]
        print(f"  {peer:12} {statistics.median(per):.3g} ({min(per):.3g}-{max(per):.3g})")
    per16 = [x["seconds"] / args.busy_items_16 * 1e6 for x in busy16["1.6.2"] if x]
    print(
        f"  {'1.6.2':12} {statistics.median(per16):.3g} ({min(per16):.3g}-{max(per16):.3g})"
        f"   [{args.busy_items_16} items]"
    )


if __name__ == "__main__":
    main()
