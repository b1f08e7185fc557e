"""AsyncNanaSQLite: the API and its semantics, on real files, real threads and real event loops.

Concurrency, group commit, the cache-fill race, cancellation and closing are in ``test_async_concurrency.py``.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import (
    AsyncNanaSQLite,
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteConnectionError,
    NanaSQLiteDatabaseError,
    NanaSQLiteTransactionError,
    NanaSQLiteValidationError,
)

from .conftest import file_data


@pytest.fixture
async def adb(db_path: str) -> AsyncIterator[AsyncNanaSQLite]:
    async with AsyncNanaSQLite(db_path) as store:
        yield store


# -- the mapping API --------------------------------------------------------------------------------------------


async def test_dict_methods_round_trip_to_the_file(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("user", {"name": "Nana", "tags": ["a", "é"]})
    await adb.aupdate({"a": 1, "b": 2}, c=3)
    assert await adb.aget("user") == {"name": "Nana", "tags": ["a", "é"]}
    assert await adb.aget("missing") is None
    assert await adb.aget("missing", "dflt") == "dflt"
    assert await adb.acontains("a") and not await adb.acontains("missing")
    assert await adb.alen() == 4
    assert await adb.akeys() == ["a", "b", "c", "user"]
    assert await adb.avalues() == [1, 2, 3, {"name": "Nana", "tags": ["a", "é"]}]
    assert (await adb.aitems())[0] == ("a", 1)
    assert await adb.apop("a") == 1
    assert await adb.apop("a", "gone") == "gone"
    assert await adb.asetdefault("b", 99) == 2
    assert await adb.asetdefault("d", 4) == 4
    assert await adb.apopitem() == ("b", 2)
    await adb.adelete("c")
    assert await adb.to_dict() == await adb.copy() == {"d": 4, "user": {"name": "Nana", "tags": ["a", "é"]}}
    assert file_data(db_path) == {"d": 4, "user": {"name": "Nana", "tags": ["a", "é"]}}
    await adb.aclear()
    assert await adb.alen() == 0
    assert file_data(db_path) == {}


async def test_batches_increment_patch_and_models(adb: AsyncNanaSQLite, db_path: str) -> None:
    pydantic = pytest.importorskip("pydantic")

    class User(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        name: str
        age: int

    await adb.batch_update({f"k{i}": i for i in range(100)})
    failed = await adb.batch_update_partial({"ok": 1, "bad": {1, 2}})
    assert list(failed) == ["bad"] and await adb.aget("ok") == 1 and await adb.aget("bad") is None
    await adb.batch_delete(f"k{i}" for i in range(50))
    assert await adb.abatch_get(["k49", "k50", "k99", "nope"]) == {"k50": 50, "k99": 99}
    assert await adb.aincrement("n", default=10) == 11
    assert await adb.increment("n", 5) == 16
    assert await adb.apatch("p", {"a": 1}, create=True) == {"a": 1}
    assert await adb.patch("p", {"b": 2}) == {"a": 1, "b": 2}
    await adb.set_model("u", User(name="Nana", age=20))
    assert await adb.get_model("u", User) == User(name="Nana", age=20)
    data = file_data(db_path)
    assert data["n"] == 16 and data["p"] == {"a": 1, "b": 2} and "k0" not in data and data["k50"] == 50


async def test_a_resolved_write_is_cached_so_reading_it_needs_no_thread(adb: AsyncNanaSQLite) -> None:
    await adb.aset("k", {"v": 1})
    await adb.batch_update({"a": 1, "b": 2})
    assert [await adb.is_cached(key) for key in ("k", "a", "b")] == [True, True, True]
    await adb.adelete("a")
    assert not await adb.is_cached("a") and await adb.aget("a") is None


async def test_batch_get_answers_from_the_cache_in_the_order_asked(adb: AsyncNanaSQLite) -> None:
    await adb.batch_update({"x": 1, "y": 2, "z": 3})
    await adb.aget("x"), await adb.aget("y"), await adb.aget("z")
    assert list((await adb.abatch_get(["z", "x", "y"])).items()) == [("z", 3), ("x", 1), ("y", 2)]
    await adb.batch_update({"x": 4, "y": 5, "z": 6})  # cached as texts, decoded on first use
    await adb.aget("x")  # one decoded, two not
    assert list((await adb.abatch_get(["z", "x", "y"])).items()) == [("z", 6), ("x", 4), ("y", 5)]


async def test_errors_have_the_types_the_sync_store_raises(adb: AsyncNanaSQLite, tmp_path: Path) -> None:
    sync = NanaSQLite(str(tmp_path / "sync.db"))
    await adb.aset("text", "not a number")
    sync["text"] = "not a number"
    cases: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
        ("adelete", "__delitem__", ("missing",), {}),
        ("apop", "pop", ("missing",), {}),
        ("aset", "__setitem__", ("k", {1, 2}), {}),
        ("aset", "__setitem__", (1, "v"), {}),
        ("aset", "__setitem__", ("k", float("nan")), {}),
        ("aincrement", "increment", ("text",), {}),
        ("aincrement", "increment", ("missing",), {}),
        ("apatch", "patch", ("missing", {"a": 1}), {}),
        ("batch_update", "batch_update", ({"a": object()},), {}),
        ("commit", "commit", (), {}),
        ("rollback", "rollback", (), {}),
        ("query", "query", ("no such table",), {}),
        ("query", "query", ("data",), {"where": "key = 1; DROP TABLE data"}),
        ("fetch_all", "fetch_all", ("SELECT * FROM nowhere",), {}),
        ("aiter_items", "iter_items", (0,), {}),
    ]
    try:
        for async_name, sync_name, args, kwargs in cases:
            with pytest.raises(Exception) as sync_error:
                result = getattr(sync, sync_name)(*args, **kwargs)
                if inspect.isgenerator(result):
                    next(result)
            with pytest.raises(type(sync_error.value)) as async_error:
                call = getattr(adb, async_name)(*args, **kwargs)
                if inspect.isasyncgen(call):
                    await call.__anext__()
                else:
                    await call
            assert type(async_error.value) is type(sync_error.value), async_name
    finally:
        sync.close()


async def test_async_iteration_streams_pages_and_sees_later_rows(adb: AsyncNanaSQLite) -> None:
    await adb.batch_update({f"k{i:04}": i for i in range(2500)})
    keys = [key async for key in adb]
    assert keys == [f"k{i:04}" for i in range(2500)]
    seen = []
    async for key, value in adb.aiter_items(batch_size=100):
        if not seen:
            # Written after the first page was read: a store that loaded everything up front would miss it.
            await adb.aset("zzz-late", "late")
        seen.append((key, value))
    assert len(seen) == 2501 and seen[0] == ("k0000", 0) and seen[-1] == ("zzz-late", "late")


# -- the cache and the threads ---------------------------------------------------------------------------------


async def test_cache_hits_are_answered_while_every_thread_is_busy(db_path: str) -> None:
    # With no reader threads every read that misses needs the writer, and a transaction owned by another task
    # keeps the writer for itself: only answers from the cache can come back now.
    async with AsyncNanaSQLite(db_path, read_pool_size=0) as db:
        await db.aset("hot", {"v": 1})
        entered, release = asyncio.Event(), asyncio.Event()

        async def hold_the_writer() -> None:
            async with db.transaction():
                entered.set()
                await release.wait()

        owner = asyncio.create_task(hold_the_writer())
        await entered.wait()
        try:
            assert await asyncio.wait_for(db.aget("hot"), 10) == {"v": 1}
            assert await asyncio.wait_for(db.acontains("hot"), 10)
            assert await asyncio.wait_for(db.abatch_get(["hot"]), 10) == {"hot": {"v": 1}}
            with pytest.raises(asyncio.TimeoutError):  # a miss waits for the writer
                await asyncio.wait_for(db.aget("cold"), 0.2)
        finally:
            release.set()
            await owner


@pytest.mark.parametrize(
    "options", [{"cache_strategy": "lru", "cache_size": 3}, {"cache_strategy": "ttl", "cache_ttl": 60}]
)
async def test_bounded_cache_policies(db_path: str, options: dict[str, Any]) -> None:
    async with AsyncNanaSQLite(db_path, **options) as db:
        await db.batch_update({f"k{i}": i for i in range(10)})
        assert await asyncio.gather(*(db.aget(f"k{i}") for i in range(10))) == list(range(10))
        assert await db.avalues() == list(range(10))  # not only what the cache holds
        await db.aset("k1", "new")
        assert await db.aget("k1") == "new"


async def test_memory_database_routes_reads_to_the_writer() -> None:
    async with AsyncNanaSQLite(":memory:", max_workers=4) as db:
        await db.batch_update({f"k{i}": i for i in range(300)})
        await db.clear_cache()
        assert await asyncio.gather(*(db.aget(f"k{i}") for i in range(300))) == list(range(300))
        assert await db.alen() == 300
        assert [key async for key in db][:2] == ["k0", "k1"]


async def test_refresh_sees_writes_of_another_connection(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("k", "mine")
    assert await adb.aget("k") == "mine" and await adb.is_cached("k")
    with NanaSQLite(db_path) as other:
        other["k"] = "theirs"
    assert await adb.aget("k") == "mine"  # the cache is trusted, as in the sync store
    assert await adb.get_fresh("k") == "theirs"
    with NanaSQLite(db_path) as other:
        other["k"] = "again"
    await adb.refresh("k")
    assert not await adb.is_cached("k")
    assert await adb.aget("k") == "again"
    await adb.clear_cache()
    await adb.load_all()
    assert await adb.is_cached("k")


# -- transactions ----------------------------------------------------------------------------------------------


async def test_transaction_commits_and_other_tasks_read_committed_data(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("k", "old")
    seen_outside: list[Any] = []

    async def outsider() -> None:
        seen_outside.append(await adb.aget("k"))

    async with adb.transaction() as tx:
        assert tx is adb and await adb.in_transaction()
        await adb.aset("k", "new")
        await adb.aset("other", 1)
        assert await adb.aget("k") == "new"  # the owner reads its own uncommitted writes
        await asyncio.create_task(outsider())  # a task created inside belongs to the transaction
        assert file_data(db_path) == {"k": "old"}
    assert seen_outside == ["new"]
    assert not await adb.in_transaction()
    assert file_data(db_path) == {"k": "new", "other": 1}


async def test_another_tasks_reads_see_committed_data_and_its_writes_wait(adb: AsyncNanaSQLite) -> None:
    await adb.aset("k", "old")
    entered, release = asyncio.Event(), asyncio.Event()

    async def owner() -> None:
        async with adb.transaction():
            await adb.aset("k", "new")
            entered.set()
            await release.wait()

    task = asyncio.create_task(owner())
    await entered.wait()
    assert await adb.aget("k") == "old"  # committed data, from the cache or a reader
    write = asyncio.create_task(adb.aset("k", "outsider"))
    done, _ = await asyncio.wait({write}, timeout=0.3)  # how long it is given to (wrongly) get through
    assert not done
    release.set()
    await task
    await write
    assert await adb.aget("k") == "outsider"


async def test_rollback_on_error_and_nested_savepoints(adb: AsyncNanaSQLite, db_path: str) -> None:
    await adb.aset("k", "old")
    with pytest.raises(RuntimeError):
        async with adb.transaction():
            await adb.aset("k", "new")
            raise RuntimeError("undo")
    assert await adb.aget("k") == "old" and not await adb.in_transaction()
    async with adb.transaction():
        await adb.aset("a", 1)
        with pytest.raises(KeyError):
            async with adb.transaction():
                await adb.aset("b", 2)
                raise KeyError("inner only")
        assert await adb.in_transaction()
    assert file_data(db_path) == {"k": "old", "a": 1}
    await adb.begin_transaction()
    await adb.aset("c", 3)
    await adb.rollback()
    assert not await adb.in_transaction() and await adb.aget("c") is None
    with pytest.raises(NanaSQLiteTransactionError):
        await adb.commit()


# -- SQL helpers, sub-tables, backup --------------------------------------------------------------------------


async def test_sql_helpers(adb: AsyncNanaSQLite) -> None:
    await adb.create_table("users", {"id": "INTEGER PRIMARY KEY", "name": "TEXT", "age": "INTEGER"})
    assert await adb.table_exists("users") and "users" in await adb.list_tables()
    assert await adb.sql_insert("users", {"name": "Alice", "age": 30}) == 1
    await adb.execute_many("INSERT INTO users (name, age) VALUES (?, ?)", [("Bob", 20), ("Carol", 40)])
    assert await adb.query("users", columns=["name"], where="age > ?", parameters=(25,), order_by="name") == [
        {"name": "Alice"},
        {"name": "Carol"},
    ]
    assert await adb.count("users") == 3 and await adb.acount("users", "age < ?", (30,)) == 1
    assert await adb.sql_update("users", {"age": 21}, "name = ?", ("Bob",)) == 1
    assert await adb.fetch_one("SELECT age FROM users WHERE name = ?", ("Bob",)) == (21,)
    rows = await adb.execute("SELECT name FROM users ORDER BY id")
    assert rows.description is not None and rows.description[0][0] == "name"
    assert rows.fetchone() == ("Alice",) and [r[0] for r in rows] == ["Bob", "Carol"] and rows.fetchone() is None
    assert (await adb.execute("UPDATE users SET age = age + 1")).fetchall() == []
    assert await adb.sql_delete("users", "age > ?", (40,)) == 1
    assert [c["name"] for c in await adb.get_table_schema("users")] == ["id", "name", "age"]
    assert await adb.pragma("user_version") == 0


async def test_sql_write_to_the_key_value_table_is_seen(adb: AsyncNanaSQLite) -> None:
    await adb.aset("k", 1)
    assert await adb.aget("k") == 1
    await adb.execute("UPDATE data SET value = '2' WHERE key = 'k'")
    assert await adb.aget("k") == 2  # the store dropped its caches


async def test_sub_tables_share_the_threads_and_close_with_their_parent(adb: AsyncNanaSQLite, db_path: str) -> None:
    users = await adb.table("users")
    items = await adb.atable("items", cache_strategy="lru", cache_size=10)
    await users.aset("u1", {"name": "Alice"})
    await items.aset("i1", 1)
    assert await users.aget("u1") == {"name": "Alice"} and await adb.aget("u1") is None
    assert await items.akeys() == ["i1"]
    async with adb.transaction():  # one connection: the sub-table's writes join the parent's transaction
        await users.aset("u2", 2)
        await adb.aset("m", 3)
    assert file_data(db_path, "users") == {"u1": {"name": "Alice"}, "u2": 2}
    await items.close()
    with pytest.raises(NanaSQLiteClosedError):
        await items.aget("i1")
    assert await users.aget("u2") == 2
    await adb.close()
    with pytest.raises(NanaSQLiteClosedError):
        await users.aget("u1")


async def test_backup_and_restore_reopen_the_readers(adb: AsyncNanaSQLite, tmp_path: Path) -> None:
    await adb.batch_update({"k": "backed up", "cold": "backed up"})
    backup = str(tmp_path / "backup.db")
    await adb.abackup(backup)
    await adb.batch_update({"k": "later", "cold": "later"})
    assert await adb.aget("k") == "later"
    await adb.clear_cache()
    assert await adb.akeys() == ["cold", "k"]  # the readers have the file open now
    reads = [adb.akeys() for _ in range(20)]  # reads around the restore wait for it or come before it
    results = await asyncio.wait_for(asyncio.gather(adb.arestore(backup), *reads), 60)
    assert all(keys == ["cold", "k"] for keys in results[1:])
    assert await adb.aget("k") == "backed up"
    assert await adb.aget("cold") == "backed up"
    assert await adb.aitems() == [("cold", "backed up"), ("k", "backed up")]
    # A close that comes while a restore waits for the readers must not hang either.
    outcomes = await asyncio.wait_for(asyncio.gather(adb.arestore(backup), adb.close(), return_exceptions=True), 60)
    assert outcomes == [None, None]


async def test_restores_back_to_back_each_park_every_reader(adb: AsyncNanaSQLite, tmp_path: Path) -> None:
    # The writer parks the readers again right after it let them go: a reader that has not woken up yet must
    # still take the new park order, or the writer waits for it forever.
    await adb.batch_update({"k": "backed up"})
    backup = str(tmp_path / "backup.db")
    await adb.abackup(backup)
    for round_ in range(10):
        await adb.aset("k", round_)
        await adb.clear_cache()
        restores = [adb.arestore(backup) for _ in range(5)]
        reads = [adb.akeys() for _ in range(10)]
        await asyncio.wait_for(asyncio.gather(*restores, *reads), 60)
        assert await adb.aget("k") == "backed up"


# -- construction, lifecycle -----------------------------------------------------------------------------------


def test_unknown_keyword_raises_type_error(db_path: str) -> None:
    with pytest.raises(TypeError):
        AsyncNanaSQLite(db_path, v3_mode=True)  # type: ignore[call-arg]
    with pytest.raises(NanaSQLiteValidationError):
        AsyncNanaSQLite(db_path, max_workers=0)


def test_accepts_every_option_of_the_sync_store_with_the_same_default() -> None:
    sync = inspect.signature(NanaSQLite.__init__).parameters
    async_ = inspect.signature(AsyncNanaSQLite.__init__).parameters
    for name, param in sync.items():
        assert name in async_, name
        assert async_[name].default == param.default, name
    assert list(async_)[:6] == ["self", "db_path", "table", "bulk_load", "optimize", "cache_size_mb"]
    assert async_["max_workers"].default == 5


def test_created_outside_a_loop_and_used_by_two_loops(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path, bulk_load=True)

    async def first() -> None:
        await db.aset("k", 1)

    async def second() -> Any:
        return await db.aget("k")

    asyncio.run(first())
    assert asyncio.run(second()) == 1
    asyncio.run(db.close())
    assert db.closed


async def test_an_error_opening_the_file_is_raised_by_the_first_await(tmp_path: Path) -> None:
    with pytest.raises(NanaSQLiteConnectionError):
        async with AsyncNanaSQLite(str(tmp_path / "no such dir" / "x.db")):
            pass
    db = AsyncNanaSQLite(str(tmp_path / "ok.db"), cache_size_mb=0)
    with pytest.raises(NanaSQLiteValidationError):
        await db.aget("k")
    with pytest.raises(NanaSQLiteValidationError):
        await db.aset("k", 1)
    await db.close()


async def test_close_is_idempotent_and_stops_every_thread(db_path: str) -> None:
    db = AsyncNanaSQLite(db_path, max_workers=3, thread_name_prefix="closing-test")
    await asyncio.gather(*(db.aget(f"k{i}") for i in range(50)))
    await db.aset("k", 1)
    assert any(t.name.startswith("closing-test") for t in threading.enumerate())
    await db.close()
    await db.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("closing-test")]
    assert db.closed and "closed" in repr(db)
    assert file_data(db_path) == {"k": 1}


def test_a_store_nobody_closes_stops_its_threads_when_collected(db_path: str) -> None:
    def use_and_forget() -> None:
        db = AsyncNanaSQLite(db_path, thread_name_prefix="forgotten")
        asyncio.run(db.aset("k", 1))

    use_and_forget()
    gc.collect()
    threads = [t for t in threading.enumerate() if t.name.startswith("forgotten")]
    for thread in threads:
        thread.join(60)
    assert not [t for t in threads if t.is_alive()]
    assert file_data(db_path) == {"k": 1}


def test_a_store_nobody_closes_does_not_hang_the_interpreter_exit(db_path: str) -> None:
    code = (
        "import asyncio, sys\n"
        "from nanasqlite import AsyncNanaSQLite\n"
        "db = AsyncNanaSQLite(sys.argv[1])\n"
        "asyncio.run(db.aset('k', 1))\n"
        "STORES = [db]  # still referenced at exit\n"
    )
    result = subprocess.run([sys.executable, "-c", code, db_path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert file_data(db_path) == {"k": 1}


async def test_a_database_error_keeps_its_type(adb: AsyncNanaSQLite) -> None:
    await adb.execute("CREATE TRIGGER no_boom BEFORE INSERT ON data WHEN NEW.key = 'boom' "
                      "BEGIN SELECT RAISE(ABORT, 'refused'); END")  # fmt: skip
    with pytest.raises(NanaSQLiteDatabaseError):
        await adb.aset("boom", 1)
    await adb.aset("fine", 1)
    assert await adb.akeys() == ["fine"]


# -- the API surface -------------------------------------------------------------------------------------------


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (inspect.isfunction(member) or inspect.ismethoddescriptor(member))
    }


def _params(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()][1:]


def test_every_public_sync_method_has_an_async_twin_with_the_same_signature() -> None:
    sync = _public_methods(NanaSQLite)
    assert {"get", "batch_update", "query", "sql_insert", "backup", "restore", "iter_items"} <= set(sync)
    for name, method in sync.items():
        twin = getattr(AsyncNanaSQLite, "a" + name, None) or getattr(AsyncNanaSQLite, name)
        assert _params(twin) == _params(method), name
        if name == "transaction":
            assert hasattr(twin(object.__new__(AsyncNanaSQLite)), "__aenter__")
        elif name == "iter_items":
            assert inspect.isasyncgenfunction(twin)
        else:
            assert inspect.iscoroutinefunction(twin), name


def test_every_public_async_method_is_documented() -> None:
    undocumented = [
        name
        for name, member in inspect.getmembers(AsyncNanaSQLite)
        if not name.startswith("_")
        and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member) or inspect.isfunction(member))
        and not (member.__doc__ or "").strip()
    ]
    assert undocumented == []
    # A twin's docstring is its sync method's, so it says what the method does, not only that it is awaited.
    doc = AsyncNanaSQLite.batch_update.__doc__ or ""
    assert "NanaSQLite.batch_update" in doc and (NanaSQLite.batch_update.__doc__ or "").split("\n")[0] in doc


def test_the_names_of_the_1_6_package_are_there() -> None:
    names_16 = (
        "aget aset adelete acontains alen akeys avalues aitems apop aupdate aflush aclear asetdefault aupsert "
        "load_all refresh is_cached batch_update batch_update_partial aincrement apatch batch_delete to_dict copy "
        "get_fresh abatch_get set_model get_model execute execute_many fetch_one fetch_all create_table "
        "create_index query query_with_pagination table_exists list_tables drop_table drop_index sql_insert "
        "sql_update sql_delete count vacuum begin_transaction commit rollback in_transaction transaction "
        "aclear_cache clear_cache close sync_db table aload_all arefresh ais_cached abatch_update "
        "abatch_update_partial abatch_delete ato_dict acopy aget_fresh aset_model aget_model aexecute "
        "aexecute_many afetch_one afetch_all abackup arestore apragma aget_table_schema alist_indexes "
        "aalter_table_add_column acreate_table acreate_index aquery aquery_with_pagination atable atable_exists "
        "alist_tables adrop_table asql_insert asql_update asql_delete acount avacuum get contains keys values "
        "items flush increment patch upsert aiter_items"
    ).split()
    missing = [name for name in names_16 if not hasattr(AsyncNanaSQLite, name)]
    assert missing == []
