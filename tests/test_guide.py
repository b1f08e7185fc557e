"""Every snippet of the async quick guide, run exactly as the guide writes it.

The snippets are copied verbatim; top-level ``await`` and ``async with`` run as they would in an asyncio REPL
(``PyCF_ALLOW_TOP_LEVEL_AWAIT``). Each runs in its own temporary directory, so ``"app.db"`` and ``"mydata.db"``
are files under ``tmp_path``. The web framework examples are run for real by ``test_examples.py``.
"""

# The snippets keep the guide's blank lines that hold indentation.
# ruff: noqa: W293

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


async def run_snippet(source: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``source`` with top-level await allowed; return its namespace."""
    ns: dict[str, Any] = {} if namespace is None else namespace
    code = compile(source, "<guide snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)
    if inspect.iscoroutine(result):
        await result
    return ns


def stored(path: str) -> dict[str, Any]:
    with NanaSQLite(path) as db:
        return db.to_dict()


WHY_ASYNC = """
# ❌ Sync version (blocks async apps)
from nanasqlite import NanaSQLite
db = NanaSQLite("app.db")
user = db["user"]  # Blocks event loop!

# ✅ Async version (non-blocking with thread pool)
from nanasqlite import AsyncNanaSQLite
async with AsyncNanaSQLite("app.db", max_workers=10) as db:
    user = await db.aget("user")  # Does not block event loop
"""


async def test_why_async() -> None:
    with NanaSQLite("app.db") as seed:
        seed["user"] = {"name": "Nana"}
    ns = await run_snippet(WHY_ASYNC)
    assert ns["user"] == {"name": "Nana"}
    assert ns["db"].closed


IMPORT_AND_INITIALIZE = """
import asyncio
from nanasqlite import AsyncNanaSQLite

async def main():
    # Use context manager (recommended)
    # max_workers: adjust based on concurrency needs
    async with AsyncNanaSQLite("mydata.db", max_workers=5) as db:
        # Database operations
        await db.aset("key", "value")
        value = await db.aget("key")
        print(value)

asyncio.run(main())
"""


def test_import_and_initialize(capsys: pytest.CaptureFixture[str]) -> None:
    exec(IMPORT_AND_INITIALIZE, {})  # asyncio.run: no loop may be running, so this test is sync
    assert capsys.readouterr().out == "value\n"
    assert stored("mydata.db") == {"key": "value"}


CRUD = """
async with AsyncNanaSQLite("mydata.db") as db:
    # Create
    await db.aset("user_1", {"name": "Alice", "age": 25})
    
    # Read
    user = await db.aget("user_1")
    
    # Update
    user["age"] = 26
    await db.aset("user_1", user)
    
    # Delete
    await db.adelete("user_1")
"""


async def test_crud() -> None:
    ns = await run_snippet(CRUD, {"AsyncNanaSQLite": AsyncNanaSQLite})
    assert ns["user"] == {"name": "Alice", "age": 26}
    assert stored("mydata.db") == {}


BATCH = """
async with AsyncNanaSQLite("mydata.db") as db:
    # Batch write
    data = {f"user_{i}": {"name": f"User{i}"} for i in range(1000)}
    await db.batch_update(data)
    
    # Batch delete
    keys = [f"user_{i}" for i in range(500)]
    await db.batch_delete(keys)
"""


async def test_batch_operations() -> None:
    await run_snippet(BATCH, {"AsyncNanaSQLite": AsyncNanaSQLite})
    assert stored("mydata.db") == {f"user_{i}": {"name": f"User{i}"} for i in range(500, 1000)}


CONCURRENT = """
import asyncio

async with AsyncNanaSQLite("mydata.db") as db:
    # Concurrent reads
    users = await asyncio.gather(
        db.aget("user_1"),
        db.aget("user_2"),
        db.aget("user_3")
    )
"""


async def test_concurrent_operations() -> None:
    with NanaSQLite("mydata.db") as seed:
        seed.update({"user_1": "a", "user_3": "c"})
    ns = await run_snippet(CONCURRENT, {"AsyncNanaSQLite": AsyncNanaSQLite})
    assert ns["users"] == ["a", None, "c"]


SQL_OPERATIONS = """
async with AsyncNanaSQLite("mydata.db") as db:
    # Create table
    await db.create_table("users", {
        "id": "INTEGER PRIMARY KEY",
        "name": "TEXT",
        "email": "TEXT UNIQUE"
    })
    
    # Insert data
    await db.sql_insert("users", {
        "name": "Alice",
        "email": "alice@example.com"
    })
    
    # Execute query
    users = await db.query(
        table_name="users",
        where="name LIKE ?",
        parameters=("A%",)
    )
"""


async def test_sql_operations() -> None:
    ns = await run_snippet(SQL_OPERATIONS, {"AsyncNanaSQLite": AsyncNanaSQLite})
    assert ns["users"] == [{"id": 1, "name": "Alice", "email": "alice@example.com"}]


THREAD_POOL_OPTIMIZATION = """
# Low load application (default)
async with AsyncNanaSQLite("mydata.db") as db:
    pass

# High load application (many concurrent connections)
async with AsyncNanaSQLite("mydata.db", max_workers=20) as db:
    # Efficiently handle 100 concurrent operations
    results = await asyncio.gather(*[db.aget(f"key_{i}") for i in range(100)])
"""


async def test_thread_pool_optimization() -> None:
    with NanaSQLite("mydata.db") as seed:
        seed.update({f"key_{i}": i for i in range(0, 100, 2)})
    ns = await run_snippet(THREAD_POOL_OPTIMIZATION, {"AsyncNanaSQLite": AsyncNanaSQLite, "asyncio": asyncio})
    assert ns["results"] == [i if i % 2 == 0 else None for i in range(100)]


# The next two snippets use a ``db`` they do not open; it is opened around them, as their context implies.

BATCH_TIP = """
# ❌ Slow (1000 DB operations)
for i in range(1000):
    await db.aset(f"key_{i}", f"value_{i}")

# ✅ Fast (1 transaction)
data = {f"key_{i}": f"value_{i}" for i in range(1000)}
await db.batch_update(data)
"""


async def test_use_batch_operations() -> None:
    async with AsyncNanaSQLite("mydata.db") as db:
        await run_snippet(BATCH_TIP, {"db": db})
    assert stored("mydata.db") == {f"key_{i}": f"value_{i}" for i in range(1000)}


CONCURRENCY_TIP = """
# ❌ Sequential execution (slow)
user1 = await db.aget("user_1")
user2 = await db.aget("user_2")
user3 = await db.aget("user_3")

# ✅ Concurrent execution (fast, processed by thread pool)
users = await asyncio.gather(
    db.aget("user_1"),
    db.aget("user_2"),
    db.aget("user_3")
)
"""


async def test_leverage_concurrent_operations() -> None:
    with NanaSQLite("mydata.db") as seed:
        seed.update({"user_1": 1, "user_2": 2, "user_3": 3})
    async with AsyncNanaSQLite("mydata.db") as db:
        ns = await run_snippet(CONCURRENCY_TIP, {"db": db, "asyncio": asyncio})
    assert [ns["user1"], ns["user2"], ns["user3"]] == ns["users"] == [1, 2, 3]


BULK_LOAD = """
# Load all data at startup (read-heavy workload)
db = AsyncNanaSQLite("mydata.db", bulk_load=True, max_workers=10)
"""


async def test_bulk_load() -> None:
    with NanaSQLite("mydata.db") as seed:
        seed.update({f"k{i}": i for i in range(100)})
    ns = await run_snippet(BULK_LOAD, {"AsyncNanaSQLite": AsyncNanaSQLite})
    db = ns["db"]
    try:
        assert await db.aget("k7") == 7
        assert all([await db.is_cached(f"k{i}") for i in range(100)])
    finally:
        await db.close()  # the snippet leaves its store open


REUSE = """
# ❌ Create new instance each time (slow)
async def handler():
    async with AsyncNanaSQLite("app.db") as db:
        return await db.aget("data")

# ✅ Reuse instance (fast)
db = None

async def startup():
    global db
    db = AsyncNanaSQLite("app.db", max_workers=15)

async def handler():
    return await db.aget("data")

async def shutdown():
    await db.close()  # Also auto-cleans up thread pool
"""


async def test_reuse_connections_and_thread_pools() -> None:
    with NanaSQLite("app.db") as seed:
        seed["data"] = {"answer": 42}
    ns = await run_snippet(REUSE, {"AsyncNanaSQLite": AsyncNanaSQLite})
    await ns["startup"]()
    assert await asyncio.gather(*(ns["handler"]() for _ in range(50))) == [{"answer": 42}] * 50
    await ns["shutdown"]()
    assert ns["db"].closed


MANUAL_CLOSE = """
# ❌ Manual close (may error)
db = AsyncNanaSQLite("app.db")
await db.aset("key", "value")
await db.close()

# ✅ Context manager (recommended)
async with AsyncNanaSQLite("app.db") as db:
    await db.aset("key", "value")
"""


async def test_event_loop_is_closed_troubleshooting() -> None:
    ns = await run_snippet(MANUAL_CLOSE, {"AsyncNanaSQLite": AsyncNanaSQLite})
    assert ns["db"].closed
    assert stored("app.db") == {"key": "value"}


# "Migrating Sync Code to Async": each row, run on a sync and an async store, gives the same result and data.
MIGRATION_TABLE = [
    ('db["user"] = {"n": 1}', 'await db.aset("user", {"n": 1})'),
    ('db["user"]', 'await db.aget("user")'),
    ('db.get("user")', 'await db.aget("user")'),
    ('"user" in db', 'await db.acontains("user")'),
    ("len(db)", "await db.alen()"),
    ("db.keys()", "await db.akeys()"),
    ('db.batch_update({"a": 1, "b": 2})', 'await db.batch_update({"a": 1, "b": 2})'),
    ('del db["user"]', 'await db.adelete("user")'),
    ('"user" in db', 'await db.acontains("user")'),
]


def _is_expression(code: str) -> bool:
    try:
        ast.parse(code, mode="eval")
    except SyntaxError:
        return False
    return True


async def test_migration_table(tmp_path: Path) -> None:
    sync = NanaSQLite(str(tmp_path / "sync.db"))
    try:
        async with AsyncNanaSQLite(str(tmp_path / "async.db")) as adb:
            for sync_code, async_code in MIGRATION_TABLE:
                expected = eval(sync_code, {"db": sync}) if _is_expression(sync_code) else exec(sync_code, {"db": sync})
                got = (await run_snippet(f"result = {async_code}", {"db": adb}))["result"]
                assert got == expected, async_code
                assert await adb.to_dict() == sync.to_dict()
    finally:
        sync.close()


GUIDE = Path(__file__).resolve().parent.parent / "docs" / "async-quick-guide.md"


def guide_snippets() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    parts = text.split("```python\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def test_every_snippet_of_the_guide_is_run_by_these_tests_or_the_examples() -> None:
    """The copies above and in examples/ cannot drift from docs/async-quick-guide.md unnoticed."""
    tested = [v for k, v in globals().items() if k.isupper() and isinstance(v, str)]
    examples = GUIDE.parent.parent / "examples"
    apps = [(examples / name).read_text(encoding="utf-8") for name in ("fastapi_app.py", "quart_app.py")]
    snippets = guide_snippets()
    assert len(snippets) == 14
    for snippet in snippets:
        body = snippet.strip()
        assert any(body == t.strip() for t in tested) or any(body in app for app in apps), body[:200]
