"""Explicit transactions: begin/commit/rollback, the context manager, savepoints and thread ownership."""

from __future__ import annotations

import threading
from typing import Any

import apsw
import pytest

from nanasqlite import (
    NanaSQLite,
    NanaSQLiteDatabaseError,
    NanaSQLiteError,
    NanaSQLiteTransactionError,
    NanaSQLiteValidationError,
)

# How long a thread that must be blocked is given to (wrongly) get through. Not a timing assertion: the test
# only fails if the blocked operation completes, which no delay could make correct.
BLOCKED_WINDOW = 0.3


def file_rows(path: str, table: str = "data") -> dict[str, str]:
    con = apsw.Connection(path)
    try:
        return dict(con.execute(f'SELECT key, value FROM "{table}"').fetchall())
    finally:
        con.close()


def test_commit_makes_writes_visible_to_other_connections(db: NanaSQLite, db_path: str) -> None:
    db.begin_transaction()
    assert db.in_transaction()
    db["a"] = 1
    db.update({"b": 2})
    assert db["a"] == 1  # the transaction sees its own writes
    assert file_rows(db_path) == {}
    db.commit()
    assert not db.in_transaction()
    assert file_rows(db_path) == {"a": "1", "b": "2"}
    assert db.to_dict() == {"a": 1, "b": 2}


def test_rollback_undoes_writes_and_the_cache_shows_the_old_values(db: NanaSQLite, db_path: str) -> None:
    db.update({"k": "old", "d": "keep"})
    assert db["k"] == "old"
    db.begin_transaction()
    db["k"] = "new"
    del db["d"]
    db["added"] = 1
    assert db["k"] == "new"
    assert "d" not in db
    db.rollback()
    assert not db.in_transaction()
    assert db["k"] == "old"
    assert db["d"] == "keep"
    assert "added" not in db
    assert file_rows(db_path) == {"d": '"keep"', "k": '"old"'}


def test_transaction_context_commits_on_success(db: NanaSQLite, db_path: str) -> None:
    with db.transaction() as tx:
        assert tx is db
        db["a"] = 1
        assert file_rows(db_path) == {}
    assert not db.in_transaction()
    assert file_rows(db_path) == {"a": "1"}


def test_transaction_context_rolls_back_on_error_and_reraises(db: NanaSQLite, db_path: str) -> None:
    db["k"] = "old"
    with pytest.raises(ValueError, match="boom"):
        with db.transaction():
            db["k"] = "new"
            db["other"] = 1
            assert db.pop("k") == "new"
            raise ValueError("boom")
    assert not db.in_transaction()
    assert db["k"] == "old"
    assert "other" not in db
    assert file_rows(db_path) == {"k": '"old"'}


def test_failed_write_inside_the_context_rolls_back_everything(db: NanaSQLite, db_path: str) -> None:
    with pytest.raises(TypeError):
        with db.transaction():
            db["a"] = 1
            db["b"] = {1, 2}
    assert file_rows(db_path) == {}
    assert "a" not in db


def test_store_works_normally_after_a_rollback(db: NanaSQLite, db_path: str) -> None:
    db.begin_transaction()
    db["a"] = 1
    db.rollback()
    db["b"] = 2
    with db.transaction():
        db["c"] = 3
    assert file_rows(db_path) == {"b": "2", "c": "3"}


def test_nested_begin_is_a_savepoint(db: NanaSQLite, db_path: str) -> None:
    db.begin_transaction()
    db["outer"] = 1
    db.begin_transaction()
    db["inner"] = 1
    db["outer"] = 2
    db.rollback()  # undoes only the inner level
    assert db.in_transaction()
    assert db["outer"] == 1
    assert "inner" not in db
    db.begin_transaction()
    db["inner2"] = 1
    db.commit()  # releases the savepoint; nothing is durable yet
    assert db.in_transaction()
    assert file_rows(db_path) == {}
    db.commit()
    assert not db.in_transaction()
    assert file_rows(db_path) == {"inner2": "1", "outer": "1"}


def test_nested_transaction_contexts(db: NanaSQLite, db_path: str) -> None:
    with db.transaction():
        db["a"] = 1
        with pytest.raises(RuntimeError):
            with db.transaction():
                db["b"] = 1
                raise RuntimeError
        assert "b" not in db
        with db.transaction():
            db["c"] = 1
    assert file_rows(db_path) == {"a": "1", "c": "1"}


def test_an_error_in_an_inner_context_can_roll_back_the_outer_one_too(db: NanaSQLite, db_path: str) -> None:
    with pytest.raises(RuntimeError):
        with db.transaction():
            db["a"] = 1
            with db.transaction():
                db["b"] = 1
                raise RuntimeError
    assert not db.in_transaction()
    assert file_rows(db_path) == {}


@pytest.mark.parametrize("method", ["commit", "rollback"])
def test_ending_a_transaction_that_is_not_open_raises(db: NanaSQLite, method: str) -> None:
    with pytest.raises(NanaSQLiteTransactionError) as info:
        getattr(db, method)()
    assert isinstance(info.value, NanaSQLiteError)
    db.begin_transaction()
    db.commit()
    with pytest.raises(NanaSQLiteTransactionError):
        getattr(db, method)()


def test_atomic_operations_and_pop_are_undone_by_rollback(db: NanaSQLite) -> None:
    db.update({"n": 1, "d": {"a": 1}, "p": "x"})
    with pytest.raises(KeyError):
        with db.transaction():
            assert db.increment("n", 5) == 6
            assert db.patch("d", {"b": 2}) == {"a": 1, "b": 2}
            assert db.pop("p") == "x"
            assert db.popitem() == ("d", {"a": 1, "b": 2})
            raise KeyError("abort")
    assert db.to_dict() == {"d": {"a": 1}, "n": 1, "p": "x"}


def test_close_inside_a_transaction_rolls_it_back(db_path: str) -> None:
    db = NanaSQLite(db_path)
    db["kept"] = 1
    db.begin_transaction()
    db["lost"] = 1
    db.close()
    assert file_rows(db_path) == {"kept": "1"}
    with NanaSQLite(db_path) as again:
        again["after"] = 1  # the file is not left locked
        assert again.to_dict() == {"after": 1, "kept": 1}


def test_a_transaction_holds_off_writes_of_another_connection(db: NanaSQLite, db_path: str) -> None:
    db.begin_transaction()
    db["mine"] = 1
    other = NanaSQLite(db_path, busy_timeout=0)
    try:
        with pytest.raises(NanaSQLiteError):
            other["theirs"] = 1
        db.commit()
        other["theirs"] = 1
        assert other.to_dict() == {"mine": 1, "theirs": 1}
    finally:
        other.close()


# -- thread ownership ----------------------------------------------------------------------------------------


def run_in_thread(fn: Any) -> tuple[threading.Thread, threading.Event, list[Any]]:
    """Start ``fn`` in a thread; return it, an event set when it finished, and its [result] or [exception]."""
    done = threading.Event()
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, done, outcome


def test_another_threads_write_waits_until_the_transaction_ends(db: NanaSQLite, db_path: str) -> None:
    db.begin_transaction()
    db["k"] = "from the transaction"
    started = threading.Event()

    def write() -> None:
        started.set()
        db["k"] = "from the other thread"

    thread, done, outcome = run_in_thread(write)
    assert started.wait(10)
    assert not done.wait(BLOCKED_WINDOW)  # it waits instead of writing into our transaction
    db["k2"] = "still ours"
    db.commit()
    thread.join(10)
    assert outcome == [None]
    assert db["k"] == "from the other thread"
    assert file_rows(db_path) == {"k": '"from the other thread"', "k2": '"still ours"'}


def test_another_threads_write_waits_out_a_rollback(db: NanaSQLite, db_path: str) -> None:
    db.begin_transaction()
    db["undone"] = 1
    thread, done, outcome = run_in_thread(lambda: db.batch_update({"other": 2}))
    assert not done.wait(BLOCKED_WINDOW)
    db.rollback()
    thread.join(10)
    assert outcome == [None]
    assert file_rows(db_path) == {"other": "2"}


@pytest.mark.parametrize("method", ["commit", "rollback"])
def test_another_thread_cannot_end_the_transaction(db: NanaSQLite, db_path: str, method: str) -> None:
    db.begin_transaction()
    db["k"] = 1
    thread, done, outcome = run_in_thread(getattr(db, method))
    thread.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], NanaSQLiteTransactionError)
    assert db.in_transaction()
    assert file_rows(db_path) == {}
    db.commit()
    assert file_rows(db_path) == {"k": "1"}


@pytest.mark.parametrize("method", ["commit", "rollback"])
@pytest.mark.parametrize("in_transaction", [False, True], ids=["no transaction", "their transaction"])
def test_ending_a_transaction_while_another_thread_runs_a_statement(
    db: NanaSQLite, db_path: str, method: str, in_transaction: bool
) -> None:
    """The caller owns no transaction: it is told so at once, without touching the connection another thread
    is using (APSW would raise ThreadingViolationError) and without waiting for that thread."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> int:  # an SQL function: the other thread stays inside its statement until released
        inside.set()
        release.wait(10)
        return 1

    db._conn.apsw.create_scalar_function("hold", hold, 0)

    def other_thread() -> Any:
        if not in_transaction:
            return db.fetch_one("SELECT hold()")
        db.begin_transaction()
        db["theirs"] = 1
        row = db.fetch_one("SELECT hold()")
        db.commit()
        return row

    thread, done, outcome = run_in_thread(other_thread)
    try:
        assert inside.wait(10)
        for _ in range(2):
            with pytest.raises(NanaSQLiteTransactionError) as info:
                getattr(db, method)()
            owner = "the open transaction belongs to another thread"
            assert str(info.value) == (
                f"{method}(): {owner}"
                if in_transaction
                else f"No transaction in progress: {method}() without an open transaction"
            )
        assert not done.is_set()  # answered while the other thread was still inside its statement
    finally:
        release.set()
        thread.join(10)
    assert outcome == [(1,)]
    assert not db.in_transaction()
    assert file_rows(db_path) == ({"theirs": "1"} if in_transaction else {})


def test_threads_may_each_run_their_own_transactions(db: NanaSQLite, db_path: str) -> None:
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(20):
            with db.transaction():
                db[f"t{n}-{i}"] = i
                db.increment("total", default=0)
                if i % 5 == 0:
                    db.begin_transaction()
                    db[f"t{n}-{i}-undone"] = True
                    db.rollback()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    rows = file_rows(db_path)
    assert rows.pop("total") == "80"
    assert rows == {f"t{n}-{i}": str(i) for n in range(4) for i in range(20)}
    assert db["total"] == 80


def test_lock_timeout_makes_a_waiting_thread_give_up(db_path: str) -> None:
    from nanasqlite import NanaSQLiteLockError

    with NanaSQLite(db_path, lock_timeout=0.2) as db:
        db.begin_transaction()
        db["k"] = "ours"
        thread, done, outcome = run_in_thread(lambda: db.__setitem__("k", "theirs"))
        thread.join(30)
        assert len(outcome) == 1
        assert isinstance(outcome[0], NanaSQLiteLockError)
        db.commit()
        assert db["k"] == "ours"
        thread, done, outcome = run_in_thread(lambda: db.__setitem__("k", "theirs"))
        thread.join(30)
        assert outcome == [None]
        assert db["k"] == "theirs"


def test_another_thread_never_reads_uncommitted_data(db: NanaSQLite) -> None:
    db.update({"k": "committed", "untouched": 1})
    assert db["k"] == "committed"
    db.begin_transaction()
    db["k"] = "uncommitted"
    db["new"] = "uncommitted"
    thread, done, outcome = run_in_thread(lambda: (db.get("k"), db.get("new"), db["untouched"]))
    done.wait(BLOCKED_WINDOW)
    db.rollback()
    thread.join(10)
    assert outcome == [("committed", None, 1)]


def _writer_can_write(db: NanaSQLite, key: str) -> bool:
    """True when another thread can write within 5 s (the lock of a transaction would block it)."""
    done = threading.Event()

    def write() -> None:
        db[key] = "from another thread"
        done.set()

    t = threading.Thread(target=write, daemon=True)
    t.start()
    ok = done.wait(5)
    t.join(5)
    return ok


def test_a_transaction_sqlite_rolled_back_itself_is_over(db: NanaSQLite) -> None:
    db["kept"] = 1
    db.execute(
        "CREATE TRIGGER abort_all BEFORE INSERT ON data WHEN new.key = 'boom' BEGIN SELECT RAISE(ROLLBACK, 'no'); END"
    )
    with pytest.raises(NanaSQLiteDatabaseError, match="no"):
        with db.transaction():
            db["inside"] = 1
            db["boom"] = 1
    assert not db.in_transaction()
    assert "inside" not in db
    assert _writer_can_write(db, "after")
    assert db.to_dict() == {"kept": 1, "after": "from another thread"}


def test_commit_after_sqlite_ended_the_transaction_raises_and_frees_the_store(db: NanaSQLite) -> None:
    db.execute(
        "CREATE TRIGGER abort_all BEFORE INSERT ON data WHEN new.key = 'boom' BEGIN SELECT RAISE(ROLLBACK, 'no'); END"
    )
    db.begin_transaction()
    with pytest.raises(NanaSQLiteDatabaseError):
        db["boom"] = 1
    with pytest.raises(NanaSQLiteTransactionError, match="rolled the transaction back"):
        db.commit()
    assert not db.in_transaction()
    assert _writer_can_write(db, "after")


def test_a_failing_commit_in_the_context_manager_rolls_back_and_frees_the_store(db: NanaSQLite) -> None:
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, "
        "parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(NanaSQLiteDatabaseError, match="FOREIGN KEY"):
        with db.transaction():
            db["inside"] = 1
            db.execute("INSERT INTO child (parent_id) VALUES (42)")
    assert not db.in_transaction()
    assert "inside" not in db
    assert db.fetch_all("SELECT * FROM child") == []
    assert _writer_can_write(db, "after")


def test_a_failed_atomic_operation_keeps_the_rest_of_the_cache(db: NanaSQLite) -> None:
    db["a"] = {"n": 1}
    assert db["a"] == {"n": 1}
    assert db.is_cached("a")
    with pytest.raises(KeyError):
        db.increment("missing")
    with pytest.raises(NanaSQLiteValidationError):
        db.increment("a")  # a dict, not a number
    assert db.is_cached("a")
    assert db["a"] == {"n": 1}


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN",
        "begin immediate",
        "  COMMIT",
        "END TRANSACTION",
        "ROLLBACK",
        "SAVEPOINT sp",
        "RELEASE sp",
        "/* note */ BEGIN",
        "-- note\nBEGIN",
        "SELECT 1; BEGIN",
    ],
)
def test_execute_refuses_transaction_control_behind_the_stores_back(db: NanaSQLite, sql: str) -> None:
    db["kept"] = 1
    with pytest.raises(NanaSQLiteTransactionError, match=r"db\.transaction\(\)"):
        list(db.execute(sql))
    assert not db.in_transaction()
    assert not db._conn.apsw.in_transaction
    db["after"] = 2
    with NanaSQLite(db._db_path) as other:
        assert other.to_dict() == {"kept": 1, "after": 2}


def test_a_transaction_left_open_behind_the_store_is_rolled_back_before_the_next_call(db: NanaSQLite) -> None:
    # Only an interrupted call can leave one open; its own writes are all it can hold.
    db["kept"] = 1
    db._conn.apsw.execute("BEGIN")
    db._conn.apsw.execute("INSERT INTO data (key, value) VALUES ('half-done', '1')")
    assert "half-done" not in db
    assert not db._conn.apsw.in_transaction
    db["after"] = 2
    with NanaSQLite(db._db_path) as other:
        assert other.to_dict() == {"after": 2, "kept": 1}
