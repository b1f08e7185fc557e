"""Paths: ``str``, any ``os.PathLike`` and ``bytes`` wherever a file path is taken (issue 19, point 4)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteConnectionError, NanaSQLiteValidationError
from nanasqlite.cli import _inspect, _open


class CustomPath:
    """An os.PathLike that is not a pathlib.Path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


def forms(path: Path) -> dict[str, Any]:
    return {"Path": path, "PathLike": CustomPath(str(path)), "bytes": os.fsencode(path), "str": str(path)}


@pytest.mark.parametrize("form", ["Path", "PathLike", "bytes", "str"])
def test_the_store_opens_any_path_form(tmp_path: Path, form: str) -> None:
    path = tmp_path / "p.db"
    with NanaSQLite(forms(path)[form]) as db:
        db["k"] = [1, 2]
        assert isinstance(db._db_path, str)
        assert str(path) in repr(db)
    with NanaSQLite(str(path)) as db:
        assert db["k"] == [1, 2]


@pytest.mark.parametrize("form", ["Path", "PathLike", "bytes", "str"])
async def test_the_async_store_opens_any_path_form(tmp_path: Path, form: str) -> None:
    path = tmp_path / "p.db"
    async with AsyncNanaSQLite(forms(path)[form]) as adb:
        await adb.aset("k", {"a": 1})
        assert await adb.aget("k") == {"a": 1}
        assert str(path) in repr(adb)
    with NanaSQLite(str(path)) as db:
        assert db["k"] == {"a": 1}


@pytest.mark.parametrize("bad", [12, None, 1.5, ["p.db"]])
def test_other_types_are_refused_with_a_clear_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"db_path must be a str, bytes or os\.PathLike, not "):
        NanaSQLite(bad)
    with pytest.raises(TypeError, match=r"db_path must be a str, bytes or os\.PathLike, not "):
        AsyncNanaSQLite(bad)


def test_a_path_that_is_not_utf8_is_a_connection_error(tmp_path: Path) -> None:
    with pytest.raises(NanaSQLiteConnectionError, match="not valid UTF-8"):
        NanaSQLite(os.fsencode(tmp_path) + b"/\xff.db")


@pytest.mark.parametrize("form", ["Path", "PathLike", "bytes"])
def test_backup_and_restore_take_any_path_form(tmp_path: Path, form: str) -> None:
    copy = tmp_path / "copy.db"
    with NanaSQLite(tmp_path / "main.db") as db:
        db["k"] = "v1"
        db.backup(forms(copy)[form])
        db["k"] = "v2"
        db.restore(forms(copy)[form])
        assert db["k"] == "v1"


async def test_async_backup_and_restore_take_a_pathlib_path(tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    async with AsyncNanaSQLite(tmp_path / "main.db") as adb:
        await adb.aset("k", "v1")
        await adb.backup(copy)
        await adb.aset("k", "v2")
        await adb.restore(copy)
        assert await adb.aget("k") == "v1"


def test_backup_still_refuses_what_is_not_a_path(tmp_path: Path) -> None:
    with NanaSQLite(tmp_path / "main.db") as db:
        with pytest.raises(NanaSQLiteValidationError, match="dest_path must be a path, not int"):
            db.backup(3)  # type: ignore[arg-type]


def test_cli_helpers_take_a_pathlib_path(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    with _open(path, "data", write=True) as db:
        db["k"] = 1
    with _inspect(path) as con:
        assert con.execute("SELECT count(*) FROM data").fetchall() == [(1,)]
    with _open(os.fsencode(path), "data") as db:
        assert db["k"] == 1
