"""Write-back mode (1.6's ``v2_mode``): writes land in memory, a background thread commits them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import (
    AsyncNanaSQLite,
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteDatabaseError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
    V2Config,
)

from .conftest import file_data


@pytest.fixture
def wb(db_path: str) -> Iterator[NanaSQLite]:
    store = NanaSQLite(db_path, v2_mode=True, flush_mode="manual", v2_enable_metrics=True)
    yield store
    store.close()


def rows(path: str, table: str = "data") -> dict[str, str]:
    """The raw rows of the file, read by plain APSW (no cache of ours in between)."""
    con = apsw.Connection(path)
    con.set_busy_timeout(30_000)  # the store's connection may hold a lock for a moment (a checkpoint)
    try:
        return dict(con.execute(f'SELECT key, value FROM "{table}"').fetchall())
    except apsw.SQLError:
        return {}
    finally:
        con.close()


# -- configuration ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("flush_mode", "sometimes", "Invalid flush_mode: sometimes"),
        ("flush_interval", 0, "flush_interval must be a positive finite number"),
        ("flush_interval", float("inf"), "flush_interval must be a positive finite number"),
        ("flush_interval", True, "flush_interval must be a positive finite number"),
        ("flush_count", 0, "flush_count must be a positive integer"),
        ("flush_count", 1.5, "flush_count must be a positive integer"),
        ("chunk_size", -1, "chunk_size must be a positive integer"),
        ("max_dlq_size", 0, "max_dlq_size must be None or a positive integer"),
    ],
)
def test_v2config_validates_its_fields_with_1_6_messages(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        V2Config(**{field: value})
    assert isinstance(info.value, NanaSQLiteValidationError)


def test_v2config_defaults_are_1_6s() -> None:
    cfg = V2Config()
    assert (cfg.flush_mode, cfg.flush_interval, cfg.flush_count) == ("immediate", 3.0, 100)
    assert (cfg.chunk_size, cfg.max_dlq_size, cfg.enable_metrics) == (1000, 1000, False)
    assert V2Config(max_dlq_size=None).max_dlq_size is None


def test_bad_keywords_raise_before_the_file_is_touched(db_path: str) -> None:
    with pytest.raises(ValueError, match="Invalid flush_mode"):
        NanaSQLite(db_path, v2_mode=True, flush_mode="bogus")
    with pytest.raises(ValueError, match="chunk_size"):
        NanaSQLite(db_path, v2_mode=True, v2_chunk_size=0)
    with pytest.raises(NanaSQLiteTypeError):
        NanaSQLite(db_path, v2_mode=True, v2_config={"flush_mode": "manual"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="memory_first"):
        NanaSQLite(db_path, memory_first=True, cache_strategy="lru", cache_size=10)
    assert not os.path.exists(db_path)


def test_a_readonly_store_cannot_be_write_back(db_path: str) -> None:
    NanaSQLite(db_path).close()
    with pytest.raises(NanaSQLiteValidationError, match="readonly"):
        NanaSQLite(db_path, readonly=True, v2_mode=True)


def test_v2_config_overrides_the_separate_keywords(db_path: str) -> None:
    cfg = V2Config(flush_mode="manual", enable_metrics=True)
    with NanaSQLite(db_path, v2_mode=True, flush_mode="immediate", v2_config=cfg) as db:
        db["k"] = 1
        assert db.get_status()["pending_kvs_count"] == 1  # manual: nothing flushes it
        assert "flush_count" in db.get_v2_metrics()


def test_default_store_reports_immediate_mode_and_an_empty_queue(db: NanaSQLite) -> None:
    assert type(db) is NanaSQLite
    status = db.get_status()
    assert status["mode"] == "immediate" and status["pending_kvs_count"] == 0
    assert db.get_dlq() == [] and db.get_dlq_summary() == [] and db.get_v2_metrics() == {}
    db.retry_dlq()
    db.clear_dlq()


def test_a_write_back_store_is_a_nanasqlite(wb: NanaSQLite) -> None:
    assert isinstance(wb, NanaSQLite)
    assert repr(wb).startswith("NanaSQLite(")


# -- reads see pending writes ---------------------------------------------------------------------------------


def test_writes_wait_in_memory_and_reads_see_them(wb: NanaSQLite, db_path: str) -> None:
    wb["a"] = {"x": [1, 2]}
    wb["b"] = 2
    wb.batch_update({"c": 3, "d": "four"})
    assert rows(db_path) == {}  # manual: nothing written yet
    assert wb["a"] == {"x": [1, 2]} and wb.get("b") == 2 and "c" in wb
    assert wb.batch_get(["d", "zz", "a"]) == {"d": "four", "a": {"x": [1, 2]}}
    wb.clear_cache()  # the pending map answers without the cache
    assert wb["a"] == {"x": [1, 2]} and wb.batch_get(["c", "d"]) == {"c": 3, "d": "four"}
    assert wb.get_status()["pending_kvs_count"] == 4


def test_pending_deletes_hide_committed_rows(wb: NanaSQLite, db_path: str) -> None:
    wb.batch_update({"a": 1, "b": 2, "c": 3})
    wb.flush(wait=True)
    del wb["a"]
    wb.batch_delete(["b"])
    assert wb.pop("c") == 3
    with pytest.raises(KeyError):
        del wb["a"]
    assert rows(db_path) == {"a": "1", "b": "2", "c": "3"}
    wb.clear_cache()
    assert "a" not in wb and wb.get("b") is None and wb.batch_get(["a", "b", "c"]) == {}
    assert len(wb) == 0 and wb.keys() == []  # these flush first
    assert rows(db_path) == {}


def test_len_keys_items_and_iteration_flush_first(wb: NanaSQLite, db_path: str) -> None:
    wb.batch_update({f"k{i}": i for i in range(10)})
    assert len(wb) == 10
    assert wb.keys() == sorted(f"k{i}" for i in range(10))
    assert dict(wb.iter_items(3)) == {f"k{i}": i for i in range(10)}
    assert wb.to_dict() == {f"k{i}": i for i in range(10)}
    assert len(rows(db_path)) == 10


def test_sql_helpers_see_pending_writes(wb: NanaSQLite) -> None:
    wb["k"] = {"n": 5}
    assert wb.fetch_one("SELECT value FROM data WHERE key = ?", ("k",)) == ('{"n":5}',)
    assert wb.get_by_path("k", "$.n") == 5
    wb["j"] = 1
    wb.execute("DELETE FROM data WHERE key = 'k'")
    assert "k" not in wb and wb["j"] == 1


def test_a_bad_value_raises_at_the_call_and_records_nothing(wb: NanaSQLite) -> None:
    with pytest.raises(TypeError, match="'k'"):
        wb["k"] = object()
    with pytest.raises(ValueError, match="'bad'"):
        wb.batch_update({"ok": 1, "bad": float("nan")})
    with pytest.raises(TypeError):
        wb[1] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match="UTF-8"):
        wb["\ud800"] = 1
    assert wb.get_status()["pending_kvs_count"] == 0 and "ok" not in wb


def test_writes_do_not_alias_the_callers_object(wb: NanaSQLite) -> None:
    value = {"n": 1}
    wb["k"] = value
    value["n"] = 2
    wb.flush(wait=True)
    wb.clear_cache()
    assert wb["k"] == {"n": 1}


def test_increment_and_patch_commit_first_and_stay_atomic(wb: NanaSQLite, db_path: str) -> None:
    wb["n"] = 1
    assert wb.increment("n", 2) == 3
    wb["d"] = {"a": 1}
    assert wb.patch("d", {"b": 2}) == {"a": 1, "b": 2}
    assert rows(db_path) == {"n": "3", "d": '{"a":1,"b":2}'}


def test_clear_drops_pending_writes_of_its_table(wb: NanaSQLite, db_path: str) -> None:
    wb["old"] = 1
    wb.flush(wait=True)
    wb["new"] = 2
    wb.clear()
    wb.flush(wait=True)
    assert rows(db_path) == {} and len(wb) == 0


def test_sub_tables_share_the_flusher(wb: NanaSQLite, db_path: str) -> None:
    other = wb.table("other")
    other["x"] = 1
    wb["y"] = 2
    assert wb.get_status()["pending_kvs_count"] == 2
    wb.flush(wait=True)
    assert rows(db_path, "other") == {"x": "1"} and rows(db_path) == {"y": "2"}
    other["z"] = 3
    other.close()  # a sub-table commits its own writes when closed
    assert rows(db_path, "other") == {"x": "1", "z": "3"}


# -- flushing ---------------------------------------------------------------------------------------------------


def test_flush_wait_is_a_barrier_and_chunks_commit_through_the_kernel(db_path: str) -> None:
    with NanaSQLite(db_path, v2_mode=True, flush_mode="manual", v2_chunk_size=7, v2_enable_metrics=True) as db:
        db.batch_update({f"k{i:03}": i for i in range(100)})
        db.flush(wait=True)
        assert len(rows(db_path)) == 100
        metrics = db.get_v2_metrics()
        assert metrics["kvs_items_flushed"] == 100 and metrics["flush_count"] == 1
        assert metrics["current_staging_count"] == 0 and metrics["total_flush_time_ms"] > 0
        status = db.get_status()
        assert status["pending_kvs_count"] == 0 and status["last_successful_flush_time"] is not None


@pytest.mark.parametrize("mode", ["immediate", "count", "time"])
def test_the_background_thread_flushes_by_its_mode(db_path: str, mode: str) -> None:
    with NanaSQLite(db_path, v2_mode=True, flush_mode=mode, flush_count=5, flush_interval=0.05) as db:
        done = threading.Event()
        db.batch_update({f"k{i}": i for i in range(5)})
        # Wait for the thread (not flush(wait=True), which would flush on this thread).
        for _ in range(2000):
            if len(rows(db_path)) == 5:
                done.set()
                break
            done.wait(0.01)
        assert done.is_set(), db.get_status()


def test_manual_mode_writes_only_on_flush_and_close(db_path: str) -> None:
    db = NanaSQLite(db_path, v2_mode=True, flush_mode="manual")
    db["a"] = 1
    db.flush()  # started in the background
    db["b"] = 2
    db.close()
    assert rows(db_path) == {"a": "1", "b": "2"}


def test_normal_interpreter_exit_flushes(db_path: str) -> None:
    code = (
        "import sys; from nanasqlite import NanaSQLite\n"
        "db = NanaSQLite(sys.argv[1], v2_mode=True, flush_mode='manual')\n"
        "db.batch_update({f'k{i}': i for i in range(1000)})\n"
        "db['last'] = 'x'\n"
    )
    subprocess.run([sys.executable, "-c", code, db_path], check=True, timeout=120)
    data = file_data(db_path)
    assert len(data) == 1001 and data["last"] == "x"


def test_closed_store_raises_on_every_write_back_method(db_path: str) -> None:
    db = NanaSQLite(db_path, v2_mode=True)
    db.close()
    db.close()  # idempotent
    for call in (
        lambda: db.__setitem__("k", 1),
        lambda: db.flush(wait=True),
        db.get_dlq,
        db.get_dlq_summary,
        db.retry_dlq,
        db.clear_dlq,
        db.get_status,
        db.get_v2_metrics,
        lambda: db.batch_update({"k": 1}),
        lambda: len(db),
    ):
        with pytest.raises(NanaSQLiteClosedError):
            call()


# -- transactions --------------------------------------------------------------------------------------------


def test_a_transaction_commits_pending_writes_then_runs_on_the_file(wb: NanaSQLite, db_path: str) -> None:
    wb["before"] = 1
    with wb.transaction():
        assert rows(db_path) == {"before": "1"}  # committed on entry
        wb["inside"] = 2
        assert wb["inside"] == 2
    assert rows(db_path) == {"before": "1", "inside": "2"}
    with pytest.raises(RuntimeError), wb.transaction():
        wb["gone"] = 3
        raise RuntimeError
    assert "gone" not in wb and "gone" not in rows(db_path)
    assert wb.get_status()["pending_kvs_count"] == 0


# -- the dead-letter queue ----------------------------------------------------------------------------------


def _refuse_key(path: str, key: str) -> None:
    con = apsw.Connection(path)
    con.execute(
        f"CREATE TRIGGER no_{key} BEFORE INSERT ON data WHEN new.key = '{key}' "
        "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
    )
    con.close()


def test_only_the_refused_write_goes_to_the_dlq(wb: NanaSQLite, db_path: str) -> None:
    wb["seed"] = 0
    wb.flush(wait=True)
    _refuse_key(db_path, "bad")
    wb.batch_update({"a": 1, "bad": {"secret": "payload"}, "b": 2})
    wb.flush(wait=True)
    assert rows(db_path) == {"seed": "0", "a": "1", "b": "2"}
    dlq = wb.get_dlq()
    assert len(dlq) == 1 and "refused by trigger" in dlq[0]["error"]
    assert dlq[0]["item"] == (('"data"', "bad"), {"action": "set", "value": '{"secret":"payload"}'})
    summary = wb.get_dlq_summary()
    assert summary == [{"error": "write_failed", "timestamp": dlq[0]["timestamp"]}]
    assert "payload" not in repr(summary)
    status = wb.get_status()
    assert status["failed_count"] == 1 and status["failure_count"] == 1
    assert wb.get("bad") is None  # reads show what the file holds
    assert wb.get_v2_metrics()["dlq_errors"] == 1
    with pytest.raises(NanaSQLiteDatabaseError, match="dead-letter"):
        wb.backup(str(Path(db_path).with_name("copy.db")))
    wb.backup(str(Path(db_path).with_name("copy.db")), allow_incomplete=True)


def test_retry_and_clear_dlq(wb: NanaSQLite, db_path: str) -> None:
    wb["seed"] = 0
    wb.flush(wait=True)
    _refuse_key(db_path, "bad")
    wb["bad"] = 1
    wb.flush(wait=True)
    assert len(wb.get_dlq()) == 1
    con = apsw.Connection(db_path)
    con.execute("DROP TRIGGER no_bad")
    con.close()
    wb.retry_dlq()
    assert wb.get_dlq() == [] and wb["bad"] == 1
    wb.flush(wait=True)
    assert rows(db_path)["bad"] == "1"
    _refuse_key(db_path, "bad2")
    wb["bad2"] = 1
    wb.flush(wait=True)
    wb.clear_dlq()
    assert wb.get_dlq() == [] and wb.get_status()["failed_count"] == 0


def test_a_write_made_after_a_failure_supersedes_it(wb: NanaSQLite, db_path: str) -> None:
    wb["seed"] = 0
    wb.flush(wait=True)
    con = apsw.Connection(db_path)
    con.execute(
        "CREATE TRIGGER small BEFORE INSERT ON data WHEN new.key = 'k' AND CAST(new.value AS INTEGER) > 100 "
        "BEGIN SELECT RAISE(ABORT, 'too big'); END"
    )
    con.close()
    wb["k"] = 1000
    wb.flush(wait=True)
    wb["k"] = 5
    wb.flush(wait=True)
    wb.retry_dlq()  # the failed 1000 must not come back over 5
    wb.flush(wait=True)
    assert rows(db_path)["k"] == "5" and wb.get_dlq() == []


def test_the_dlq_is_bounded(db_path: str) -> None:
    with NanaSQLite(db_path, v2_mode=True, flush_mode="manual", v2_max_dlq_size=2) as db:
        db["seed"] = 0
        db.flush(wait=True)
        con = apsw.Connection(db_path)
        con.execute(
            "CREATE TRIGGER no BEFORE INSERT ON data WHEN new.key LIKE 'bad%' BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
        con.close()
        db.batch_update({"bad1": 1, "bad2": 2, "bad3": 3})
        db.flush(wait=True)
        assert [e["item"][0][1] for e in db.get_dlq()] == ["bad2", "bad3"]
        assert db.get_status()["dropped_failure_count"] == 1


# -- several processes, crashes -------------------------------------------------------------------------------

_WRITER = """
import sys
from nanasqlite import NanaSQLite
path, me, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = NanaSQLite(path, v2_mode=True, flush_mode="immediate", v2_chunk_size=50)
for i in range(count):
    db[f"p{me}-{i}"] = {"writer": me, "i": i, "pad": "x" * (i % 50)}
    if i % 500 == 0:
        db.flush(wait=True)
db.close()
"""


def test_four_writer_processes_lose_nothing(db_path: str) -> None:
    NanaSQLite(db_path).close()  # the file and its table exist before the writers race
    count = 3600
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, db_path, str(me), str(count)]) for me in range(4)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    data = file_data(db_path)
    assert len(data) == 4 * count
    for me in range(4):
        for i in range(0, count, 97):
            assert data[f"p{me}-{i}"] == {"writer": me, "i": i, "pad": "x" * (i % 50)}
    con = apsw.Connection(db_path)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


_CRASHER = """
import sys
from nanasqlite import NanaSQLite
path = sys.argv[1]
db = NanaSQLite(path, v2_mode=True, flush_mode="manual")
db.batch_update({f"k{i}": {"i": i, "text": "y" * 200} for i in range(5000)})
db.flush(wait=True)
for i in range(5000, 100000):
    db[f"k{i}"] = {"i": i, "text": "y" * 200}
    if i == 5000:
        print("flushed", flush=True)
    if i % 1000 == 0:
        db.flush()  # in the background, while the parent kills us
"""


def test_kill_9_keeps_everything_flushed_and_no_torn_values(db_path: str) -> None:
    with subprocess.Popen([sys.executable, "-c", _CRASHER, db_path], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "flushed"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    data = file_data(db_path)
    for i in range(5000):
        assert data[f"k{i}"] == {"i": i, "text": "y" * 200}
    for key, value in data.items():  # whatever else made it is whole
        assert value == {"i": int(key[1:]), "text": "y" * 200}
    con = apsw.Connection(db_path)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


def test_a_busy_database_is_retried_not_dropped(wb: NanaSQLite, db_path: str) -> None:
    wb["seed"] = 0
    wb.flush(wait=True)
    holder = apsw.Connection(db_path)
    holder.set_busy_timeout(0)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    wb["k"] = 1
    released = threading.Event()

    def release() -> None:
        released.wait()
        holder.execute("COMMIT")

    with NanaSQLite(db_path, v2_mode=True, flush_mode="manual", busy_timeout=0.05) as quick:
        quick["q"] = 1
        thread = threading.Thread(target=release)
        thread.start()
        timer = threading.Timer(0.3, released.set)
        timer.start()
        quick.flush(wait=True)  # several busy tries, then the lock is free
        thread.join()
        timer.join()
        assert quick.get_dlq() == [] and quick.get_status()["failed_count"] == 0
    wb.flush(wait=True)
    holder.close()
    assert rows(db_path) == {"seed": "0", "k": "1", "q": "1"}


# -- the async facade ------------------------------------------------------------------------------------------


def test_async_facade_takes_the_keywords_and_writes_resolve_in_memory(db_path: str) -> None:
    async def main() -> None:
        async with AsyncNanaSQLite(db_path, v2_mode=True, flush_mode="manual", v2_enable_metrics=True) as db:
            await db.aset("a", 1)
            await db.batch_update({"b": 2, "c": 3})
            assert rows(db_path) == {}  # resolved while only in memory
            assert await db.aget("a") == 1 and await db.abatch_get(["b", "c"]) == {"b": 2, "c": 3}
            assert (await db.aget_status())["pending_kvs_count"] == 3
            await db.aflush(wait=True)
            assert rows(db_path) == {"a": "1", "b": "2", "c": "3"}
            assert await db.aget_dlq() == [] and await db.aget_dlq_summary() == []
            assert (await db.aget_v2_metrics())["kvs_items_flushed"] == 3
            await db.aretry_dlq()
            await db.aclear_dlq()
            await db.aset("d", 4)
        assert rows(db_path)["d"] == "4"  # close flushed

    asyncio.run(main())


def test_the_readme_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", readme.split("## Write-back mode", 1)[1], re.S)
    assert match is not None
    monkeypatch.chdir(tmp_path)
    exec(compile(match.group(1), "README write-back", "exec"), {})
    assert file_data(str(tmp_path / "app.db")) == {"session:1": {"user": "nana"}}


def _wait_for(condition: Any, what: str) -> None:
    """Wait (on an event, up to 60 s) for the background thread to make ``condition()`` true."""
    done = threading.Event()
    for _ in range(6000):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_threads_writing_in_immediate_mode_are_all_committed_by_the_thread(db_path: str) -> None:
    with NanaSQLite(db_path, v2_mode=True, flush_mode="immediate", v2_chunk_size=64) as db:
        errors: list[BaseException] = []

        def writer(me: int) -> None:
            try:
                for i in range(1500):
                    db[f"t{me}-{i}"] = i
                    assert db[f"t{me}-{i}"] == i  # read-your-writes while the flusher runs
                    if i % 100 == 0:
                        db.batch_delete([f"t{me}-{i}"])
                        assert f"t{me}-{i}" not in db
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(me,)) for me in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        # No flush(wait=True): the background thread alone must get every write out.
        _wait_for(lambda: db.get_status()["pending_kvs_count"] == 0, "the flusher")
        expected = {f"t{me}-{i}": str(i) for me in range(4) for i in range(1500) if i % 100}
        _wait_for(lambda: rows(db_path) == expected, "the file")


def test_memory_first_loads_everything_and_flushes_on_a_timer(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        db.batch_update({"a": 1, "b": 2})
    with NanaSQLite(db_path, memory_first=True, memory_flush_interval=0.05) as db:
        assert db.is_cached("a") and db.is_cached("b")  # bulk loaded
        assert db.get_status()["mode"] == "write_back"
        db["c"] = 3
        _wait_for(lambda: rows(db_path).get("c") == "3", "the timer")


def test_async_transaction_commits_pending_writes_first(db_path: str) -> None:
    async def main() -> None:
        async with AsyncNanaSQLite(db_path, v2_mode=True, flush_mode="manual") as db:
            await db.aset("k", "pending")
            async with db.transaction():
                assert rows(db_path) == {"k": '"pending"'}
                await db.aset("k", "in transaction")
            await db.aflush(wait=True)
            assert rows(db_path) == {"k": '"in transaction"'}
            assert await db.aget("k") == "in transaction"

    asyncio.run(main())


@pytest.mark.parametrize("seed", range(4))
def test_random_operations_agree_with_a_dict_model(db_path: str, seed: int) -> None:
    """Reads, the file after each barrier, and the store after reopening all agree with a plain dict."""
    import random

    rnd = random.Random(seed)
    model: dict[str, Any] = {}
    keys = [f"k{i}" for i in range(40)]
    with NanaSQLite(db_path, v2_mode=True, flush_mode="count", flush_count=7, v2_chunk_size=5) as db:
        for step in range(600):
            op = rnd.randrange(10)
            key = rnd.choice(keys)
            if op < 4:
                value = {"step": step, "v": rnd.random()} if op else step
                db[key] = value
                model[key] = value
            elif op == 4:
                batch = {k: step for k in rnd.sample(keys, 5)}
                db.batch_update(batch)
                model.update(batch)
            elif op == 5:
                gone = rnd.sample(keys, 3)
                db.batch_delete(gone)
                for k in gone:
                    model.pop(k, None)
            elif op == 6:
                assert db.pop(key, "none") == model.pop(key, "none")
            elif op == 7:
                db.clear_cache()
            elif op == 8:
                db.flush(wait=True)
                assert {k: v for k, v in file_data(db_path).items()} == model, step
            else:
                assert db.batch_get(keys) == {k: model[k] for k in keys if k in model}, step
            assert db.get(key, "none") == model.get(key, "none"), step
        assert db.to_dict() == model and len(db) == len(model)
    assert file_data(db_path) == model


def test_flush_wait_covers_every_write_made_before_it_while_others_keep_writing(db_path: str) -> None:
    # Manual mode: only the barrier commits, while the other thread keeps adding writes behind it.
    with NanaSQLite(db_path, v2_mode=True, flush_mode="manual", v2_chunk_size=16) as db:
        written = [0]
        ready = threading.Event()

        def writer() -> None:
            for i in range(1, 20001):
                db[f"w{i:06d}"] = i
                written[0] = i  # after the write returned
                if i == 100:
                    ready.set()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            ready.wait()
            for _ in range(5):
                before = written[0]
                db.flush(wait=True)
                con = apsw.Connection(db_path)
                found = con.execute("SELECT COUNT(*) FROM data WHERE key <= ?", (f"w{before:06d}",)).fetchall()
                con.close()
                assert found == [(before,)]
        finally:
            thread.join()


def test_closed_stores_leave_no_flusher_or_thread_behind(tmp_path: Path) -> None:
    import gc

    from nanasqlite import _flusher

    before = {t.ident for t in threading.enumerate()}
    flushers, live = len(_flusher.FLUSHERS), len(_flusher._LIVE)
    for i in range(5):
        db = NanaSQLite(str(tmp_path / f"s{i}.db"), v2_mode=True)
        db["k"] = i
        db.close()
    del db
    gc.collect()
    assert len(_flusher.FLUSHERS) == flushers and len(_flusher._LIVE) == live
    assert {t.ident for t in threading.enumerate()} <= before


def test_a_store_nobody_closed_is_flushed_when_collected(db_path: str) -> None:
    import gc

    db = NanaSQLite(db_path, v2_mode=True, flush_mode="manual")
    db.batch_update({"a": 1, "b": 2})
    del db
    gc.collect()
    assert rows(db_path) == {"a": "1", "b": "2"}


def test_writes_do_not_wait_while_another_process_holds_the_write_lock(db_path: str) -> None:
    """The flusher waits for another writer in short tries and lets the store's lock go in between, so writes
    (which only touch memory) go on even with a busy_timeout of an hour."""
    NanaSQLite(db_path).close()
    holder = apsw.Connection(db_path)
    holder.execute("BEGIN IMMEDIATE")
    with NanaSQLite(db_path, v2_mode=True, flush_mode="immediate", busy_timeout=3600) as db:
        wrote = threading.Event()

        def writes() -> None:
            for i in range(300):
                db[f"k{i}"] = i  # each wakes the flusher, which finds the file locked
                assert db[f"k{i}"] == i
            wrote.set()

        thread = threading.Thread(target=writes, daemon=True)
        thread.start()
        assert wrote.wait(120), "a write waited for the other process's lock"  # a deadlock guard, not a timing
        holder.execute("COMMIT")
        holder.close()
        db.flush(wait=True)
        thread.join()
        assert db.get_dlq() == []
    assert len(rows(db_path)) == 300


def test_async_set_never_blocks_the_loop_on_a_held_store_lock(db_path: str) -> None:
    async def main() -> None:
        async with AsyncNanaSQLite(db_path, v2_mode=True, flush_mode="manual") as db:
            await db.aset("k", 0)
            await db.adelete("k")
            await db.aset("k", 1)  # in memory, on the loop: after the queued delete, not before it
            assert await db.aget("k") == 1
            sync = db.sync_db
            assert sync is not None
            holding, release = threading.Event(), threading.Event()
            gave_up = []

            def hold() -> None:
                with sync.transaction():  # this thread holds the store's lock
                    holding.set()
                    if not release.wait(60):
                        gave_up.append(True)  # the loop never got to release it: it was blocked

            thread = threading.Thread(target=hold)
            thread.start()
            holding.wait()
            setter = asyncio.create_task(db.aset("k", 2))
            await asyncio.sleep(0.01)  # aset ran until it had to wait, and gave the loop back
            release.set()
            await setter
            thread.join()
            assert gave_up == []
            assert await db.aget("k") == 2
            await db.aflush(wait=True)
        assert rows(db_path) == {"k": "2"}

    asyncio.run(main())
