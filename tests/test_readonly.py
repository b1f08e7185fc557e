"""``readonly=True``: an existing file opened read-only reads as usual, is never changed (not even its journal
mode), and refuses every write with the library's error; the command line's read commands open files so."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import AsyncNanaSQLite, NanaSQLite, NanaSQLiteConnectionError, NanaSQLiteDatabaseError
from nanasqlite.cli import main as cli_main


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    """A store in SQLite's default (rollback journal) mode, as another tool would leave it."""
    path = tmp_path / "ro.db"
    with NanaSQLite(str(path), optimize=False) as db:
        db.batch_update({f"k{i}": {"i": i} for i in range(10)})
        db.table("other")["x"] = 1
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


WRITES: list[tuple[str, Any]] = [
    ("setitem", lambda db: db.__setitem__("k1", 2)),
    ("delitem", lambda db: db.__delitem__("k1")),
    ("batch_update", lambda db: db.batch_update({"k1": 2, "new": 3})),
    ("batch_delete", lambda db: db.batch_delete(["k1"])),
    ("pop", lambda db: db.pop("k1")),
    ("increment", lambda db: db.increment("n", default=0)),
    ("clear", lambda db: db.clear()),
    ("sql", lambda db: db.execute("CREATE TABLE t (a)")),
]


def test_a_read_only_store_reads_and_refuses_every_write(journal_file: Path) -> None:
    before = digest(journal_file)
    with NanaSQLite(str(journal_file), readonly=True) as db:
        assert len(db) == 10 and db["k3"] == {"i": 3}
        assert db.batch_get(["k1", "k2", "nope"]) == {"k1": {"i": 1}, "k2": {"i": 2}}
        assert db.to_dict() == {f"k{i}": {"i": i} for i in range(10)}
        assert db.table("other")["x"] == 1
        for name, write in WRITES:
            with pytest.raises(NanaSQLiteDatabaseError, match="readonly"):
                write(db)
            assert db.to_dict() == {f"k{i}": {"i": i} for i in range(10)}, name  # cache and file agree
    assert digest(journal_file) == before
    con = apsw.Connection(str(journal_file))
    assert con.execute("PRAGMA journal_mode").fetchall() == [("delete",)]  # not switched to WAL
    con.close()


def test_what_cannot_be_opened_read_only_says_why(tmp_path: Path, journal_file: Path) -> None:
    with pytest.raises(NanaSQLiteConnectionError, match="cannot open"):
        NanaSQLite(str(tmp_path / "missing.db"), readonly=True)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(NanaSQLiteConnectionError, match="no table 'users'.*read-only"):
        NanaSQLite(str(journal_file), table="users", readonly=True)
    with NanaSQLite(str(journal_file), readonly=True) as db:
        with pytest.raises(NanaSQLiteConnectionError, match="no table 'users'"):
            db.table("users")


async def test_the_async_store_opens_read_only_too(journal_file: Path) -> None:
    before = digest(journal_file)
    async with AsyncNanaSQLite(str(journal_file), readonly=True, max_workers=2) as db:
        assert await db.aget("k2") == {"i": 2}
        assert len(await db.to_dict()) == 10
        with pytest.raises(NanaSQLiteDatabaseError, match="readonly"):
            await db.aset("k2", 0)
        with pytest.raises(NanaSQLiteDatabaseError, match="readonly"):
            await db.batch_update({"k2": 0})
        assert await db.aget("k2") == {"i": 2}
    assert digest(journal_file) == before


def test_the_command_lines_reads_leave_the_file_as_it_was(
    journal_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(journal_file)
    assert cli_main(["get", str(journal_file), "k4"]) == 0
    assert '"i"' in capsys.readouterr().out
    assert cli_main(["keys", str(journal_file)]) == 0
    assert digest(journal_file) == before
