"""The examples, run for real: FastAPI under uvicorn on a local port, Quart through its test client, and the
demo and the bot as scripts in a subprocess. Every wait is bounded."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nanasqlite import NanaSQLite

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BOUND = 120  # seconds


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored(path: Path) -> dict[str, Any]:
    with NanaSQLite(str(path)) as db:
        return db.to_dict()


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # the apps open "app.db" in the working directory, as the guide writes them
    yield tmp_path


# The guide's FastAPI app uses @app.on_event, which FastAPI deprecates (DeprecationWarning, an error under this
# suite's filterwarnings). The example follows the guide, so exactly that warning is ignored here.
@pytest.mark.filterwarnings(r"ignore:\s*on_event is deprecated:DeprecationWarning")
@pytest.mark.parametrize("example", ["fastapi_app", "fastapi_lifespan"])
def test_fastapi_app_under_uvicorn(in_tmp_path: Path, example: str) -> None:
    httpx = pytest.importorskip("httpx")
    uvicorn = pytest.importorskip("uvicorn")
    module = load_example(example)
    # A socket bound before the server starts: the port is known at once, and requests made before the
    # server (and the app's startup hook) is ready wait in the listen backlog instead of failing.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(module.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=BOUND) as client:
            for i in range(20):
                reply = client.post("/users", json={"id": str(i), "name": f"User{i}"})
                assert reply.status_code == 200 and reply.json() == {"status": "created", "id": str(i)}
            assert client.get("/users/7").json() == {"id": "7", "name": "User7"}
            assert client.get("/users/nobody").json() == {"error": "User not found"}

        async def many_at_once() -> list[Any]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=BOUND) as client:
                replies = await asyncio.gather(*(client.get(f"/users/{i % 20}") for i in range(100)))
                return [r.json() for r in replies]

        assert asyncio.run(many_at_once()) == [{"id": str(i % 20), "name": f"User{i % 20}"} for i in range(100)]
    finally:
        server.should_exit = True
        thread.join(BOUND)
        sock.close()
    assert not thread.is_alive()
    assert stored(in_tmp_path / "app.db") == {f"user_{i}": {"id": str(i), "name": f"User{i}"} for i in range(20)}


async def test_quart_app_through_its_test_client(in_tmp_path: Path) -> None:
    pytest.importorskip("quart")
    with NanaSQLite("app.db") as seed:
        seed["user_1"] = {"name": "Alice"}
    module = load_example("quart_app")
    async with module.app.test_app() as test_app:  # runs before_serving / after_serving
        client = test_app.test_client()
        reply = await client.get("/users/1")
        assert reply.status_code == 200 and await reply.get_json() == {"name": "Alice"}
        assert await (await client.get("/users/2")).get_json() is None
        replies = await asyncio.gather(*(client.get("/users/1") for _ in range(50)))
        assert [await r.get_json() for r in replies] == [{"name": "Alice"}] * 50
        assert not module.db.closed
    assert module.db.closed  # after_serving closed it


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=BOUND,
    )


def test_async_demo_runs(tmp_path: Path) -> None:
    result = run_script("async_demo", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100 concurrent increments -> 5050" in result.stdout and "order_2 rolled back" in result.stdout
    assert stored(tmp_path / "demo.db")["points"] == 5050
    assert (tmp_path / "demo-backup.db").stat().st_size > 0


def test_bot_with_a_thousand_users_checks_itself(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    result = run_script("bot", "--db", str(db), "--users", "1000", "--messages", "3", "--timeout", "100", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")
    data = stored(db)
    assert data["messages"] == 3000 and data["count:999"] == 3 and data["profile:0"]["last"] == 2


def test_bot_without_db_says_where_its_database_is(tmp_path: Path) -> None:
    result = run_script("bot", "--users", "20", "--messages", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("database: ") and lines[0].endswith(
        "(a new temporary directory; --db PATH chooses the file)"
    )
    path = Path(lines[0].removeprefix("database: ").split(" (")[0])
    try:
        assert lines[-2:] == [f"the database is left at {path}", "OK"]
        assert stored(path)["messages"] == 40
    finally:
        shutil.rmtree(path.parent)
    assert list(tmp_path.iterdir()) == []


def test_bot_exits_non_zero_when_it_cannot_finish(tmp_path: Path) -> None:
    # An impossible deadline: the bot must report the timeout, not hang and not claim success.
    result = run_script("bot", "--db", str(tmp_path / "b.db"), "--users", "1000", "--timeout", "0.001", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "FAILED" in result.stdout
