"""Benchmark workloads: the performance targets of docs/bench/targets.md as code, on our store and on every peer.

A peer implements the workloads it has as ``w_<name>(files, **params)`` returning the seconds of its timed
region and the calls and items in it; the others are "n/a". ``bench_runner`` runs them: in this process for
``nanasqlite bench``, and in one subprocess per peer for the comparison, where this very file is the worker
script, answering JSON lines on stdin/stdout:
``{"workload": W, "params": P}`` -> ``{"ok": true, "seconds": s, "calls": c, "items": n}``.

Because a worker runs this file by path (the 1.6.2 package has the same import name as ours and comes first
on its ``PYTHONPATH``), it imports only the standard library at module level and nothing from its own
package: each peer imports its library when it starts.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, NamedTuple

__all__ = ["WORKLOADS", "ADAPTERS", "Files", "sizes", "run_workload", "worker_main"]

BASELINE = "nanasqlite-1.6.2"
BASELINE_VERSION = "1.6.2"
DEFAULT_BASELINE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "nanasqlite-bench", "nana16")
TABLE = "data"
_PUT = f"INSERT OR REPLACE INTO {TABLE} (key, value) VALUES (?, ?)"
_GET = f"SELECT value FROM {TABLE} WHERE key = ?"
_CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, value TEXT)"


class Workload(NamedTuple):
    name: str
    title: str
    full: int  # items per repetition at full size
    quick: int  # ... with --quick
    target: str  # as docs/bench/targets.md words it (a test keeps the two the same)
    ratio: float  # ours / 1.6.2 must reach this (or ours' own value, when ``absolute``)
    beat: tuple[str, float] | None = None  # (peer, f): ours must also beat that peer's median / f
    absolute: bool = False

    def rule(self) -> str:
        """How ``met`` is decided, in words (docs/bench/targets.md shows the same)."""
        if self.absolute:
            return f"ours >= {self.ratio:g}x"
        text = f"ours / 1.6.2 >= {self.ratio:g}"
        if self.beat is not None:
            peer, f = self.beat
            text += f" and ours > {peer}" + ("" if f == 1 else f" / {f:g}")
        return text


WORKLOADS: tuple[Workload, ...] = (
    Workload("set", "single autocommit set", 2_000, 500, ">= 1.0x", 1.0),
    Workload("get_cached", "cached get db[k]", 200_000, 50_000, ">= 3x, within 2x of dict", 3.0, ("dict", 2.0)),
    Workload("get_cold", "cold get db[k]", 10_000, 2_000, ">= 2x", 2.0),
    Workload("batch_write", "batch write", 100_000, 20_000, ">= 2x, > apsw+orjson", 2.0, ("apsw+orjson", 1.0)),
    # Every per-row GIL hand-off costs up to the switch interval here (~0.3 ms/row for APSW executemany
    # on the development machine), so the size is smaller than the table's 100k; the rate is per row.
    Workload("batch_write_busy", "batch write, a Python thread busy", 5_000, 1_000, ">= 10x", 10.0),
    Workload("batch_get", "batch get, cold", 10_000, 2_000, ">= 2x", 2.0),
    Workload("bulk_load", "bulk load (time to ready)", 100_000, 20_000, ">= 5x", 5.0),
    Workload(
        "async_gets",
        "async concurrent cold gets",
        1_000,
        1_000,
        ">= 4x, > aiosqlite",
        4.0,
        ("aiosqlite", 1.0),
    ),
    Workload("async_writers", "async 100 concurrent writers", 2_000, 500, ">= 5x", 5.0),
    Workload("scaling", "2 threads vs 1: batch write, 2 files", 50_000, 10_000, ">= 1.7x scaling", 1.7, None, True),
)
BY_NAME = {w.name: w for w in WORKLOADS}


def sizes(quick: bool, items: int | None = None) -> dict[str, dict[str, int]]:
    """The parameters of every workload; ``items`` caps every size (for smoke tests)."""
    out: dict[str, dict[str, int]] = {}
    for w in WORKLOADS:
        n = w.quick if quick else w.full
        if items is not None:
            n = max(1, min(n, items))
        if w.name == "async_writers":
            writers = min(100, n)
            out[w.name] = {"writers": writers, "per_writer": max(1, n // writers)}
        else:
            out[w.name] = {"n": n}
    return out


# -- data ------------------------------------------------------------------------------------------------


def _key(i: int) -> str:
    return f"key{i:08d}"


def _value(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"user{i}", "active": i % 2 == 0, "score": i / 4, "tags": ["red", "green"]}


def _items(n: int, start: int = 0) -> dict[str, Any]:
    return {_key(i): _value(i) for i in range(start, start + n)}


def _shuffled_keys(n: int) -> list[str]:
    keys = [_key(i) for i in range(n)]
    random.Random(n).shuffle(keys)
    return keys


def _lib(name: str) -> Any:
    return importlib.import_module(name)


def _version_of(name: str) -> str:
    """The version of an importable module, or "absent" (1.6.2 encodes with orjson when it is there)."""
    try:
        return str(getattr(_lib(name), "__version__", "?"))
    except ImportError:
        return "absent"


class NotAvailable(Exception):
    """The peer has no such operation."""


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"sanity check failed: {what}")


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
        if os.path.isfile(p):
            os.remove(p)


class Files:
    """Database paths: ``fresh`` ones for writes; ``populated`` ones, kept between repetitions, for reads.

    With ``fixed``, the main database is that path and the others are named after it.
    """

    def __init__(self, root: str, fixed: str | None = None) -> None:
        self.root = root
        self.fixed = fixed
        self.made: set[str] = set()
        self._populated: dict[tuple[str, int], str] = {}

    def fresh(self, tag: str = "a") -> str:
        if self.fixed is None:
            path = os.path.join(self.root, f"{tag}.db")
        else:
            path = self.fixed if tag == "a" else f"{self.fixed}.{tag}"
        _remove(path)
        self.made.add(path)
        self._populated = {k: v for k, v in self._populated.items() if v != path}
        return path

    def populated(self, n: int, fill: Callable[[str, int], None], kind: str = "kv") -> str:
        path = self._populated.get((kind, n))
        if path is None:
            path = self.fresh(f"{kind}{n}")
            fill(path, n)
            self._populated[(kind, n)] = path
        return path

    def cleanup(self, keep: str | None = None) -> None:
        for path in self.made:
            if path != keep:
                _remove(path)


@contextmanager
def _busy_python() -> Iterator[None]:
    """Another thread running a pure-Python loop for the duration (like an event loop with work to do)."""
    stop: list[bool] = []
    running = threading.Event()

    def spin() -> None:
        running.set()
        n = 0
        while not stop:
            n += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    running.wait()  # the caller gets the GIL back from a thread that is already spinning
    try:
        yield
    finally:
        stop.append(True)
        thread.join()


def _result(seconds: float, calls: int, items: int, value: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"seconds": seconds, "calls": calls, "items": items}
    if value is not None:
        out["value"] = value
    return out


# -- the payload matrix ----------------------------------------------------------------------------------
#
# ``python benchmarks/compare.py --matrix`` (``bench_matrix``) runs every path below on every payload shape:
# the workload ``matrix_<path>`` with the parameters ``{"shape": S, "n": N}``. Values are made by seeded
# generators, so that every peer writes and reads the same bytes.


class Shape(NamedTuple):
    name: str
    title: str
    full: int  # items of the filled store at full size
    quick: int


SHAPES: tuple[Shape, ...] = (
    Shape("scalars", "small scalars (int, short str)", 20_000, 4_000),
    Shape("records", "flat records, 8 fields, 4 floats", 20_000, 4_000),
    Shape("documents", "deep documents (non-ASCII, lists of dicts, prices)", 5_000, 1_000),
    Shape("vec128", "embeddings, 128 floats", 5_000, 1_000),
    Shape("vec768", "embeddings, 768 floats", 1_000, 300),
    Shape("text1k", "texts of 1 KB", 5_000, 1_000),
    Shape("text10k", "texts of 10-100 KB", 300, 60),
)
SHAPE_BY_NAME = {s.name: s for s in SHAPES}


class MatrixPath(NamedTuple):
    name: str
    title: str
    cap: int | None  # at most this many items per repetition (the single-row paths)


MATRIX_PATHS: tuple[MatrixPath, ...] = (
    MatrixPath("batch_write", "batch_update", None),
    MatrixPath("set", "single set", 1_000),
    MatrixPath("get_cold", "cold db[k]", 5_000),
    MatrixPath("batch_get", "batch_get cold", None),
    MatrixPath("bulk_load", "bulk load to ready", None),
    MatrixPath("bulk_read", "bulk load + read all", None),
    MatrixPath("async_get", "async cold aget", 1_000),
)
MATRIX_PATH_BY_NAME = {p.name: p for p in MATRIX_PATHS}

_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda")
_NON_ASCII = ("café", "naïve", "東京", "Zürich", "日本語のテキスト", "Ελληνικά", "emoji 🙂", "Ærø")


def _text(rng: random.Random, size: int) -> str:
    """About ``size`` characters of words, with some punctuation and newlines, ASCII only."""
    parts: list[str] = []
    total = 0
    while total < size:
        word = rng.choice(_WORDS)
        sep = rng.choice((" ", " ", " ", ", ", ". ", "\n"))
        parts.append(word + sep)
        total += len(word) + len(sep)
    return "".join(parts)[:size]


def shape_value(shape: str, i: int) -> Any:
    """The ``i``-th value of ``shape``; the same on every call and in every process."""
    rng = random.Random(f"{shape}:{i}")
    if shape == "scalars":
        return i * 7919 - 50_000 if i % 2 == 0 else f"s{i:x}-{rng.choice(_WORDS)}"
    if shape == "records":
        return {
            "id": i,
            "name": f"user{i}",
            "active": i % 3 == 0,
            "lat": rng.uniform(-90, 90),
            "lon": rng.uniform(-180, 180),
            "score": rng.random() * 100,
            "ratio": rng.random(),
            "country": rng.choice(("JP", "DE", "US", "FR")),
        }
    if shape == "documents":
        return {
            "id": i,
            "title": f"{rng.choice(_NON_ASCII)} {rng.choice(_WORDS)} #{i}",
            "author": {"name": rng.choice(_NON_ASCII), "verified": rng.random() < 0.5},
            "items": [
                {
                    "sku": f"SKU-{rng.randrange(10**6):06d}",
                    "price": round(rng.uniform(0.5, 500), 2),
                    "qty": rng.randrange(1, 9),
                }
                for _ in range(rng.randrange(2, 6))
            ],
            "tags": [rng.choice(_WORDS) for _ in range(3)],
            "note": rng.choice(_NON_ASCII) + " " + _text(rng, 60),
            "rating": None if i % 5 == 0 else round(rng.uniform(1, 5), 1),
        }
    if shape in ("vec128", "vec768"):
        return [rng.gauss(0.0, 0.1) for _ in range(int(shape[3:]))]
    if shape == "text1k":
        return _text(rng, 1_000)
    if shape == "text10k":
        return _text(rng, rng.randrange(10_000, 100_001))
    raise ValueError(f"unknown shape {shape!r}")


def shape_items(shape: str, n: int) -> dict[str, Any]:
    return {_key(i): shape_value(shape, i) for i in range(n)}


def _check(got: Any, shape: str, key: str) -> None:
    _expect(got == shape_value(shape, int(key[3:])), "the value read back")


def _matrix_keys(n: int, cap: int | None) -> list[str]:
    """The keys that a path reads or writes: all ``n`` shuffled, or the first ``cap`` of them."""
    keys = _shuffled_keys(n)
    return keys if cap is None else keys[:cap]


# -- peers -----------------------------------------------------------------------------------------------
#
# A peer implements the workloads it has as ``w_<name>(files, **params)``; the rest are "n/a". Timed regions
# call each library's natural API directly (``store[k] = v``), never through an adapter method, so that the
# per-call overhead is the library's own.


class MappingPeer:
    """A store that is a mapping: ``store[k] = v`` commits, ``store[k]`` reads, ``put_many`` is one batch."""

    def versions(self) -> dict[str, str]:
        return {}

    def open(self, path: str) -> Any:
        raise NotImplementedError

    def close(self, store: Any) -> None:
        store.close()

    def count(self, store: Any) -> int:
        return len(store)

    def put_many(self, store: Any, mapping: dict[str, Any]) -> None:
        raise NotImplementedError

    def fill(self, path: str, n: int) -> None:
        store = self.open(path)
        self.put_many(store, _items(n))
        self.close(store)

    # -- the matrix (see ``SHAPES``) --

    def filled(self, files: Files, shape: str, n: int) -> str:
        """A store holding the first ``n`` values of ``shape`` (made once per worker)."""

        def fill(path: str, m: int) -> None:
            store = self.open(path)
            self.put_many(store, shape_items(shape, m))
            self.close(store)

        return files.populated(n, fill, kind="m-" + shape)

    def w_matrix_batch_write(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        data = shape_items(shape, n)
        store = self.open(files.fresh())
        t0 = time.perf_counter()
        self.put_many(store, data)
        dt = time.perf_counter() - t0
        _expect(self.count(store) == n, "all keys written")
        self.close(store)
        return _result(dt, 1, n)

    # Each workload below is written once, for the classic record and for every matrix shape; what a peer's
    # library does in the timed region is in the _timed_* methods, which the APSW peer overrides.

    def _timed_sets(self, path: str, pairs: list[tuple[str, Any]]) -> float:
        store = self.open(path)
        t0 = time.perf_counter()
        for k, v in pairs:
            store[k] = v
        dt = time.perf_counter() - t0
        _expect(self.count(store) == len(pairs), "all keys written")
        self.close(store)
        return dt

    def _timed_gets(self, path: str, keys: list[str]) -> tuple[float, Any]:
        store = self.open(path)
        t0 = time.perf_counter()
        for k in keys:
            v = store[k]
        dt = time.perf_counter() - t0
        self.close(store)
        return dt, v

    def w_set(self, files: Files, n: int) -> dict[str, Any]:
        dt = self._timed_sets(files.fresh(), list(_items(n).items()))
        return _result(dt, n, n)

    def w_matrix_set(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        m = min(n, MATRIX_PATH_BY_NAME["set"].cap or n)
        dt = self._timed_sets(files.fresh(), list(shape_items(shape, m).items()))
        return _result(dt, m, m)

    def w_get_cold(self, files: Files, n: int) -> dict[str, Any]:
        keys = _shuffled_keys(n)
        dt, v = self._timed_gets(files.populated(n, self.fill), keys)
        _expect(v == _value(int(keys[-1][3:])), "the value read back")
        return _result(dt, n, n)

    def w_matrix_get_cold(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        keys = _matrix_keys(n, MATRIX_PATH_BY_NAME["get_cold"].cap)
        dt, v = self._timed_gets(self.filled(files, shape, n), keys)
        _check(v, shape, keys[-1])
        return _result(dt, len(keys), len(keys))

    def _batch_write(self, files: Files, n: int, busy: bool) -> dict[str, Any]:
        data = _items(n)
        store = self.open(files.fresh())
        with _busy_python() if busy else nullcontext():
            t0 = time.perf_counter()
            self.put_many(store, data)
            dt = time.perf_counter() - t0
        _expect(self.count(store) == n, "all keys written")
        self.close(store)
        return _result(dt, 1, n)

    def w_batch_write(self, files: Files, n: int) -> dict[str, Any]:
        return self._batch_write(files, n, busy=False)

    def w_batch_write_busy(self, files: Files, n: int) -> dict[str, Any]:
        return self._batch_write(files, n, busy=True)

    def w_scaling(self, files: Files, n: int) -> dict[str, Any]:
        """Throughput of two threads writing a batch each into two files, over one thread writing one."""
        one, two = _items(n), _items(n, n)
        store = self.open(files.fresh("s1"))
        t0 = time.perf_counter()
        self.put_many(store, one)
        single = time.perf_counter() - t0
        self.close(store)
        stores = [self.open(files.fresh("s2")), self.open(files.fresh("s3"))]
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def job(store: Any, data: dict[str, Any]) -> None:
            barrier.wait()
            try:
                self.put_many(store, data)
            except BaseException as exc:  # re-raised in the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=job, args=(s, d)) for s, d in zip(stores, (one, two), strict=True)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        double = time.perf_counter() - t0
        if errors:
            raise errors[0]
        for s in stores:
            _expect(self.count(s) == n, "all keys written")
            self.close(s)
        return _result(double, 2, 2 * n, value=2 * single / double)


class BatchReads:
    """The batch read and bulk load workloads, on ``_timed_batch_get`` and ``_timed_bulk_load`` of the peer."""

    fill: Any
    filled: Any

    def _timed_batch_get(self, path: str, keys: list[str]) -> tuple[float, dict[str, Any]]:
        raise NotImplementedError

    def _timed_bulk_load(self, path: str, n: int) -> float:
        raise NotImplementedError

    def w_batch_get(self, files: Files, n: int) -> dict[str, Any]:
        dt, got = self._timed_batch_get(files.populated(n, self.fill), _shuffled_keys(n))
        _expect(len(got) == n, "every key found")
        return _result(dt, 1, n)

    def w_matrix_batch_get(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        keys = _shuffled_keys(n)
        dt, got = self._timed_batch_get(self.filled(files, shape, n), keys)
        _expect(len(got) == n, "every key found")
        _check(got[keys[-1]], shape, keys[-1])
        return _result(dt, 1, n)

    def w_bulk_load(self, files: Files, n: int) -> dict[str, Any]:
        return _result(self._timed_bulk_load(files.populated(n, self.fill), n), 1, n)

    def w_matrix_bulk_load(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        return _result(self._timed_bulk_load(self.filled(files, shape, n), n), 1, n)


class NanaPeer(BatchReads, MappingPeer):
    """Our store, or the 1.6.2 package: whichever ``nanasqlite`` the worker's path finds (same API)."""

    def __init__(self) -> None:
        self.lib = _lib("nanasqlite")
        self.NanaSQLite = self.lib.NanaSQLite

    def versions(self) -> dict[str, str]:
        apsw = _lib("apsw")
        return {
            "nanasqlite": str(self.lib.__version__),
            "native": str(getattr(self.lib, "NATIVE", "n/a")),
            "apsw": apsw.apsw_version(),
            "sqlite": apsw.sqlite_lib_version(),
            "path": os.path.dirname(self.lib.__file__),
            "orjson": _version_of("orjson"),
        }

    def open(self, path: str) -> Any:
        return self.NanaSQLite(path)

    def put_many(self, store: Any, mapping: dict[str, Any]) -> None:
        store.batch_update(mapping)

    def w_get_cached(self, files: Files, n: int) -> dict[str, Any]:
        m = min(n, 10_000)
        passes = max(1, n // m)
        keys = _shuffled_keys(m)
        store = self.open(files.populated(m, self.fill))
        for k in sorted(keys):  # decode once, in key order as the dict peer's dict: timed reads are all hits
            v = store[k]
        t0 = time.perf_counter()
        for _ in range(passes):
            for k in keys:
                v = store[k]
        dt = time.perf_counter() - t0
        _expect(v == _value(int(keys[-1][3:])), "the value read back")
        self.close(store)
        return _result(dt, m * passes, m * passes)

    def _timed_batch_get(self, path: str, keys: list[str]) -> tuple[float, dict[str, Any]]:
        store = self.open(path)
        t0 = time.perf_counter()
        got = store.batch_get(keys)
        dt = time.perf_counter() - t0
        self.close(store)
        return dt, got

    def _timed_bulk_load(self, path: str, n: int) -> float:
        t0 = time.perf_counter()
        store = self.NanaSQLite(path, bulk_load=True)
        dt = time.perf_counter() - t0
        _expect(store.is_cached(_key(n - 1)), "bulk load filled the cache")
        self.close(store)
        return dt

    def w_matrix_bulk_read(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        """Bulk load, then every value read once: the first decode of every row is in the timed region."""
        path = self.filled(files, shape, n)
        keys = _shuffled_keys(n)
        t0 = time.perf_counter()
        store = self.NanaSQLite(path, bulk_load=True)
        for k in keys:
            v = store[k]
        dt = time.perf_counter() - t0
        _check(v, shape, keys[-1])
        self.close(store)
        return _result(dt, 1, n)

    def _timed_async_gets(self, path: str, keys: list[str]) -> tuple[float, list[Any]]:
        """Every key read by its own task, all at once, on the async store."""
        cls = self._async_class()

        async def main() -> tuple[float, list[Any]]:
            async with cls(path) as db:
                t0 = time.perf_counter()
                values = await asyncio.gather(*(db.aget(k) for k in keys))
                return time.perf_counter() - t0, values

        return asyncio.run(main())

    def w_matrix_async_get(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        keys = _matrix_keys(n, MATRIX_PATH_BY_NAME["async_get"].cap)
        dt, values = self._timed_async_gets(self.filled(files, shape, n), keys)
        _check(values[-1], shape, keys[-1])
        return _result(dt, len(keys), len(keys))

    def _async_class(self) -> Any:
        cls = getattr(self.lib, "AsyncNanaSQLite", None)
        if cls is None:
            raise NotAvailable("this build has no AsyncNanaSQLite")
        return cls

    def w_async_gets(self, files: Files, n: int) -> dict[str, Any]:
        dt, values = self._timed_async_gets(files.populated(n, self.fill), _shuffled_keys(n))
        _expect(all(v is not None for v in values), "every key found")
        return _result(dt, n, n)

    def w_async_writers(self, files: Files, writers: int, per_writer: int) -> dict[str, Any]:
        cls = self._async_class()
        path = files.fresh()

        async def main() -> float:
            async with cls(path) as db:

                async def writer(w: int) -> None:
                    for j in range(per_writer):
                        await db.aset(f"w{w:03d}-{j:06d}", _value(j))

                t0 = time.perf_counter()
                await asyncio.gather(*(writer(w) for w in range(writers)))
                return time.perf_counter() - t0

        dt = asyncio.run(main())
        total = writers * per_writer
        store = self.open(path)
        _expect(len(store) == total, "every write committed")
        self.close(store)
        return _result(dt, total, total)


class SqliteDictPeer(MappingPeer):
    def __init__(self) -> None:
        self.lib = _lib("sqlitedict")

    def versions(self) -> dict[str, str]:
        return {"sqlitedict": str(self.lib.__version__)}

    def open(self, path: str) -> Any:
        return self.lib.SqliteDict(path, autocommit=True, journal_mode="WAL")

    def put_many(self, store: Any, mapping: dict[str, Any]) -> None:
        store.update(mapping)  # one executemany, committed (autocommit) before it returns


class DiskCachePeer(MappingPeer):
    def __init__(self) -> None:
        self.lib = _lib("diskcache")

    def versions(self) -> dict[str, str]:
        return {"diskcache": str(self.lib.__version__)}

    def open(self, path: str) -> Any:
        return self.lib.Cache(path)  # a directory; WAL and synchronous=NORMAL by default

    def put_many(self, store: Any, mapping: dict[str, Any]) -> None:
        with store.transact():
            for k, v in mapping.items():
                store[k] = v


class ApswPeer(BatchReads, MappingPeer):
    """The floor: hand-written APSW with orjson, values bound as the bytes orjson returns."""

    def __init__(self) -> None:
        self.apsw = _lib("apsw")
        self.orjson = _lib("orjson")

    def versions(self) -> dict[str, str]:
        return {
            "apsw": self.apsw.apsw_version(),
            "sqlite": self.apsw.sqlite_lib_version(),
            "orjson": str(self.orjson.__version__),
        }

    def open(self, path: str) -> Any:
        con = self.apsw.Connection(path)
        con.execute("PRAGMA journal_mode = WAL").fetchall()
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute(_CREATE)
        return con

    def count(self, store: Any) -> int:
        return int(store.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def put_many(self, store: Any, mapping: dict[str, Any]) -> None:
        dumps = self.orjson.dumps
        with store:
            store.executemany(_PUT, ((k, dumps(v)) for k, v in mapping.items()))

    def _timed_sets(self, path: str, pairs: list[tuple[str, Any]]) -> float:
        con = self.open(path)
        dumps = self.orjson.dumps
        t0 = time.perf_counter()
        for k, v in pairs:
            con.execute(_PUT, (k, dumps(v)))
        dt = time.perf_counter() - t0
        _expect(self.count(con) == len(pairs), "all keys written")
        con.close()
        return dt

    def _timed_gets(self, path: str, keys: list[str]) -> tuple[float, Any]:
        con = self.open(path)
        loads = self.orjson.loads
        cursor = con.cursor()
        t0 = time.perf_counter()
        for k in keys:
            v = loads(cursor.execute(_GET, (k,)).fetchone()[0])
        dt = time.perf_counter() - t0
        con.close()
        return dt, v

    def _timed_batch_get(self, path: str, keys: list[str]) -> tuple[float, dict[str, Any]]:
        con = self.open(path)
        loads = self.orjson.loads
        t0 = time.perf_counter()
        got = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            sql = f"SELECT key, value FROM {TABLE} WHERE key IN ({','.join('?' * len(chunk))})"
            for k, text in con.execute(sql, chunk):
                got[k] = loads(text)
        dt = time.perf_counter() - t0
        con.close()
        return dt, got

    def _timed_bulk_load(self, path: str, n: int) -> float:
        t0 = time.perf_counter()
        con = self.open(path)
        raw = dict(con.execute(f"SELECT key, value FROM {TABLE}"))  # decoded on first use, as ours
        dt = time.perf_counter() - t0
        _expect(len(raw) == n, "every row loaded")
        con.close()
        return dt

    def w_matrix_bulk_read(self, files: Files, shape: str, n: int) -> dict[str, Any]:
        path = self.filled(files, shape, n)
        keys = _shuffled_keys(n)
        loads = self.orjson.loads
        t0 = time.perf_counter()
        con = self.open(path)
        raw = dict(con.execute(f"SELECT key, value FROM {TABLE}"))
        for k in keys:
            v = loads(raw[k])
        dt = time.perf_counter() - t0
        _check(v, shape, keys[-1])
        con.close()
        return _result(dt, 1, n)


class AiosqlitePeer:
    """aiosqlite on the same table, values as stdlib JSON text; one connection shared by every task."""

    def __init__(self) -> None:
        self.lib = _lib("aiosqlite")

    def versions(self) -> dict[str, str]:
        import sqlite3

        return {"aiosqlite": str(self.lib.__version__), "sqlite": sqlite3.sqlite_version}

    def _fill(self, path: str, n: int) -> None:
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute(_CREATE)
        con.executemany(_PUT, ((k, json.dumps(v)) for k, v in _items(n).items()))
        con.commit()
        con.close()

    async def _connect(self, path: str) -> Any:
        con = await self.lib.connect(path)
        await con.execute("PRAGMA journal_mode = WAL")
        await con.execute("PRAGMA synchronous = NORMAL")
        return con

    def w_async_gets(self, files: Files, n: int) -> dict[str, Any]:
        path = files.populated(n, self._fill, kind="aio")
        keys = _shuffled_keys(n)

        async def main() -> tuple[float, list[Any]]:
            con = await self._connect(path)

            async def get(k: str) -> Any:
                rows = await con.execute_fetchall(_GET, (k,))  # its one-round-trip read
                return json.loads(next(iter(rows))[0])

            try:
                t0 = time.perf_counter()
                values = await asyncio.gather(*(get(k) for k in keys))
                return time.perf_counter() - t0, values
            finally:
                await con.close()

        dt, values = asyncio.run(main())
        _expect(len(values) == n, "every key found")
        return _result(dt, n, n)

    def w_async_writers(self, files: Files, writers: int, per_writer: int) -> dict[str, Any]:
        path = files.fresh()
        self._fill(path, 0)

        async def main() -> tuple[float, int]:
            con = await self._connect(path)

            async def writer(w: int) -> None:
                for j in range(per_writer):
                    await con.execute(_PUT, (f"w{w:03d}-{j:06d}", json.dumps(_value(j))))
                    await con.commit()

            try:
                t0 = time.perf_counter()
                await asyncio.gather(*(writer(w) for w in range(writers)))
                dt = time.perf_counter() - t0
                async with con.execute(f"SELECT COUNT(*) FROM {TABLE}") as cursor:
                    row = await cursor.fetchone()
                return dt, int(row[0])
            finally:
                await con.close()

        dt, count = asyncio.run(main())
        total = writers * per_writer
        _expect(count == total, "every write committed")
        return _result(dt, total, total)


class DictPeer:
    """A plain dict: the limit for a cache hit."""

    def versions(self) -> dict[str, str]:
        return {"python": platform.python_version()}

    def w_get_cached(self, files: Files, n: int) -> dict[str, Any]:
        m = min(n, 10_000)
        passes = max(1, n // m)
        keys = _shuffled_keys(m)
        store = _items(m)
        t0 = time.perf_counter()
        for _ in range(passes):
            for k in keys:
                v = store[k]
        dt = time.perf_counter() - t0
        _expect(v == _value(int(keys[-1][3:])), "the value read back")
        return _result(dt, m * passes, m * passes)


ADAPTERS: dict[str, Callable[[], Any]] = {
    "nanasqlite": NanaPeer,
    "sqlitedict": SqliteDictPeer,
    "diskcache": DiskCachePeer,
    "aiosqlite": AiosqlitePeer,
    "apsw": ApswPeer,
    "dict": DictPeer,
}


def run_workload(peer: Any, files: Files, workload: str, params: dict[str, int]) -> dict[str, Any]:
    """One repetition of ``workload`` on ``peer``: ``{"ok": True, ...timings}``, n/a, or the error."""
    fn = getattr(peer, "w_" + workload, None)
    if fn is None:
        return {"ok": False, "na": True}
    gc.collect()
    try:
        return {"ok": True, **fn(files, **params)}
    except NotAvailable as exc:
        return {"ok": False, "na": True, "why": str(exc)}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


#: The optional libraries of the peers; the ``bench`` extra installs every one of them.
BENCH_EXTRA = ("sqlitedict", "diskcache", "aiosqlite", "orjson")


def missing_module(exc: ModuleNotFoundError) -> str:
    """Why a peer cannot start, and what installs what it lacks."""
    name = (exc.name or "").partition(".")[0]
    if name in BENCH_EXTRA:
        return f"{name} is not installed: pip install {name}, or every peer with pip install 'nanasqlite[bench]'"
    return f"{type(exc).__name__}: {exc}"


def worker_main(adapter: str) -> None:
    """The subprocess side of the comparison: answer requests from stdin until EOF."""
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever a library prints must not corrupt the protocol

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    root = tempfile.mkdtemp(prefix="nanasqlite-bench-")
    try:
        try:
            peer = ADAPTERS[adapter]()
            reply({"ok": True, "versions": peer.versions()})
        except ModuleNotFoundError as exc:
            reply({"ok": False, "error": missing_module(exc)})
            return
        except Exception as exc:
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        files = Files(root)
        for line in sys.stdin:
            request = json.loads(line)
            reply(run_workload(peer, files, request["workload"], request["params"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
