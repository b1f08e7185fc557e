"""The command-line tool, run as users run it: ``python -m nanasqlite ...`` in a subprocess, on real files.

Subprocesses inherit ``NANASQLITE_NO_EXTENSIONS`` / ``NANASQLITE_REQUIRE_EXTENSIONS``, so the tool is tested
on the same implementation as the rest of the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

import nanasqlite
from nanasqlite import NanaSQLite


def nana(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nanasqlite", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The run failed with exactly one line on stderr, naming every fragment, and no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nanasqlite: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def jsonl(*pairs: tuple[str, object]) -> str:
    return "".join(json.dumps({"key": k, "value": v}) + "\n" for k, v in pairs)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A database file holding a few pairs, and a second table."""
    path = tmp_path / "store.db"
    with NanaSQLite(str(path)) as db:
        db.batch_update({"user:1": {"name": "Nana", "tags": ["a", "é"]}, "user:2": [1, 2.5, None], "zeta": "z"})
        db.table("other")["k"] = 1
    return path


# -- get / set / delete / keys ---------------------------------------------------------------------------


def test_set_then_get_round_trips_a_json_value(tmp_path: Path) -> None:
    ok(nana("set", "new.db", "k", '{"a": [1, 2.5, "é", null, true]}', cwd=tmp_path))
    assert json.loads(ok(nana("get", "new.db", "k", cwd=tmp_path))) == {"a": [1, 2.5, "é", None, True]}
    with NanaSQLite(str(tmp_path / "new.db")) as db:
        assert db["k"] == {"a": [1, 2.5, "é", None, True]}


def test_get_reads_the_named_table(store: Path) -> None:
    assert json.loads(ok(nana("get", store.name, "k", "--table", "other", cwd=store.parent))) == 1


def test_get_on_a_missing_file_fails_without_creating_it(tmp_path: Path) -> None:
    one_line_error(nana("get", "missing.db", "k", cwd=tmp_path), "missing.db", "no such file")
    assert list(tmp_path.iterdir()) == []


def test_get_of_a_missing_key_fails(store: Path) -> None:
    one_line_error(nana("get", store.name, "nope", cwd=store.parent), "'nope'", "not found")


@pytest.mark.parametrize("command", [["get", "k"], ["delete", "k"], ["keys"], ["dump"]])
def test_an_unknown_table_fails_and_is_not_created(store: Path, command: list[str]) -> None:
    args = [command[0], store.name, *command[1:], "--table", "nosuch"]
    one_line_error(nana(*args, cwd=store.parent), "no table 'nosuch'")
    con = apsw.Connection(str(store))
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        con.close()
    assert "nosuch" not in names


def test_set_with_invalid_json_fails_and_writes_nothing(store: Path) -> None:
    one_line_error(nana("set", store.name, "zeta", "{bad", cwd=store.parent), "invalid JSON")
    with NanaSQLite(str(store)) as db:
        assert db["zeta"] == "z"


def test_set_of_a_value_json_cannot_store_fails(tmp_path: Path) -> None:
    one_line_error(nana("set", "x.db", "k", "NaN", cwd=tmp_path), "'k'")
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert "k" not in db


def test_delete_removes_a_key_and_a_missing_key_fails(store: Path) -> None:
    ok(nana("delete", store.name, "zeta", cwd=store.parent))
    one_line_error(nana("delete", store.name, "zeta", cwd=store.parent), "'zeta'", "not found")
    with NanaSQLite(str(store)) as db:
        assert sorted(db.keys()) == ["user:1", "user:2"]


def test_delete_on_a_missing_file_fails_without_creating_it(tmp_path: Path) -> None:
    one_line_error(nana("delete", "missing.db", "k", cwd=tmp_path), "no such file")
    assert list(tmp_path.iterdir()) == []


def test_keys_lists_in_key_order_with_prefix_and_limit(store: Path) -> None:
    assert ok(nana("keys", store.name, cwd=store.parent)).splitlines() == ["user:1", "user:2", "zeta"]
    assert ok(nana("keys", store.name, "--prefix", "user:", cwd=store.parent)).splitlines() == [
        "user:1",
        "user:2",
    ]
    assert ok(nana("keys", store.name, "--prefix", "user:", "--limit", "1", cwd=store.parent)).splitlines() == [
        "user:1"
    ]


def test_a_file_that_is_not_a_database_fails(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database, just some text that is long enough" * 20)
    for command in (["get", "notes.txt", "k"], ["info", "notes.txt"], ["set", "notes.txt", "k", "1"]):
        one_line_error(nana(*command, cwd=tmp_path), "notes.txt")


def test_a_malformed_command_line_is_a_usage_error(tmp_path: Path) -> None:
    result = nana("keys", "x.db", "--limit", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert nana(cwd=tmp_path).returncode == 2


def test_version_names_the_implementation(tmp_path: Path) -> None:
    out = ok(nana("--version", cwd=tmp_path))
    assert nanasqlite.__version__ in out
    assert ("compiled" in out) is nanasqlite.NATIVE


# -- dump / load -----------------------------------------------------------------------------------------


def test_dump_writes_json_lines_that_load_reads_back(store: Path) -> None:
    dumped = ok(nana("dump", store.name, cwd=store.parent))
    records = [json.loads(line) for line in dumped.splitlines()]
    assert records == [
        {"key": "user:1", "value": {"name": "Nana", "tags": ["a", "é"]}},
        {"key": "user:2", "value": [1, 2.5, None]},
        {"key": "zeta", "value": "z"},
    ]
    out = ok(nana("load", "copy.db", "--table", "t", "--batch-size", "2", cwd=store.parent, stdin=dumped))
    assert "3 records" in out and "2 batches" in out
    with NanaSQLite(str(store.parent / "copy.db"), table="t") as db, NanaSQLite(str(store)) as original:
        assert db.to_dict() == original.to_dict()


def test_load_skips_blank_lines_and_last_value_of_a_key_wins(tmp_path: Path) -> None:
    data = jsonl(("a", 1), ("b", 2)) + "\n" + jsonl(("a", 3))
    out = ok(nana("load", "x.db", cwd=tmp_path, stdin=data))
    assert "3 records" in out
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert db.to_dict() == {"a": 3, "b": 2}


def test_load_of_a_malformed_line_keeps_earlier_batches_and_nothing_of_its_own(tmp_path: Path) -> None:
    data = jsonl(("a", 1), ("b", 2), ("c", 3)) + '{"key": "d", "value": \n' + jsonl(("e", 5))
    line = one_line_error(nana("load", "x.db", "--batch-size", "2", cwd=tmp_path, stdin=data), "line 4")
    assert "invalid JSON" in line and "2 records" in line
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert db.to_dict() == {"a": 1, "b": 2}  # "c" shared the failing batch


def test_load_names_the_line_of_a_value_that_cannot_be_stored(tmp_path: Path) -> None:
    data = jsonl(("a", 1)) + '{"key": "b", "value": NaN}\n' + jsonl(("c", 3))
    one_line_error(nana("load", "x.db", cwd=tmp_path, stdin=data), "line 2", "'b'")
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert len(db) == 0


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("[1, 2]", "expected an object"),
        ('{"key": "a"}', "expected an object"),
        ('{"key": 1, "value": 2}', "string"),
    ],
)
def test_load_rejects_records_of_the_wrong_shape(tmp_path: Path, line: str, why: str) -> None:
    one_line_error(nana("load", "x.db", cwd=tmp_path, stdin=jsonl(("ok", 0)) + line + "\n"), "line 2", why)


# -- info / backup ---------------------------------------------------------------------------------------


def test_info_shows_tables_counts_journal_mode_and_implementation(store: Path) -> None:
    out = ok(nana("info", store.name, cwd=store.parent))
    assert "journal mode:  wal" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    assert rows == {"data": "3", "other": "1"}
    assert ("compiled extensions" in out) is nanasqlite.NATIVE
    assert ("pure Python" in out) is not nanasqlite.NATIVE
    assert "SQLite:" in out and "size:" in out and "WAL file:" in out


def test_info_on_a_missing_file_fails_without_creating_it(tmp_path: Path) -> None:
    one_line_error(nana("info", "missing.db", cwd=tmp_path), "no such file")
    assert list(tmp_path.iterdir()) == []


def test_backup_copies_the_whole_database(store: Path) -> None:
    ok(nana("backup", store.name, "copy.db", cwd=store.parent))
    with NanaSQLite(str(store.parent / "copy.db")) as db:
        assert db["zeta"] == "z"
        assert db.table("other")["k"] == 1


def test_backup_refuses_to_overwrite_and_needs_an_existing_source(store: Path) -> None:
    (store.parent / "taken.db").write_bytes(b"precious")
    one_line_error(nana("backup", store.name, "taken.db", cwd=store.parent), "already exists")
    assert (store.parent / "taken.db").read_bytes() == b"precious"
    one_line_error(nana("backup", "missing.db", "out.db", cwd=store.parent), "no such file")
    assert not (store.parent / "missing.db").exists() and not (store.parent / "out.db").exists()


# -- bench -----------------------------------------------------------------------------------------------


def test_bench_quick_prints_its_table_and_writes_the_reports(tmp_path: Path) -> None:
    result = nana(
        "bench",
        "--quick",
        "--items",
        "20",
        "--reps",
        "2",
        "--json",
        "r.json",
        "--markdown",
        "r.md",
        cwd=tmp_path,
    )
    out = ok(result)
    assert f"NATIVE = {nanasqlite.NATIVE}" in out
    assert "single autocommit set" in out and "items/s" in out
    report = json.loads((tmp_path / "r.json").read_text())
    names = [row["name"] for row in report["workloads"]]
    assert names[:3] == ["set", "get_cached", "get_cold"] and "scaling" in names
    for row in report["workloads"]:
        result = row["results"]["nanasqlite"]
        if row["name"].startswith("async") and not hasattr(nanasqlite, "AsyncNanaSQLite"):
            assert result["status"] == "n/a"
            continue
        assert result["status"] == "ok", (row["name"], result)
        assert len(result["samples"]) == 2 and result["median"] > 0
    assert report["peers"]["nanasqlite"]["versions"]["native"] == str(nanasqlite.NATIVE)
    assert "| single autocommit set |" in (tmp_path / "r.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]  # the temporary database is gone


def test_bench_file_option_creates_the_named_file_and_refuses_an_existing_one(tmp_path: Path) -> None:
    ok(
        nana(
            "bench",
            "--items",
            "5",
            "--reps",
            "1",
            "--workloads",
            "set,get_cold",
            "--file",
            "b.db",
            cwd=tmp_path,
        )
    )
    assert (tmp_path / "b.db").exists()
    one_line_error(nana("bench", "--items", "5", "--file", "b.db", cwd=tmp_path), "already exists")


def test_bench_chart_needs_compare(tmp_path: Path) -> None:
    one_line_error(nana("bench", "--chart", "c.png", cwd=tmp_path), "--compare")
    assert not (tmp_path / "c.png").exists()


def test_bench_compare_runs_peers_in_subprocesses(tmp_path: Path) -> None:
    args = ["bench", "--compare", "--quick", "--items", "20", "--reps", "2", "--json", "c.json"]
    out = ok(
        nana(
            *args,
            "--peers",
            "nanasqlite-pure,apsw+orjson,dict",
            "--workloads",
            "get_cached,get_cold",
            cwd=tmp_path,
        )
    )
    assert "| cached get db[k] |" in out
    report = json.loads((tmp_path / "c.json").read_text())
    cached, cold = report["workloads"]
    assert cached["results"]["dict"]["status"] == "ok" and cached["results"]["apsw+orjson"]["status"] == "n/a"
    assert cold["results"]["apsw+orjson"]["status"] == "ok" and cold["results"]["dict"]["status"] == "n/a"
    assert cold["results"]["nanasqlite-pure"]["status"] == "ok"
    assert report["peers"]["nanasqlite-pure"]["versions"]["native"] == "False"
    assert cold["ratios"] == {}  # no baseline asked for
