"""Atomic read-modify-write: increment and patch, exact under threads and processes, errors as in 1.6."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import NanaSQLite, NanaSQLiteValidationError

from .conftest import run_nana16


def stored(path: str, key: str) -> Any:
    con = apsw.Connection(path)
    try:
        row = con.execute("SELECT value FROM data WHERE key = ?", (key,)).fetchone()
    finally:
        con.close()
    return None if row is None else json.loads(row[0])


# -- behaviour -----------------------------------------------------------------------------------------------


def test_increment_adds_and_returns_the_stored_number(db: NanaSQLite, db_path: str) -> None:
    db["n"] = 5
    assert db.increment("n") == 6
    assert db.increment("n", 10) == 16
    assert db.increment("n", -20) == -4
    assert db.increment("n", 0.5) == -3.5
    assert db["n"] == -3.5
    assert stored(db_path, "n") == -3.5


def test_increment_starts_a_missing_key_at_default(db: NanaSQLite, db_path: str) -> None:
    assert db.increment("new", default=0) == 1
    assert db.increment("new", default=100) == 2
    assert db.increment("other", 2.5, default=1) == 3.5
    assert stored(db_path, "new") == 2


def test_increment_of_a_missing_key_without_default_raises_key_error_and_writes_nothing(
    db: NanaSQLite, db_path: str
) -> None:
    with pytest.raises(KeyError, match="absent"):
        db.increment("absent")
    assert "absent" not in db
    assert stored(db_path, "absent") is None


def test_increment_of_a_field(db: NanaSQLite, db_path: str) -> None:
    db["stats"] = {"hits": 1, "name": "page"}
    assert db.increment("stats", field="hits") == {"hits": 2, "name": "page"}
    assert db.increment("stats", 3, field="misses", default=0) == {"hits": 2, "name": "page", "misses": 3}
    assert db.increment("fresh", field="hits", default=10) == {"hits": 11}
    assert db["stats"] == {"hits": 2, "name": "page", "misses": 3}
    assert stored(db_path, "fresh") == {"hits": 11}
    with pytest.raises(KeyError, match="nofield"):
        db.increment("stats", field="nofield")


def test_increment_returns_a_value_not_aliased_with_the_cache(db: NanaSQLite) -> None:
    db["d"] = {"n": 1}
    result = db.increment("d", field="n")
    result["n"] = 1000
    result["junk"] = True
    assert db["d"] == {"n": 2}
    assert db.get_fresh("d") == {"n": 2}


def test_increment_ignores_a_stale_cache(db: NanaSQLite, db_path: str) -> None:
    db["n"] = 1
    assert db["n"] == 1
    with NanaSQLite(db_path) as other:
        other["n"] = 100
    assert db.increment("n") == 101
    assert db["n"] == 101


def test_patch_merges_shallowly_and_returns_the_new_value(db: NanaSQLite, db_path: str) -> None:
    db["user"] = {"name": "Nana", "tags": ["a"], "address": {"city": "Tokyo", "zip": "1"}}
    result = db.patch("user", {"tags": ["b"], "address": {"city": "Osaka"}, "age": 20})
    assert result == {"name": "Nana", "tags": ["b"], "address": {"city": "Osaka"}, "age": 20}
    assert db["user"] == result
    assert stored(db_path, "user") == result
    assert db.patch("user", {}) == result


def test_patch_creates_a_missing_key_only_when_asked(db: NanaSQLite) -> None:
    with pytest.raises(KeyError, match="new"):
        db.patch("new", {"a": 1})
    assert "new" not in db
    assert db.patch("new", {"a": 1}, create=True) == {"a": 1}
    assert db["new"] == {"a": 1}


def test_patch_with_an_unstorable_value_changes_nothing(db: NanaSQLite, db_path: str) -> None:
    db["d"] = {"a": 1}
    with pytest.raises(TypeError, match="'d'"):
        db.patch("d", {"b": {1, 2}})
    assert db["d"] == {"a": 1}
    assert stored(db_path, "d") == {"a": 1}


def test_non_str_keys_are_rejected(db: NanaSQLite) -> None:
    # 1.6 raised KeyError here; a key that could never be stored is a TypeError like db[1] = v.
    with pytest.raises(TypeError):
        db.increment(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.patch(1, {"a": 1}, create=True)  # type: ignore[arg-type]
    assert len(db) == 0


# -- error cases, compared with 1.6 --------------------------------------------------------------------------

INITIAL = {"n": 5, "f": 1.5, "s": "x", "none": None, "b": True, "d": {"a": 1, "s": "x"}, "big": 1.7e308}
NAN = float("nan")
INF = float("inf")

# (method, key, args, kwargs)
CASES: list[tuple[str, str, list[Any], dict[str, Any]]] = [
    ("increment", "n", [], {}),
    ("increment", "n", [2.5], {}),
    ("increment", "n", [-10], {}),
    ("increment", "f", [1], {}),
    ("increment", "n", [2**62], {}),
    ("increment", "missing", [], {}),
    ("increment", "missing", [3], {"default": 10}),
    ("increment", "missing", [], {"default": 0.5}),
    ("increment", "s", [], {}),
    ("increment", "none", [], {}),
    ("increment", "b", [], {}),
    ("increment", "d", [], {}),
    ("increment", "n", [True], {}),
    ("increment", "n", ["1"], {}),
    ("increment", "n", [None], {}),
    ("increment", "n", [NAN], {}),
    ("increment", "n", [INF], {}),
    ("increment", "missing", [NAN], {}),
    ("increment", "big", [1.7e308], {}),
    ("increment", "missing", [], {"default": "x"}),
    ("increment", "missing", [], {"default": True}),
    ("increment", "missing", [], {"default": NAN}),
    ("increment", "d", [], {"field": "a"}),
    ("increment", "d", [5], {"field": "new", "default": 0}),
    ("increment", "d", [], {"field": "zz"}),
    ("increment", "d", [], {"field": "s"}),
    ("increment", "n", [], {"field": "a"}),
    ("increment", "none", [], {"field": "a"}),
    ("increment", "missing", [], {"field": "a"}),
    ("increment", "missing", [], {"field": "a", "default": 1}),
    ("increment", "d", [], {"field": ""}),
    ("increment", "d", [], {"field": 1}),
    ("patch", "d", [{"b": 2}], {}),
    ("patch", "d", [{"a": None}], {}),
    ("patch", "d", [{}], {}),
    ("patch", "missing", [{"a": 1}], {}),
    ("patch", "missing", [{"a": 1}], {"create": True}),
    ("patch", "n", [{"a": 1}], {}),
    ("patch", "none", [{"a": 1}], {}),
    ("patch", "s", [{"a": 1}], {"create": True}),
    ("patch", "d", [[["a", 1]]], {}),
    ("patch", "d", [None], {}),
]

# Runs every case on a fresh file and prints one outcome per case: the exception's class name (and, for
# KeyError, its argument) or the returned value, plus the value left in the file. Shared by both runs.
RUNNER = """
import json, os, sys
from nanasqlite import NanaSQLite
initial, cases = json.loads(sys.stdin.read())
out = []
for i, (method, key, args, kwargs) in enumerate(cases):
    path = os.path.join(os.getcwd(), f"case{i}.db")
    db = NanaSQLite(path)
    db.batch_update(initial)
    try:
        result = getattr(db, method)(key, *args, **kwargs)
        outcome = ["ok", result]
    except KeyError as exc:
        outcome = ["KeyError", exc.args[0]]
    except Exception as exc:
        outcome = [type(exc).__name__, None]
    db.close()
    db = NanaSQLite(path)
    out.append([outcome, db.get(key, "<absent>")])
    db.close()
print(json.dumps(out))
"""


def run_cases(tmp_path: Path, nana16: Path | None) -> list[Any]:
    import os
    import subprocess
    import sys

    stdin = json.dumps([INITIAL, CASES])
    if nana16 is not None:
        return json.loads(run_nana16(nana16, RUNNER, tmp_path, stdin))  # type: ignore[no-any-return]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", RUNNER], input=stdin, capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_increment_and_patch_outcomes_match_1_6(tmp_path: Path, nana16: Path) -> None:
    ours_dir = tmp_path / "ours"
    theirs_dir = tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours = run_cases(ours_dir, None)
    theirs = run_cases(theirs_dir, nana16)
    mismatches = [
        (case, mine, old)
        for case, mine, old in zip(CASES, ours, theirs, strict=True)
        if json.dumps(mine) != json.dumps(old)
    ]
    assert mismatches == []
    # The comparison is only meaningful if the cases really exercise both outcomes.
    kinds = {outcome[0][0] for outcome in ours}
    assert {"ok", "KeyError", "NanaSQLiteValidationError"} <= kinds


def test_validation_errors_of_increment_are_also_value_errors(db: NanaSQLite) -> None:
    db["s"] = "text"
    for call in (lambda: db.increment("s"), lambda: db.increment("s", "1"), lambda: db.patch("s", {})):
        with pytest.raises(NanaSQLiteValidationError):
            call()
        with pytest.raises(ValueError):
            call()


# -- atomicity -----------------------------------------------------------------------------------------------


def test_increments_from_many_threads_add_up_exactly(db: NanaSQLite, db_path: str) -> None:
    threads_n, per_thread = 8, 150
    db["counter"] = 0
    db["stats"] = {"hits": 0, "label": "x"}
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                db.increment("counter")
                db.increment("stats", field="hits")
                if i % 10 == 0:
                    db.patch("stats", {"label": threading.current_thread().name})
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert db["counter"] == threads_n * per_thread
    assert db["stats"]["hits"] == threads_n * per_thread
    assert stored(db_path, "counter") == threads_n * per_thread
    assert stored(db_path, "stats")["hits"] == threads_n * per_thread


def _increment_in_process(path: str, start: Any, count: int) -> None:
    start.wait()
    with NanaSQLite(path) as db:
        for _ in range(count):
            db.increment("counter", default=0)
            db.increment("stats", 2, field="hits", default=0)


def test_increments_from_several_processes_add_up_exactly(db: NanaSQLite, db_path: str) -> None:
    processes_n, per_process = 3, 150
    db["stats"] = {"hits": 0, "kept": "yes"}
    assert db["stats"]["hits"] == 0  # cached here: the final check must not answer from it
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_increment_in_process, args=(db_path, start, per_process)) for _ in range(processes_n)]
    for p in procs:
        p.start()
    start.set()
    for _ in range(per_process):  # this process takes part too
        db.increment("counter", default=0)
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * processes_n
    total = (processes_n + 1) * per_process
    assert db.get_fresh("counter") == total
    assert db.get_fresh("stats") == {"hits": 2 * processes_n * per_process, "kept": "yes"}
    assert stored(db_path, "counter") == total
