"""File compatibility with the public 1.6.2 package, both ways.

``tests/golden/`` holds databases written by 1.6.2 (made by ``scripts/make_golden.py``, in both of its JSON
styles) and ``expected.json``, what they contain. They must read back identically here; and files this package
writes must read back identically in 1.6.2, run in a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import NanaSQLite

from .conftest import run_nana16

GOLDEN = Path(__file__).parent / "golden"
EXPECTED: dict[str, dict[str, dict[str, Any]]] = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))[
    "files"
]


def same(a: Any, b: Any) -> bool:
    """Equality that also requires equal types (1 is not 1.0), equal signs of zero, and NaN == NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out = [f"missing {k!r}" for k in want if k not in got] + [f"extra {k!r}" for k in got if k not in want]
    out += [f"{k!r}: {got[k]!r} != {want[k]!r}" for k in want if k in got and not same(got[k], want[k])]
    return out


def golden_copy(name: str, tmp_path: Path) -> str:
    """Copy a golden database to tmp_path: the committed file is never opened for writing."""
    target = tmp_path / name
    shutil.copyfile(GOLDEN / name, target)
    return str(target)


READ_WITH_16 = """
import json, sys
from nanasqlite import NanaSQLite
path, tables = json.loads(sys.stdin.read())
db = NanaSQLite(path)
out = {}
for table in tables:
    store = db if table == "data" else db.table(table)
    out[table] = {k: store[k] for k in store.keys()}
db.close()
print(json.dumps(out, ensure_ascii=False))
"""


def read_with_16(nana16: Path, path: str, tables: list[str], cwd: Path) -> dict[str, dict[str, Any]]:
    return json.loads(run_nana16(nana16, READ_WITH_16, cwd, json.dumps([path, tables])))  # type: ignore[no-any-return]


# -- golden files written by 1.6 -----------------------------------------------------------------------------


def test_golden_files_are_present_and_small() -> None:
    assert set(EXPECTED) == {"orjson_style.db", "stdlib_style.db"}
    assert all(set(tables) == {"data", "users"} for tables in EXPECTED.values())
    assert sum(p.stat().st_size for p in GOLDEN.iterdir()) < 100_000
    assert not list(GOLDEN.glob("*-wal")) and not list(GOLDEN.glob("*-shm"))


def test_golden_files_hold_both_json_styles_of_1_6(tmp_path: Path) -> None:
    con = apsw.Connection(golden_copy("stdlib_style.db", tmp_path))
    try:
        spaced = dict(con.execute("SELECT key, value FROM data"))
    finally:
        con.close()
    assert spaced["nested"].startswith('{"a": {"b": [1, 2, ')
    assert spaced["nan"] == "NaN"
    assert "-Infinity" in spaced["nested_nan"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_file_reads_back_identically(name: str, tmp_path: Path) -> None:
    path = golden_copy(name, tmp_path)
    with NanaSQLite(path) as db:
        for table, want in EXPECTED[name].items():
            store = db if table == "data" else db.table(table)
            assert sorted(store.keys()) == sorted(want)
            assert differences({k: store[k] for k in want}, want) == []
            assert differences(store.to_dict(), want) == []
            assert differences(store.batch_get(list(want)), want) == []
            assert len(store) == len(want)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_file_reads_back_identically_with_bulk_load(name: str, tmp_path: Path) -> None:
    path = golden_copy(name, tmp_path)
    for table, want in EXPECTED[name].items():
        with NanaSQLite(path, table=table, bulk_load=True) as store:
            assert all(store.is_cached(k) for k in want)
            assert differences({k: store[k] for k in want}, want) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_file_can_be_updated_in_place(name: str, tmp_path: Path) -> None:
    path = golden_copy(name, tmp_path)
    want = dict(EXPECTED[name]["data"])
    with NanaSQLite(path) as db:
        db["int"] = 43
        db.increment("zero")
        db.patch("nested", {"added": "here"})
        del db["none"]
    want["int"] = 43
    want["zero"] = 1
    want["nested"] = {**want["nested"], "added": "here"}
    del want["none"]
    with NanaSQLite(path) as db:
        assert differences(db.to_dict(), want) == []


# -- files written here, read by 1.6 -------------------------------------------------------------------------

# The golden contents that JSON can carry (1.6 with orjson cannot read NaN/Infinity, nor can we write them).
PORTABLE = EXPECTED["orjson_style.db"]


def test_a_file_written_here_reads_back_identically_in_1_6(tmp_path: Path, nana16: Path) -> None:
    path = str(tmp_path / "ours.db")
    with NanaSQLite(path) as db:
        db.batch_update(PORTABLE["data"])
        users = db.table("users")
        for key, value in PORTABLE["users"].items():
            users[key] = value
    got = read_with_16(nana16, path, ["data", "users"], tmp_path)
    assert differences(got["data"], PORTABLE["data"]) == []
    assert differences(got["users"], PORTABLE["users"]) == []


def test_1_6_reads_a_file_this_package_holds_open(tmp_path: Path, nana16: Path) -> None:
    path = str(tmp_path / "shared.db")
    with NanaSQLite(path) as db:
        db["live"] = {"written": "while open", "n": [1, 2.5, None]}
        db.table("users").update({"u": {"name": "ユーザー"}})
        got = read_with_16(nana16, path, ["data", "users"], tmp_path)
        assert got == {
            "data": {"live": {"written": "while open", "n": [1, 2.5, None]}},
            "users": {"u": {"name": "ユーザー"}},
        }
        db["after"] = True
        assert read_with_16(nana16, path, ["data"], tmp_path)["data"]["after"] is True


WRITE_WITH_16 = """
import json, sys
from nanasqlite import NanaSQLite
path, data, users = json.loads(sys.stdin.read())
db = NanaSQLite(path)
for k, v in data.items():
    db[k] = v
t = db.table("users")
for k, v in users.items():
    t[k] = v
db.close()
"""


def test_a_file_written_by_1_6_now_reads_back_here(tmp_path: Path, nana16: Path) -> None:
    path = str(tmp_path / "theirs.db")
    stdin = json.dumps([path, PORTABLE["data"], PORTABLE["users"]])
    run_nana16(nana16, WRITE_WITH_16, tmp_path, stdin)
    with NanaSQLite(path) as db:
        assert differences(db.to_dict(), PORTABLE["data"]) == []
        assert differences(db.table("users").to_dict(), PORTABLE["users"]) == []


def test_a_file_changed_by_both_packages_stays_readable_by_both(tmp_path: Path, nana16: Path) -> None:
    path = golden_copy("orjson_style.db", tmp_path)
    with NanaSQLite(path) as db:
        db["ours"] = {"k": "書いた"}
        db.table("users").patch("alice", {"age": 31})
        db.table("fresh")["t"] = [1]
        stdin = json.dumps([path, {"theirs": [True, None]}, {"bob": {"replaced": 1}}])
        run_nana16(nana16, WRITE_WITH_16, tmp_path, stdin)
        assert db.get_fresh("theirs") == [True, None]
        assert db.table("users")["bob"] == {"replaced": 1}
    want_data = {**PORTABLE["data"], "ours": {"k": "書いた"}, "theirs": [True, None]}
    want_users = {**PORTABLE["users"], "bob": {"replaced": 1}}
    want_users["alice"] = {**want_users["alice"], "age": 31}
    got = read_with_16(nana16, path, ["data", "users", "fresh"], tmp_path)
    assert differences(got["data"], want_data) == []
    assert differences(got["users"], want_users) == []
    assert got["fresh"] == {"t": [1]}


# -- without network -------------------------------------------------------------------------------------------

# pip that cannot reach any index: what an offline machine gets, but at once.
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull}


def run_offline(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """This file's first test that needs 1.6.2, in a pytest of its own where pip cannot install it."""
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    environ.update(OFFLINE_PIP, NANASQLITE_TEST_NANA16_DIR=str(tmp_path / "not-installed"), **env)
    test = f"{Path(__file__).name}::test_a_file_written_here_reads_back_identically_in_1_6"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
        cwd=Path(__file__).parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_without_network_the_1_6_tests_are_skipped_with_the_reason(tmp_path: Path) -> None:
    result = run_offline(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert "1 skipped" in summary and "passed" not in summary and "error" not in summary
    assert "needs nanasqlite==1.6.2, which pip could not install (offline?)" in result.stdout
    assert "No matching distribution" in result.stdout  # pip's own last line
    assert "under CI=true this is a failure" in result.stdout


def test_under_ci_the_1_6_tests_fail_when_1_6_cannot_be_installed(tmp_path: Path) -> None:
    result = run_offline(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert "1 error" in summary and "skipped" not in summary and "passed" not in summary
    assert "CI=true and nanasqlite==1.6.2 could not be installed" in result.stdout


# -- the exceptions ------------------------------------------------------------------------------------------

EXCEPTIONS_16 = """
import json, nanasqlite
names = [n for n in nanasqlite.__all__ if n.startswith("NanaSQLite") and n.endswith("Error")]
print(json.dumps({n: [c.__name__ for c in getattr(nanasqlite, n).__mro__] for n in names}))
"""


def test_exceptions_have_the_1_6_names_and_bases(tmp_path: Path, nana16: Path) -> None:
    import nanasqlite

    theirs: dict[str, list[str]] = json.loads(run_nana16(nana16, EXCEPTIONS_16, tmp_path))
    assert len(theirs) == 8
    for name, mro in theirs.items():
        assert name in nanasqlite.__all__
        ours = [c.__name__ for c in getattr(nanasqlite, name).__mro__]
        assert set(mro) <= set(ours), name
        assert issubclass(getattr(nanasqlite, name), nanasqlite.NanaSQLiteError)


def test_validation_error_is_also_a_value_error_and_closed_error_a_connection_error() -> None:
    import nanasqlite

    assert issubclass(nanasqlite.NanaSQLiteValidationError, ValueError)
    assert issubclass(nanasqlite.NanaSQLiteClosedError, nanasqlite.NanaSQLiteConnectionError)
    assert issubclass(nanasqlite.NanaSQLiteConnectionError, nanasqlite.NanaSQLiteError)
    assert not issubclass(nanasqlite.NanaSQLiteClosedError, ValueError)
    for name in ("Database", "Transaction", "Lock", "Cache"):
        assert issubclass(getattr(nanasqlite, f"NanaSQLite{name}Error"), nanasqlite.NanaSQLiteError)


def test_a_stored_value_that_is_not_json_raises_database_error(db_path: str) -> None:
    import nanasqlite

    with NanaSQLite(db_path) as db:
        db["ok"] = 1
    con = apsw.Connection(db_path)
    con.execute("INSERT INTO data (key, value) VALUES ('broken', '{not json')")
    con.close()
    with NanaSQLite(db_path) as db:
        with pytest.raises(nanasqlite.NanaSQLiteDatabaseError, match="broken"):
            db["broken"]
        assert db["ok"] == 1


def test_a_sql_null_value_reads_as_none(db_path: str) -> None:
    # 1.6 raised a JSON decode error for such rows (written by hand or by other tools) on every read path.
    with NanaSQLite(db_path) as db:
        db["x"] = 1
    con = apsw.Connection(db_path)
    con.execute("INSERT INTO data (key, value) VALUES ('null', NULL)")
    con.close()
    with NanaSQLite(db_path) as db:
        assert db["null"] is None
        assert "null" in db
        assert db.get("null", "default") is None
        assert db.batch_get(["null"]) == {"null": None}
        assert db.to_dict() == {"null": None, "x": 1}
    with NanaSQLite(db_path, bulk_load=True) as db:
        assert db["null"] is None
        assert "null" in db
