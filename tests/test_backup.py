"""Online backup to a file and restore from one: atomic, verified, and never harmful to the live store."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import apsw
import pytest

from nanasqlite import (
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteDatabaseError,
    NanaSQLiteTransactionError,
    NanaSQLiteValidationError,
)


def fill(db: NanaSQLite) -> None:
    db["user"] = {"name": "Nana", "tags": ["a", "b"]}
    db["n"] = 1
    db.table("settings")["theme"] = "dark"
    db.create_table("users", {"id": "INTEGER PRIMARY KEY", "name": "TEXT"})
    db.import_from_dict_list("users", [{"name": "alice"}, {"name": "bob"}])


def integrity(path: str | Path) -> list[str]:
    con = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [row[0] for row in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def digest(path: str) -> tuple[bytes, bytes]:
    """The bytes of a database file and of its WAL."""
    return tuple(  # type: ignore[return-value]
        hashlib.sha256(Path(p).read_bytes()).digest() if os.path.exists(p) else b"" for p in (path, path + "-wal")
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp") or ".tmp-" in p.name)


# -- backup -------------------------------------------------------------------------------------------------


def test_backup_copies_everything(db: NanaSQLite, tmp_path: Path) -> None:
    fill(db)
    dest = tmp_path / "copy.db"
    db.backup(str(dest))
    assert integrity(dest) == ["ok"]
    assert leftovers(tmp_path) == []
    with NanaSQLite(str(dest)) as copy:
        assert copy.to_dict() == {"user": {"name": "Nana", "tags": ["a", "b"]}, "n": 1}
        assert copy.table("settings")["theme"] == "dark"
        assert copy.query("users", ["name"], order_by="id") == [{"name": "alice"}, {"name": "bob"}]
    db["n"] = 2  # the store stays usable
    assert db["n"] == 2


def test_backup_accepts_path_objects_and_1_6_options(db: NanaSQLite, tmp_path: Path) -> None:
    db["a"] = 1
    db.backup(tmp_path / "copy.db", verify=False, flush=False, allow_incomplete=True)
    with NanaSQLite(str(tmp_path / "copy.db")) as copy:
        assert copy["a"] == 1


def test_backup_replaces_an_existing_file_and_keeps_its_mode(db: NanaSQLite, tmp_path: Path) -> None:
    dest = tmp_path / "copy.db"
    dest.write_bytes(b"an old file")
    dest.chmod(0o640)
    db["a"] = 1
    db.backup(str(dest))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert integrity(dest) == ["ok"]


def test_a_new_backup_gets_the_mode_of_the_database_file(db: NanaSQLite, db_path: str, tmp_path: Path) -> None:
    os.chmod(db_path, 0o604)
    db.backup(str(tmp_path / "copy.db"))
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o604


def test_backup_removes_a_stale_wal_beside_the_destination(db: NanaSQLite, tmp_path: Path) -> None:
    # A -wal left by another database at the destination would be replayed onto the copy when it opens.
    other = apsw.Connection(str(tmp_path / "other.db"))
    other.execute("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE intruder (x)").fetchall()
    other.execute("INSERT INTO intruder VALUES (1)")
    assert os.path.getsize(tmp_path / "other.db-wal") > 0
    shutil.copy(tmp_path / "other.db-wal", tmp_path / "copy.db-wal")
    other.close()
    db["a"] = 1
    db.backup(str(tmp_path / "copy.db"))
    with NanaSQLite(str(tmp_path / "copy.db")) as copy:
        assert copy.list_tables() == ["data"]
        assert copy["a"] == 1


def test_backup_from_memory_and_from_a_rollback_journal(tmp_path: Path) -> None:
    for name, store in (
        ("memory", NanaSQLite(":memory:")),
        ("journal", NanaSQLite(str(tmp_path / "journal.db"), optimize=False)),
    ):
        with store:
            assert store.pragma("journal_mode") != "wal"
            store["from"] = name
            store.backup(str(tmp_path / f"{name}-copy.db"))
        with NanaSQLite(str(tmp_path / f"{name}-copy.db")) as copy:
            assert copy["from"] == name


def test_backup_of_a_sub_table_copies_the_whole_file(db: NanaSQLite, tmp_path: Path) -> None:
    fill(db)
    db.table("settings").backup(str(tmp_path / "copy.db"))
    with NanaSQLite(str(tmp_path / "copy.db")) as copy:
        assert copy["n"] == 1


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_backup_never_writes_over_the_live_database(db: NanaSQLite, db_path: str, suffix: str) -> None:
    db["a"] = 1
    before = digest(db_path)
    with pytest.raises(NanaSQLiteValidationError, match="own database file"):
        db.backup(db_path + suffix)
    assert digest(db_path) == before
    assert db["a"] == 1


def test_backup_sees_through_links_to_the_live_database(db: NanaSQLite, db_path: str, tmp_path: Path) -> None:
    link = tmp_path / "link.db"
    link.symlink_to(db_path)
    with pytest.raises(NanaSQLiteValidationError):
        db.backup(str(link))
    relative = os.path.relpath(db_path)
    with pytest.raises(NanaSQLiteValidationError):
        db.backup(relative)


@pytest.mark.parametrize("dest", [":memory:", "", "file::memory:?cache=shared", 5, None])
def test_backup_needs_a_file_path(db: NanaSQLite, dest: object) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        db.backup(dest)  # type: ignore[arg-type]


def test_backup_failure_leaves_no_temporary_file(db: NanaSQLite, tmp_path: Path) -> None:
    target = tmp_path / "a-directory"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(NanaSQLiteDatabaseError) as info:
        db.backup(str(target))
    assert isinstance(info.value.original_error, OSError)
    assert leftovers(tmp_path) == []
    assert (target / "inside").read_text() == "x"
    with pytest.raises(NanaSQLiteDatabaseError):
        db.backup(str(tmp_path / "missing-dir" / "copy.db"))


def test_backup_inside_a_transaction_is_refused(db: NanaSQLite, tmp_path: Path) -> None:
    # The copy would otherwise contain, or miss, changes that are not committed yet.
    with db.transaction():
        db["pending"] = 1
        with pytest.raises(NanaSQLiteTransactionError):
            db.backup(str(tmp_path / "copy.db"))
    assert not (tmp_path / "copy.db").exists()


# -- restore ------------------------------------------------------------------------------------------------


def test_restore_brings_back_the_backup(db: NanaSQLite, tmp_path: Path) -> None:
    fill(db)
    settings = db.table("settings")
    db.backup(str(tmp_path / "copy.db"))
    db["n"] = 2
    db["extra"] = True
    settings["theme"] = "light"
    db.drop_table("users")
    assert (db["n"], settings["theme"]) == (2, "light")  # cached on both stores
    db.restore(str(tmp_path / "copy.db"))
    assert db.to_dict() == {"user": {"name": "Nana", "tags": ["a", "b"]}, "n": 1}
    assert settings.to_dict() == {"theme": "dark"}
    assert settings["theme"] == "dark"
    assert db.count("users") == 2
    assert leftovers(tmp_path) == []
    db["after"] = 1  # writable after the reconnect


def test_restore_survives_reopening_and_drops_the_old_wal(db_path: str, tmp_path: Path) -> None:
    db = NanaSQLite(db_path)
    db["a"] = "backup"
    db.backup(str(tmp_path / "copy.db"))
    db.pragma("wal_autocheckpoint", 0)  # keep the next writes in the WAL only
    for i in range(20):
        db[f"wal-{i}"] = i
    db.restore(str(tmp_path / "copy.db"))
    db.close()
    assert integrity(db_path) == ["ok"]
    with NanaSQLite(db_path) as again:
        assert again.to_dict() == {"a": "backup"}


def test_restore_keeps_the_file_mode(db: NanaSQLite, db_path: str, tmp_path: Path) -> None:
    db.backup(str(tmp_path / "copy.db"))
    os.chmod(db_path, 0o640)
    db.restore(str(tmp_path / "copy.db"))
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o640


def test_restore_reads_committed_data_still_in_the_sources_wal(db: NanaSQLite, tmp_path: Path) -> None:
    source = NanaSQLite(str(tmp_path / "source.db"))
    source.pragma("wal_autocheckpoint", 0)
    source["from"] = "source"
    try:
        assert os.path.getsize(tmp_path / "source.db-wal") > 0
        db.restore(str(tmp_path / "source.db"))
    finally:
        source.close()
    assert db["from"] == "source"


def test_restore_from_a_file_without_the_stores_table(db: NanaSQLite, tmp_path: Path) -> None:
    db["a"] = 1
    other = apsw.Connection(str(tmp_path / "other.db"))
    other.execute("CREATE TABLE things (x); INSERT INTO things VALUES (1)")
    other.close()
    db.restore(str(tmp_path / "other.db"))
    assert len(db) == 0
    assert db.list_tables() == ["data", "things"]
    db["b"] = 2
    assert db.to_dict() == {"b": 2}


def test_restore_through_a_sub_table_refreshes_the_parent(db: NanaSQLite, tmp_path: Path) -> None:
    db["a"] = 1
    db.backup(str(tmp_path / "copy.db"))
    db["a"] = 2
    assert db["a"] == 2
    db.table("child").restore(str(tmp_path / "copy.db"))
    assert db["a"] == 1


def _corrupt_copy(tmp_path: Path) -> Path:
    """A file with SQLite's header whose b-tree pages are damaged."""
    path = tmp_path / "corrupt.db"
    con = apsw.Connection(str(path))
    con.execute("CREATE TABLE t (a)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 100,) for _ in range(300)])
    con.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 4 * 4096
    data[2 * 4096 + 200 : 2 * 4096 + 900] = b"\xff" * 700
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["corrupt", "text", "empty", "header only", "missing"])
def test_a_bad_source_leaves_the_store_untouched(db: NanaSQLite, db_path: str, tmp_path: Path, kind: str) -> None:
    fill(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    before = digest(db_path)
    source = tmp_path / "source.db"
    if kind == "corrupt":
        source = _corrupt_copy(tmp_path)
    elif kind == "text":
        source.write_text("this is not a database\n" * 100)
    elif kind == "empty":
        source.write_bytes(b"")
    elif kind == "header only":
        source.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    with pytest.raises(NanaSQLiteDatabaseError):
        db.restore(str(source))
    assert digest(db_path) == before
    assert db["n"] == 1 and db.count("users") == 2
    assert leftovers(tmp_path) == []


def test_a_missing_source_reports_the_os_error(db: NanaSQLite, tmp_path: Path) -> None:
    with pytest.raises(NanaSQLiteDatabaseError) as info:
        db.restore(str(tmp_path / "missing.db"))
    assert isinstance(info.value.original_error, FileNotFoundError)


def test_restore_inside_a_transaction_is_refused(db: NanaSQLite, tmp_path: Path) -> None:
    db["a"] = 1
    db.backup(str(tmp_path / "copy.db"))
    db.begin_transaction()
    db["a"] = 2
    with pytest.raises(NanaSQLiteTransactionError):
        db.restore(str(tmp_path / "copy.db"))
    db.commit()
    assert db["a"] == 2


def test_restore_needs_a_database_file(tmp_path: Path) -> None:
    with NanaSQLite(str(tmp_path / "a.db")) as source:
        source["a"] = 1
    with NanaSQLite(":memory:") as memory:
        with pytest.raises(NanaSQLiteValidationError, match="in memory"):
            memory.restore(str(tmp_path / "a.db"))


def test_restore_from_the_live_file_is_refused(db: NanaSQLite, db_path: str) -> None:
    db["a"] = 1
    with pytest.raises(NanaSQLiteValidationError):
        db.restore(db_path)
    assert db["a"] == 1


def test_backup_and_restore_of_a_closed_store(db: NanaSQLite, tmp_path: Path) -> None:
    db.backup(str(tmp_path / "copy.db"))
    db.close()
    with pytest.raises(NanaSQLiteClosedError):
        db.backup(str(tmp_path / "again.db"))
    with pytest.raises(NanaSQLiteClosedError):
        db.restore(str(tmp_path / "copy.db"))
    assert not (tmp_path / "again.db").exists()
