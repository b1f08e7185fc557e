"""The command-line tool, run as users run it: ``python -m nanasqlite ...`` in a subprocess, on real files.

Subprocesses inherit ``NANASQLITE_NO_EXTENSIONS`` / ``NANASQLITE_REQUIRE_EXTENSIONS``, so the tool is tested
on the same implementation as the rest of the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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


def test_set_of_an_unquoted_string_shows_how_to_quote_it(tmp_path: Path) -> None:
    # The shell ate the quotes of "hello": the error shows the value as the shell must be given it.
    line = one_line_error(nana("set", "x.db", "k", "hello", cwd=tmp_path), "invalid JSON value")
    assert """'"hello"'""" in line
    line = one_line_error(nana("set", "x.db", "k", "it's", cwd=tmp_path), "invalid JSON value")
    assert """'"it'"'"'s"'""" in line  # a quote inside the string survives the shell too
    line = one_line_error(nana("set", "x.db", "k", "こんにちは", cwd=tmp_path), "invalid JSON value")
    assert """'"こんにちは"'""" in line  # as typed, not as \u escapes
    assert not (tmp_path / "x.db").exists()
    ok(nana("set", "x.db", "k", '"hello"', cwd=tmp_path))
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert db["k"] == "hello"


def test_set_of_malformed_json_gets_no_quoting_hint(tmp_path: Path) -> None:
    # Only a value that is not JSON from its first character looks like an unquoted string.
    line = one_line_error(nana("set", "x.db", "k", '{"a": }', cwd=tmp_path), "invalid JSON value", "column 7")
    assert "quote" not in line


def tables_of(path: Path) -> list[str]:
    con = apsw.Connection(str(path))
    try:
        return sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        con.close()


@pytest.mark.parametrize("command", ["set", "load"])
def test_writing_to_a_table_not_in_the_file_needs_create(store: Path, command: str) -> None:
    args = ["set", store.name, "k", "1"] if command == "set" else ["load", store.name]
    stdin = jsonl(("k", 1)) if command == "load" else None
    one_line_error(
        nana(*args, "--table", "dta", cwd=store.parent, stdin=stdin), "no table 'dta'", "data, other", "--create"
    )
    assert tables_of(store) == ["data", "other"]
    ok(nana(*args, "--table", "dta", "--create", cwd=store.parent, stdin=stdin))
    assert tables_of(store) == ["data", "dta", "other"]
    with NanaSQLite(str(store), table="dta") as db:
        assert db.to_dict() == {"k": 1}


def test_writing_into_a_new_file_creates_it_with_its_table(tmp_path: Path) -> None:
    ok(nana("set", "new.db", "k", "1", "--table", "t", cwd=tmp_path))
    assert tables_of(tmp_path / "new.db") == ["t"]
    one_line_error(nana("set", "nodir/new.db", "k", "1", cwd=tmp_path), "directory 'nodir' does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db"]


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
    if os.environ.get("NANASQLITE_NO_EXTENSIONS") == "1":
        assert "pure Python" in out and "NANASQLITE_NO_EXTENSIONS=1" in out


def test_info_without_a_file_describes_the_installation(tmp_path: Path) -> None:
    out = ok(nana("info", cwd=tmp_path))
    assert f"nanasqlite:    {nanasqlite.__version__}, " in out
    assert ("compiled extensions" in out) is nanasqlite.NATIVE
    assert ("pure Python" in out) is not nanasqlite.NATIVE
    assert str(Path(nanasqlite.__file__).parent) in out
    assert "Python:" in out and "SQLite:" in out
    assert list(tmp_path.iterdir()) == []


COMMANDS = ["bench", "info", "get", "set", "delete", "keys", "dump", "load", "backup"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_a_description_and_an_example(tmp_path: Path, command: str) -> None:
    out = ok(nana(command, "--help", cwd=tmp_path))
    usage, description = out.split("\n\n")[:2]
    assert usage.startswith(f"usage: nanasqlite {command}")
    assert not description.startswith(("positional arguments", "options")) and len(description) > 30
    examples = out.split("examples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith(f"  nanasqlite {command}") or "| nanasqlite" in line for line in examples)


def test_load_help_describes_the_input_format(tmp_path: Path) -> None:
    out = ok(nana("load", "--help", cwd=tmp_path))
    assert "input format" in out and '{"key": KEY, "value": VALUE}' in out
    example = next(line.strip() for line in out.splitlines() if line.strip().startswith('{"key": "user:1"'))
    ok(nana("load", "x.db", cwd=tmp_path, stdin=example + "\n"))  # the documented line really loads
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert db["user:1"] == json.loads(example)["value"]


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
    assert "3 records (3 lines, 2 batches)" in out
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


def test_counts_of_one_are_singular(store: Path) -> None:
    out = ok(nana("load", "one.db", cwd=store.parent, stdin=jsonl(("a", 1))))
    assert "loaded 1 record (1 line, 1 batch) into 'data'" in out
    data = jsonl(("a", 1)) + "[]\n"
    line = one_line_error(nana("load", "two.db", "--batch-size", "1", cwd=store.parent, stdin=data), "line 2")
    assert "1 record in 1 batch, up to line 1 of the input" in line
    info = ok(nana("info", store.name, cwd=store.parent))
    assert [ln.split()[1:] for ln in info.splitlines() if ln.startswith("  other")] == [["1", "row"]]


def row_count(path: Path) -> int:
    """Rows in the data table of a database another process is writing; 0 while there is none."""
    try:
        con = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error:
        return 0
    try:
        return int(con.execute("SELECT COUNT(*) FROM data").get)
    except apsw.Error:
        return 0
    finally:
        con.close()


# The child resets SIGINT to Python's handler: a test run started in the background inherits it ignored.
LOAD_WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from nanasqlite.cli import main; sys.exit(main())"
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="sends SIGINT")
def test_ctrl_c_during_load_says_how_many_records_were_committed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOAD_WITH_CTRL_C, "load", "x.db", "--batch-size", "10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(jsonl(*((f"k{i:02d}", i) for i in range(25))))  # two batches, and half of a third
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while row_count(tmp_path / "x.db") < 20 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert row_count(tmp_path / "x.db") == 20, proc.poll()
        proc.send_signal(signal.SIGINT)  # while it waits for more input
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        "nanasqlite: error: interrupted: committed into 'data': 20 records in 2 batches, up to line 20 of the "
        "input; nothing after that was written"
    ]
    with NanaSQLite(str(tmp_path / "x.db")) as db:
        assert db.to_dict() == {f"k{i:02d}": i for i in range(20)}


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


def test_backup_into_a_missing_directory_says_so(store: Path) -> None:
    line = one_line_error(nana("backup", store.name, "nodir/copy.db", cwd=store.parent), "nodir/copy.db")
    assert line.endswith("directory 'nodir' does not exist")
    line = one_line_error(nana("backup", store.name, f"{store.name}/copy.db", cwd=store.parent))
    assert line.endswith(f"'{store.name}' is not a directory")
    one_line_error(nana("backup", store.name, ".", cwd=store.parent), "is a directory")
    assert ".tmp" not in line and not [p for p in store.parent.iterdir() if not p.name.startswith("store.db")]


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
    assert "spread: half the interquartile range of the 2 repetitions" in out  # how to read it
    ours = "nanasqlite" if nanasqlite.NATIVE else "nanasqlite-pure"
    assert f"  nanasqlite bench --quick --compare --peers {ours},nanasqlite-1.6.2,apsw+orjson,dict\n" in out
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
    assert any(line.startswith("cached get db[k] ") for line in out.splitlines())  # an aligned text table
    assert "ours vs 1.6.2" in out and "docs/bench/targets.md" in out
    report = json.loads((tmp_path / "c.json").read_text())
    cached, cold = report["workloads"]
    assert cached["results"]["dict"]["status"] == "ok" and cached["results"]["apsw+orjson"]["status"] == "n/a"
    assert cold["results"]["apsw+orjson"]["status"] == "ok" and cold["results"]["dict"]["status"] == "n/a"
    assert cold["results"]["nanasqlite-pure"]["status"] == "ok"
    assert report["peers"]["nanasqlite-pure"]["versions"]["native"] == "False"
    assert cold["ratios"] == {}  # no baseline asked for
