"""The batch kernel (``_speedups._bridge`` and its pure twin ``nanasqlite._bridge``), driven directly on APSW
connections, and through the store where the store's behaviour depends on it."""

from __future__ import annotations

import importlib
import json
import random
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import apsw
import pytest

from nanasqlite import NanaSQLite, NanaSQLiteClosedError, NanaSQLiteDatabaseError

from .conftest import NO_EXT, REQUIRE_EXT

KERNELS = ["apsw"] if NO_EXT else ["apsw", "native"]
PUT = "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)"
INSERT = "INSERT INTO kv (key, value) VALUES (?, ?)"
GET = "SELECT key, value FROM kv WHERE key IN ("
DELETE = "DELETE FROM kv WHERE key = ?"
SCAN = "SELECT key, value FROM kv ORDER BY key"


@pytest.fixture(params=KERNELS)
def kernel(request: pytest.FixtureRequest) -> ModuleType:
    name = "nanasqlite._bridge" if request.param == "apsw" else "nanasqlite._speedups._bridge"
    return importlib.import_module(name)


@pytest.fixture
def con(tmp_path: Any, kernel: ModuleType) -> Iterator[apsw.Connection]:
    c = apsw.Connection(str(tmp_path / "k.db"))
    c.execute("PRAGMA journal_mode = WAL").fetchall()
    c.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    assert kernel.attach(c) is True
    yield c
    c.close()


def rows(c: apsw.Connection) -> dict[str, Any]:
    return {k: v for k, v in c.execute(SCAN)}


def decode(key: str, text: str | None) -> Any:
    """The decoder the store hands to get_many, without the store's error wrapping."""
    return None if text is None else json.loads(text)


def test_native_kernel_is_active_in_the_store_when_extensions_are_required(db: NanaSQLite) -> None:
    expected = "apsw" if NO_EXT else "native"
    if REQUIRE_EXT or NO_EXT:
        assert db._conn.kernel_name == expected


def test_put_many_writes_every_pair_and_returns_the_texts(con: apsw.Connection, kernel: ModuleType) -> None:
    values = [{"a": [1, 2.5, None, True]}, "é😀\x00nul", [], {}, -(2**63), 2**64 - 1, 1e16]
    keys = [f"k{i}" for i in range(len(values))]
    texts = kernel.put_many(con, PUT, keys, values)
    assert texts == [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in values]
    assert rows(con) == dict(zip(keys, texts, strict=True))
    assert not con.in_transaction


def test_empty_batches_do_nothing(con: apsw.Connection, kernel: ModuleType) -> None:
    assert kernel.put_many(con, PUT, [], []) == []
    kernel.delete_many(con, DELETE, [])
    assert kernel.get_many(con, GET, [], decode) == {}
    assert kernel.scan(con, SCAN) == ([], [])
    assert not con.in_transaction


@pytest.mark.parametrize("n", [1, 255, 256, 257, 513, 1000])
def test_get_many_across_chunk_boundaries(con: apsw.Connection, kernel: ModuleType, n: int) -> None:
    keys = [f"k{i}" for i in range(n)]
    kernel.put_many(con, PUT, keys[::2], list(range(0, n, 2)))
    asked = keys[::-1] + keys[:3]  # duplicates are fine; the answer is in the order asked
    found = kernel.get_many(con, GET, asked, decode)
    assert list(found.items()) == [(k, int(k[1:])) for k in keys[::-1] if int(k[1:]) % 2 == 0]


def test_get_many_decodes_what_it_can_and_asks_decode_for_the_rest(con: apsw.Connection, kernel: ModuleType) -> None:
    con.execute("INSERT INTO kv VALUES ('json', '{\"a\": [1, 2.5]}'), ('nan', 'NaN'), ('bad', '{oops'), ('null', NULL)")
    calls: list[tuple[str, str | None]] = []

    def fallback(key: str, text: str | None) -> Any:
        calls.append((key, text))
        if text == "{oops":
            return "not json"
        return None if text is None else json.loads(text)

    found = kernel.get_many(con, GET, ["null", "bad", "json", "nan"], fallback)
    assert repr(found) == repr({"null": None, "bad": "not json", "json": {"a": [1, 2.5]}, "nan": float("nan")})
    # the compiled kernel parses the JSON itself; NULL and what the standard library decides go to decode
    assert {k for k, _ in calls} >= {"null", "bad", "nan"}
    assert ("bad", "{oops") in calls and ("null", None) in calls

    def refuse_bad(key: str, text: str | None) -> Any:
        if text == "{oops":
            raise ValueError(f"cannot decode {key!r}")
        return fallback(key, text)

    with pytest.raises(ValueError, match="cannot decode 'bad'"):
        kernel.get_many(con, GET, ["json", "bad"], refuse_bad)


@pytest.mark.parametrize("seed", range(4))
def test_get_many_matches_keys_in_any_order_and_shape(con: apsw.Connection, kernel: ModuleType, seed: int) -> None:
    # keys that share long prefixes, prefixes of each other, empty, NUL, non-ASCII, in random order with
    # duplicates and missing ones: each found key gets its own value, in the order asked
    rng = random.Random(seed)
    alphabet = ["a", "b", "\x00", "é", "😀", "key:0000"]
    stored = sorted({"".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(900)})
    kernel.put_many(con, PUT, stored, [{"k": k} for k in stored])
    asked = rng.sample(stored, len(stored) // 2) + ["missing", "", "a" * 7] + rng.sample(stored, 20)
    present = set(stored)
    expected = {key: {"k": key} for key in dict.fromkeys(asked) if key in present}
    assert list(kernel.get_many(con, GET, asked, decode).items()) == list(expected.items())


def test_huge_batch_round_trips(con: apsw.Connection, kernel: ModuleType) -> None:
    n = 50_000
    keys = [f"key-{i:06d}" for i in range(n)]
    values = [{"i": i, "s": "x" * (i % 50), "nested": [[i]]} for i in range(n)]
    texts = kernel.put_many(con, PUT, keys, values)
    got_keys, got_texts = kernel.scan(con, SCAN)
    assert got_keys == keys
    assert got_texts == texts
    assert [json.loads(t) for t in got_texts[:3]] == values[:3]


def test_keys_and_values_with_nul_and_astral_characters(con: apsw.Connection, kernel: ModuleType) -> None:
    keys = ["a\x00b", "😀", "ключ", ""]
    values = ["\x00", "𝄞" * 1000, {"😀": "\x00\x1f"}, None]
    kernel.put_many(con, PUT, keys, values)
    found = kernel.get_many(con, GET, keys + ["missing"], decode)
    assert list(found.items()) == list(zip(keys, values, strict=True))


def test_a_big_value_survives(con: apsw.Connection, kernel: ModuleType) -> None:
    big = {"blob": "é" * 3_000_000, "list": list(range(100_000))}
    (text,) = kernel.put_many(con, PUT, ["big"], [big])
    assert kernel.get_many(con, GET, ["big"], decode)["big"] == big
    assert len(text) > 3_000_000


def test_deeply_nested_values(con: apsw.Connection, kernel: ModuleType) -> None:
    deep: Any = "leaf"
    for _ in range(255):
        deep = [deep]
    kernel.put_many(con, PUT, ["deep"], [deep])
    assert kernel.get_many(con, GET, ["deep"], decode)["deep"] == deep
    with pytest.raises(ValueError, match="'too-deep'"):
        kernel.put_many(con, PUT, ["ok", "too-deep"], [1, [deep]])
    assert "ok" not in rows(con)


def test_a_bad_value_names_its_key_and_writes_nothing(con: apsw.Connection, kernel: ModuleType) -> None:
    kernel.put_many(con, PUT, ["keep"], [1])
    with pytest.raises(TypeError, match="cannot store key 'bad'"):
        kernel.put_many(con, PUT, ["a", "bad", "c"], [1, {1, 2}, 3])
    with pytest.raises(ValueError, match="cannot store key 'nan'"):
        kernel.put_many(con, PUT, ["a", "nan"], [1, float("nan")])
    with pytest.raises(TypeError, match="keys must be str"):
        kernel.put_many(con, PUT, ["a", 7], [1, 2])
    assert rows(con) == {"keep": "1"}
    assert not con.in_transaction


def test_a_batch_failing_halfway_in_sqlite_writes_nothing_and_leaves_apsw_usable(
    con: apsw.Connection, kernel: ModuleType
) -> None:
    kernel.put_many(con, PUT, ["k2"], ["old"])
    keys = [f"k{i}" for i in range(5)]
    with pytest.raises(apsw.ConstraintError):
        kernel.put_many(con, INSERT, keys, list(range(5)))  # k2 already exists: fails at the third row
    assert rows(con) == {"k2": '"old"'}
    assert not con.in_transaction
    con.execute("INSERT INTO kv VALUES ('after', '1')")
    assert rows(con)["after"] == "1"


def test_inside_a_transaction_a_failed_batch_undoes_only_itself(con: apsw.Connection, kernel: ModuleType) -> None:
    con.execute("BEGIN")
    con.execute("INSERT INTO kv VALUES ('mine', '1')")
    kernel.put_many(con, PUT, ["batch1"], [1])
    with pytest.raises(apsw.ConstraintError):
        kernel.put_many(con, INSERT, ["x", "mine"], [1, 2])
    assert con.in_transaction
    con.execute("COMMIT")
    assert rows(con) == {"mine": "1", "batch1": "1"}


def test_write_texts_stores_texts_as_given_and_deletes_in_one_transaction(
    con: apsw.Connection, kernel: ModuleType
) -> None:
    kernel.put_many(con, PUT, ["gone", "kept"], [1, 2])
    kernel.write_texts(
        con, PUT, ["a", "é\U0001f600", "kept"], ['{"x":1}', '"\u00e9"', "null"], DELETE, ["gone", "nope"]
    )
    assert rows(con) == {"a": '{"x":1}', "é\U0001f600": '"\u00e9"', "kept": "null"}
    kernel.write_texts(con, PUT, [], [], DELETE, [])
    with pytest.raises(ValueError):
        kernel.write_texts(con, PUT, ["a"], [], DELETE, [])
    with pytest.raises(TypeError):
        kernel.write_texts(con, PUT, ["a"], [1], DELETE, [])
    assert not con.in_transaction


def test_write_texts_is_all_or_nothing(con: apsw.Connection, kernel: ModuleType) -> None:
    kernel.put_many(con, PUT, ["k2", "del"], ["old", 1])
    with pytest.raises(apsw.ConstraintError):
        kernel.write_texts(con, INSERT, ["k1", "k2", "k3"], ["1", "2", "3"], DELETE, ["del"])
    assert rows(con) == {"k2": '"old"', "del": "1"}
    assert not con.in_transaction
    con.execute("CREATE TRIGGER no_del BEFORE DELETE ON kv BEGIN SELECT RAISE(ABORT, 'kept'); END")
    with pytest.raises(apsw.ConstraintError):
        kernel.write_texts(con, PUT, ["new"], ["1"], DELETE, ["del"])  # the delete fails after the put
    assert rows(con) == {"k2": '"old"', "del": "1"}
    con.execute("BEGIN")
    kernel.write_texts(con, PUT, ["inside"], ["1"], DELETE, [])
    con.execute("ROLLBACK")  # inside the caller's transaction: rolled back with it
    assert "inside" not in rows(con)


def test_delete_many_is_all_or_nothing(con: apsw.Connection, kernel: ModuleType) -> None:
    kernel.put_many(con, PUT, ["a", "b", "c"], [1, 2, 3])
    kernel.delete_many(con, DELETE, ["a", "missing", "c"])
    assert rows(con) == {"b": "2"}
    con.execute(
        "CREATE TRIGGER no_b BEFORE DELETE ON kv WHEN old.key = 'b' BEGIN SELECT RAISE(ABORT, 'b is kept'); END"
    )
    kernel.put_many(con, PUT, ["a"], [1])
    with pytest.raises(apsw.ConstraintError, match="b is kept"):
        kernel.delete_many(con, DELETE, ["a", "b"])
    assert rows(con) == {"a": "1", "b": "2"}


def test_sql_null_values_come_back_as_none(con: apsw.Connection, kernel: ModuleType) -> None:
    con.execute("INSERT INTO kv VALUES ('null', NULL)")
    assert kernel.get_many(con, GET, ["null"], lambda k, t: ("decoded", k, t)) == {"null": ("decoded", "null", None)}
    assert kernel.scan(con, SCAN) == (["null"], [None])


def test_sql_errors_are_apsw_errors(con: apsw.Connection, kernel: ModuleType) -> None:
    with pytest.raises(apsw.SQLError, match="no such table"):
        kernel.put_many(con, "INSERT INTO nope VALUES (?, ?)", ["a"], [1])
    with pytest.raises(apsw.SQLError):
        kernel.scan(con, "SELECT broken FROM")
    assert not con.in_transaction


def test_a_closed_connection_is_refused(tmp_path: Any, kernel: ModuleType) -> None:
    c = apsw.Connection(str(tmp_path / "c.db"))
    kernel.attach(c)
    c.close()
    with pytest.raises(apsw.ConnectionClosedError):
        kernel.put_many(c, PUT, ["a"], [1])


def test_values_mutated_by_another_thread_during_batches(con: apsw.Connection, kernel: ModuleType) -> None:
    shared: dict[str, Any] = {"n": 0, "items": []}
    stop = threading.Event()

    def mutate() -> None:
        i = 0
        while not stop.is_set() and i < 2_000_000:
            shared["n"] = i
            shared["items"] = [i] * (i % 7)
            shared.pop("extra", None) if i % 2 else shared.__setitem__("extra", str(i))
            shared["long"] = str(i) * 100  # long strings are read in place by the compiled kernel
            i += 1

    t = threading.Thread(target=mutate)
    t.start()
    try:
        for round_ in range(30):
            texts = kernel.put_many(con, PUT, [f"r{round_}-{j}" for j in range(200)], [shared] * 200)
            for text in texts:
                value = json.loads(text)
                assert set(value) <= {"n", "items", "extra", "long"}
    finally:
        stop.set()
        t.join()
    assert len(rows(con)) == 30 * 200


def test_the_store_waits_for_a_running_batch_before_closing(db_path: str) -> None:
    db = NanaSQLite(db_path)
    data = {f"k{i}": {"i": i} for i in range(100_000)}
    started = threading.Event()
    outcome: list[BaseException | None] = []

    def write() -> None:
        started.set()
        try:
            db.batch_update(data)
            outcome.append(None)
        except NanaSQLiteClosedError as exc:
            outcome.append(exc)

    t = threading.Thread(target=write)
    t.start()
    started.wait()
    db.close()
    t.join()
    with NanaSQLite(db_path) as again:
        assert len(again) in (0, len(data))  # all or nothing, whichever came first
        if outcome == [None]:
            assert len(again) == len(data)
            assert again["k99999"] == {"i": 99999}


def test_store_batch_failure_in_sqlite_is_a_database_error_and_writes_nothing(db: NanaSQLite) -> None:
    db["keep"] = 1
    db.execute(
        "CREATE TRIGGER no_poison BEFORE INSERT ON data WHEN new.key = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    )
    with pytest.raises(NanaSQLiteDatabaseError, match="poisoned") as info:
        db.batch_update({"a": 1, "poison": 2, "z": 3})
    assert isinstance(info.value.original_error, apsw.ConstraintError)
    assert db.to_dict() == {"keep": 1}
    assert db.get("a") is None
    db.batch_update({"a": 1})
    assert db.to_dict() == {"keep": 1, "a": 1}


# -- the point read ----------------------------------------------------------------------------------------

POINT = "SELECT value FROM kv WHERE key = ?"
ABSENT_MARK = object()


def point(con: apsw.Connection, kernel: ModuleType) -> Any:
    def fallback(text: str) -> Any:
        from nanasqlite._native import codec

        return codec.loads(text)

    return kernel.PointRead(con, POINT, ABSENT_MARK, fallback)


def test_point_read_returns_values_none_for_null_and_the_absent_mark(con: apsw.Connection, kernel: ModuleType) -> None:
    big = {"text": "é" * 70_000, "floats": [random.random() for _ in range(2000)]}
    con.executemany(PUT, [("a", '{"x":[1,2.5,"é"]}'), ("big", json.dumps(big)), ("s", '"short"')])
    con.execute("INSERT INTO kv VALUES ('null', NULL)")
    reader = point(con, kernel)
    assert reader.read("s") == "short"
    assert reader.read("big") == big  # the buffer grows
    assert reader.read("a") == {"x": [1, 2.5, "é"]}  # and is reused for a smaller one
    assert reader.read("null") is None
    assert reader.read("missing") is ABSENT_MARK
    assert reader.read("") is ABSENT_MARK
    reader.close()


def test_point_read_leaves_no_transaction_open(con: apsw.Connection, kernel: ModuleType, tmp_path: Any) -> None:
    # Every read resets its statement: another connection can write and checkpoint in full at once.
    con.execute(PUT, ("k", "1"))
    reader = point(con, kernel)
    assert reader.read("k") == 1
    other = apsw.Connection(str(tmp_path / "k.db"))
    other.execute(PUT, ("k", "2"))
    busy, log, done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert (busy, log, done) == (0, 0, 0)  # no reader held an old snapshot
    assert reader.read("k") == 2
    other.close()
    reader.close()


def test_point_read_errors(con: apsw.Connection, kernel: ModuleType) -> None:
    con.execute(PUT, ("bad", "{not json"))
    reader = point(con, kernel)
    with pytest.raises(ValueError):
        reader.read("bad")
    with pytest.raises(UnicodeEncodeError):
        reader.read("\ud800")
    assert reader.read("bad2") is ABSENT_MARK  # still usable after both
    reader.close()
    reader.close()  # idempotent
    with pytest.raises(apsw.ConnectionClosedError):
        reader.read("bad")


def test_point_read_on_a_missing_table_is_an_apsw_error(con: apsw.Connection, kernel: ModuleType) -> None:
    reader = kernel.PointRead(con, "SELECT value FROM nope WHERE key = ?", ABSENT_MARK, json.loads)
    with pytest.raises(apsw.SQLError):
        reader.read("k")
    reader.close()


def test_a_connection_with_a_forgotten_point_read_still_closes(tmp_path: Any, kernel: ModuleType) -> None:
    c = apsw.Connection(str(tmp_path / "f.db"))
    c.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    c.execute(PUT, ("k", "[1]"))
    assert kernel.attach(c)
    reader = point(c, kernel)
    assert reader.read("k") == [1]
    del reader  # finalized by the garbage collector, before the connection it holds
    c.close()


def test_store_cold_reads_go_through_the_point_read_and_survive_restore(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    db = NanaSQLite(path)
    db["a"] = {"v": 1}
    db.backup(str(tmp_path / "b.db"))
    db["a"] = {"v": 2}
    db.clear_cache()
    assert db["a"] == {"v": 2}
    db.restore(str(tmp_path / "b.db"))  # the connection is reopened: its statements are made again
    assert db["a"] == {"v": 1}
    assert db.get("zz") is None
    db.execute("UPDATE data SET value = '{oops' WHERE key = 'a'")
    with pytest.raises(NanaSQLiteDatabaseError, match="not valid JSON"):
        db["a"]
    db.close()
    with pytest.raises(NanaSQLiteClosedError):
        db["a"]


# -- first reads of cached texts (the compiled front decodes them itself; the pure one through _miss) --------


def test_first_reads_after_bulk_load_decode_and_keep_the_value(tmp_path: Any) -> None:
    path = str(tmp_path / "b.db")
    with NanaSQLite(path) as db:
        db.batch_update({f"k{i}": {"i": i, "f": i / 3} for i in range(100)})
        db.execute("INSERT INTO data VALUES ('null', NULL), ('bad', '[1,')")
    db = NanaSQLite(path, bulk_load=True)
    assert "k5" in db and "null" in db
    first = db["k5"]
    assert first == {"i": 5, "f": 5 / 3}
    assert db["k5"] is first  # decoded once, then a cache hit
    assert db.get("k6") == {"i": 6, "f": 2.0}
    assert db["null"] is None and db.get("null", 1) is None
    for _ in range(2):  # not JSON: the store's error, every time, and the text stays as it is
        with pytest.raises(NanaSQLiteDatabaseError, match="not valid JSON"):
            db["bad"]
        with pytest.raises(NanaSQLiteDatabaseError, match="not valid JSON"):
            db.get("bad")
    db["k7"] = [7]  # a write replaces the loaded text
    assert db["k7"] == [7]
    del db["bad"]
    assert db.to_dict()["k8"] == {"i": 8, "f": 8 / 3}
    db.close()
    with pytest.raises(NanaSQLiteClosedError):
        db["k9"]
