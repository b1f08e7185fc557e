"""The command-line tool: ``nanasqlite`` (or ``python -m nanasqlite``).

    nanasqlite bench [--quick] [--compare] [--json P] [--markdown P] [--chart P] [--file P]
    nanasqlite info [FILE]
    nanasqlite get FILE KEY          nanasqlite set FILE KEY JSON        nanasqlite delete FILE KEY
    nanasqlite keys FILE [--prefix P] [--limit N]
    nanasqlite dump FILE > data.jsonl                  nanasqlite load FILE < data.jsonl
    nanasqlite backup FILE DEST

Every store command takes ``--table`` (default ``data``). Commands that only read (and ``delete``) never
create a file or a table. ``set`` and ``load`` create a missing file with its table; in an existing file they
write only into an existing table unless ``--create`` is given, so that a mistyped ``--table`` is an error
naming the tables there. Bad input ends with one line on stderr and exit status 1 (2 for a malformed command
line, 130 for Ctrl-C), never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import apsw

from . import __version__
from ._native import BUILD_HINT, MISSING, codec, implementation
from .core import NanaSQLite
from .exceptions import NanaSQLiteError
from .storage import path_text, quote_identifier

__all__ = ["main", "build_parser", "add_bench_arguments", "run_bench"]

_DEFAULT_TABLE = "data"


class CLIError(Exception):
    """A user error: printed as one line, exit status 1."""


class CLIInterrupted(Exception):
    """Ctrl-C, with what was done before it: printed as one line, exit status 130."""


def _plural(n: int, word: str, words: str | None = None) -> str:
    """``1 record``, ``2 records``; ``words`` for an irregular plural."""
    return f"{n:,} " + (word if n == 1 else words or word + "s")


# -- opening files ---------------------------------------------------------------------------------------


def _require_file(path: str) -> None:
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory")


@contextmanager
def _inspect(path: str | os.PathLike[str] | bytes) -> Iterator[apsw.Connection]:
    """A read-only connection to an existing file, for looking at its schema without touching it."""
    path = path_text(path, "path")
    _require_file(path)
    try:
        con = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error as exc:
        raise CLIError(f"{path}: cannot open: {exc}") from None
    try:
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except apsw.NotADBError as exc:
            raise CLIError(f"{path}: not a SQLite database ({exc})") from None
        except apsw.Error as exc:  # a database it cannot read: permissions, a WAL it cannot open, corruption
            raise CLIError(f"{path}: cannot read the database ({exc})") from None
        yield con
    finally:
        con.close()


def _tables(con: apsw.Connection) -> list[str]:
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    return [row[0] for row in con.execute(sql)]


def _no_table(path: str, table: str, tables: list[str], hint: str = "") -> CLIError:
    there = f"its tables: {', '.join(tables)}" if tables else "it has no tables"
    return CLIError(f"{path}: no table {table!r} ({there}){hint}")


def _open(
    path: str | os.PathLike[str] | bytes, table: str, *, write: bool = False, create: bool = False, change: bool = False
) -> NanaSQLite:
    """The store over ``table`` of ``path``.

    For reading (not ``write``) the file and the table must exist, and the store is opened read-only (the file's
    journal mode is left as it is) unless ``change`` (deleting: what is there may change, nothing is created).
    For writing, a missing file is created with the table; in an existing file the table must exist unless
    ``create``: a mistyped ``--table`` must not quietly start a new, empty table.
    """
    path = path_text(path, "path")
    if write and not os.path.exists(path):
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise CLIError(f"{path}: directory {os.path.dirname(path) or '.'!r} does not exist")
        return NanaSQLite(path, table=table, optimize=True)
    with _inspect(path) as con:
        tables = _tables(con)
    if table not in tables:
        if not (write and create):
            hint = "; pass --create to create it" if write else ""
            raise _no_table(path, table, tables, hint)
    return NanaSQLite(path, table=table, optimize=write, readonly=not (write or change))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- store commands --------------------------------------------------------------------------------------


def _package_lines() -> list[str]:
    """The installation: version, which implementation runs and why, where it is."""
    lines = [
        f"nanasqlite:    {__version__}, {implementation()}",
        f"installed in:  {os.path.dirname(os.path.abspath(__file__))}",
        f"Python:        {platform.python_implementation()} {platform.python_version()}",
        f"SQLite:        {apsw.sqlite_lib_version()} (APSW {apsw.apsw_version()})",
    ]
    for name, why in MISSING.items():
        lines.append(f"  missing: nanasqlite._speedups.{name} ({why})")
    if MISSING:
        lines.append(f"  {BUILD_HINT}")
    return lines


def cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    path = args.file
    if path is None:
        out.write("\n".join(_package_lines()) + "\n")
        return 0
    with _inspect(path) as con:
        mode = con.execute("PRAGMA journal_mode").get
        rows = []
        for name in _tables(con):
            t = quote_identifier(name)
            count = con.execute(f"SELECT COUNT(*) FROM {t}").get
            columns = [c[1] for c in con.execute(f"PRAGMA table_info({t})")]
            rows.append((name, count, columns == ["key", "value"]))
    wal = path + "-wal"
    lines = [
        f"file:          {os.path.abspath(path)}",
        f"size:          {_size(os.path.getsize(path))}",
        f"WAL file:      {_size(os.path.getsize(wal)) if os.path.exists(wal) else 'none'}",
        f"journal mode:  {mode}",
        f"SQLite:        {apsw.sqlite_lib_version()} (APSW {apsw.apsw_version()})",
        f"nanasqlite:    {__version__}, {implementation()}",
        f"tables:        {len(rows)}",
    ]
    width = max((len(name) for name, _, _ in rows), default=0)
    for name, count, kv in rows:
        lines.append(
            f"  {name:<{width}}  {count:>12,} {'row' if count == 1 else 'rows'}"
            + ("" if kv else "  (not a key-value table)")
        )
    out.write("\n".join(lines) + "\n")
    return 0


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def cmd_get(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args.file, args.table) as db:
        try:
            value = db[args.key]
        except KeyError:
            raise CLIError(f"key {args.key!r} not found in table {args.table!r}") from None
    out.write(_dumps(value) + "\n")
    return 0


def cmd_set(args: argparse.Namespace, out: TextIO) -> int:
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.pos == 0:  # not JSON from its first character: most often a string the shell unquoted
            quoted = shlex.quote(json.dumps(args.value, ensure_ascii=False))
            hint = f" (a string value is JSON too, in quotes that the shell keeps: {quoted})"
        raise CLIError(f"invalid JSON value: {exc.msg} at column {exc.colno}{hint}") from None
    with _open(args.file, args.table, write=True, create=args.create) as db:
        try:
            db[args.key] = value
        except (TypeError, ValueError) as exc:
            raise CLIError(str(exc)) from None
    return 0


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args.file, args.table, change=True) as db:
        try:
            del db[args.key]
        except KeyError:
            raise CLIError(f"key {args.key!r} not found in table {args.table!r}") from None
    return 0


def cmd_keys(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args.file, args.table) as db:
        keys = db.keys()
    shown = 0
    for key in keys:
        if args.limit is not None and shown >= args.limit:
            break
        if key.startswith(args.prefix):
            out.write(key + "\n")
            shown += 1
    return 0


def cmd_dump(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args.file, args.table) as db:
        for key, value in db.iter_items(batch_size=1000):
            out.write(_dumps({"key": key, "value": value}) + "\n")
    return 0


class _Progress:
    """A progress line on stderr, only when stderr is a terminal."""

    def __init__(self, total_bytes: int | None) -> None:
        self.on = sys.stderr.isatty()
        self.total = total_bytes
        self.last = 0.0

    def show(self, items: int, done_bytes: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.on or (not final and now - self.last < 0.1):
            return
        self.last = now
        if self.total:
            part = min(done_bytes / self.total, 1.0)
            bar = "#" * int(part * 30)
            line = f"[{bar:<30}] {part:4.0%}  {_plural(items, 'record')}"
        else:
            line = _plural(items, "record")
        sys.stderr.write("\r" + line + ("\n" if final else ""))
        sys.stderr.flush()


class _DeferInterrupt:
    """While ``deferring``, Ctrl-C waits: it is raised when the protected step ends (``check``).

    The committed count of ``load`` is exact only if a KeyboardInterrupt cannot land between a batch's COMMIT
    and the line that counts it. Outside the protected steps Ctrl-C raises at once, also while waiting for
    input. Installed only in the main thread and only over Python's own handler (not over an ignored SIGINT).
    """

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False
        self.previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.deferring:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> _DeferInterrupt:
        if threading.current_thread() is threading.main_thread() and (
            signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def check(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


def cmd_load(args: argparse.Namespace, out: TextIO) -> int:
    source = sys.stdin.buffer
    try:
        info = os.fstat(source.fileno())
        total = info.st_size if stat.S_ISREG(info.st_mode) else None
    except (OSError, ValueError):
        total = None
    progress = _Progress(total)
    written = pending = batches = done_bytes = 0  # records: committed, and in the open batch
    committed_line = 0  # the input line of the last record committed
    batch: dict[str, Any] = {}
    lines: dict[str, int] = {}

    def so_far() -> str:
        done = f"{_plural(written, 'record')} in {_plural(batches, 'batch', 'batches')}"
        return done + (f", up to line {committed_line:,} of the input" if batches else "")

    def failed(lineno: int, reason: str) -> CLIError:
        progress.show(written, done_bytes, final=True)
        return CLIError(f"line {lineno}: {reason} (committed before it: {so_far()}; nothing of the failing batch)")

    with _open(args.file, args.table, write=True, create=args.create) as db, _DeferInterrupt() as interrupt:

        def flush() -> None:
            nonlocal written, pending, batches, committed_line
            interrupt.deferring = True
            try:
                db.batch_update(batch)
            except (TypeError, ValueError) as exc:
                for key, value in batch.items():
                    try:
                        codec.dumps(value)
                    except (TypeError, ValueError) as bad:
                        raise failed(lines[key], f"cannot store key {key!r}: {bad}") from None
                raise failed(max(lines.values()), str(exc)) from None
            else:
                written += pending
                pending = 0
                batches += 1
                committed_line = max(lines.values())
                batch.clear()
                lines.clear()
            finally:
                interrupt.deferring = False
            progress.show(written, done_bytes)
            interrupt.check()

        lineno = 0
        try:
            for lineno, raw in enumerate(source, 1):
                done_bytes += len(raw)
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError as exc:
                    msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    raise failed(lineno, f"invalid JSON: {msg}") from None
                if not isinstance(record, dict) or "key" not in record or "value" not in record:
                    raise failed(lineno, 'expected an object {"key": ..., "value": ...}')
                key = record["key"]
                if not isinstance(key, str):
                    raise failed(lineno, f"the key must be a string, not {type(key).__name__}")
                batch[key] = record["value"]  # a key repeated in the input: its last value wins
                lines[key] = lineno
                pending += 1
                if len(batch) >= args.batch_size:
                    flush()
            if batch:
                flush()
        except KeyboardInterrupt:
            progress.show(written, done_bytes, final=True)
            raise CLIInterrupted(
                f"interrupted: committed into {args.table!r}: {so_far()}; nothing after that was written"
            ) from None
    progress.show(written, done_bytes, final=True)
    out.write(
        f"loaded {_plural(written, 'record')} ({_plural(lineno, 'line')}, {_plural(batches, 'batch', 'batches')}) "
        f"into {args.table!r}\n"
    )
    return 0


def cmd_backup(args: argparse.Namespace, out: TextIO) -> int:
    if os.path.isdir(args.dest):
        raise CLIError(
            f"{args.dest}: is a directory (give the path of the copy, e.g. {os.path.join(args.dest, 'copy.db')})"
        )
    if os.path.exists(args.dest) and not args.force:
        raise CLIError(f"{args.dest}: already exists (use --force to overwrite it)")
    with _inspect(args.file) as con:
        tables = _tables(con)
    # The copy is written next to DEST and renamed into place: without this check a missing directory would
    # be reported under the name of that temporary file.
    directory = os.path.dirname(args.dest)
    if not os.path.isdir(directory or "."):
        what = (
            f"{directory!r} is not a directory"
            if os.path.exists(directory)
            else f"directory {directory!r} does not exist"
        )
        raise CLIError(f"{args.dest}: {what}")
    # Any existing table will do: the backup copies the whole file, and opening must not add a table.
    table = _DEFAULT_TABLE if _DEFAULT_TABLE in tables or not tables else tables[0]
    with _open(args.file, table) as db:
        db.backup(args.dest)
    out.write(f"backed up {args.file} to {args.dest} ({_size(os.path.getsize(args.dest))})\n")
    return 0


# -- bench -----------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _names(choices: Sequence[str]) -> Any:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {', '.join(choices)}")
        return names

    return parse


def add_bench_arguments(parser: argparse.ArgumentParser, *, compare_flag: bool = True) -> None:
    from .bench import DEFAULT_BASELINE_DIR, WORKLOADS
    from .bench_runner import PEER_NAMES

    names = [w.name for w in WORKLOADS]
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    if compare_flag:
        parser.add_argument("--compare", action="store_true", help="run the peer comparison")
    parser.add_argument("--json", metavar="PATH", help="write the full results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the results as a Markdown table")
    parser.add_argument("--chart", metavar="PATH", help="write a PNG chart of ratios vs 1.6.2 (--compare)")
    parser.add_argument("--file", metavar="PATH", help="database file to create (default: temporary)")
    parser.add_argument("--reps", type=_positive_int, help="repetitions per workload (and per peer)")
    parser.add_argument(
        "--peers", type=_names(PEER_NAMES), help=f"for --compare, comma-separated: {', '.join(PEER_NAMES)}"
    )
    parser.add_argument("--workloads", type=_names(names), help=f"only these, comma-separated: {', '.join(names)}")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        default=os.environ.get("NANASQLITE_BENCH_BASELINE", DEFAULT_BASELINE_DIR),
        help="where nanasqlite 1.6.2 is (installed there with pip when missing)",
    )
    parser.add_argument("--items", type=_positive_int, help=argparse.SUPPRESS)  # caps every size: smoke tests


def run_bench(args: argparse.Namespace, out: TextIO) -> int:
    from . import bench_runner

    if args.chart and not args.compare:
        raise CLIError("--chart needs --compare: it shows ratios vs the 1.6.2 package")
    if args.chart and importlib.util.find_spec("matplotlib") is None:
        raise CLIError("--chart needs matplotlib (pip install 'nanasqlite[bench]')")
    if args.compare:
        if args.file:
            raise CLIError("--file applies to the store benchmark, not to --compare")
        report = bench_runner.run_compare(
            quick=args.quick,
            reps=args.reps,
            items=args.items,
            peers=args.peers,
            workloads=args.workloads,
            baseline_dir=args.baseline,
        )
        text = bench_runner.render_text(report)
    else:
        if args.peers:
            raise CLIError("--peers needs --compare")
        if args.file and os.path.exists(args.file):
            raise CLIError(f"{args.file}: already exists; the benchmark creates its own database")
        report = bench_runner.run_own(
            quick=args.quick, reps=args.reps, items=args.items, file=args.file, workloads=args.workloads
        )
        text = bench_runner.render_text(report)
    out.write(text.rstrip("\n") + "\n")
    bench_runner.write_outputs(report, args.json, args.markdown, args.chart)
    for what, path in (("JSON", args.json), ("Markdown", args.markdown), ("chart", args.chart)):
        if path:
            print(f"wrote {what} to {path}", file=sys.stderr)
    return 0


# -- the parser and main ---------------------------------------------------------------------------------


_LOAD_FORMAT = """\
Read JSON Lines from stdin and store them, --batch-size records per transaction.

input format: one JSON object per line, {"key": KEY, "value": VALUE}, where KEY is a string and VALUE any
JSON value (what dump writes). Blank lines are skipped; a key given twice keeps its last value:
  {"key": "user:1", "value": {"name": "Nana", "tags": ["admin"]}}
  {"key": "visits", "value": 42}

A bad line stops the load with its line number: the batches before it stay committed, nothing of its own
batch is written. Ctrl-C stops it the same way and says how many records were committed. A missing FILE is
created; a table that is not in an existing FILE needs --create."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanasqlite",
        description="Tools and benchmarks for nanasqlite stores (SQLite key-value files).",
        epilog="'nanasqlite COMMAND --help' describes a command, with examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version's line is not rewrapped either
    )
    parser.add_argument("--version", action="version", version=f"nanasqlite {__version__} ({implementation()})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str, *examples: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=description,
            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "bench",
        "benchmark the store (or compare it with its peers)",
        "Benchmark the store on a real database file: each workload runs --reps times; the table shows the\n"
        "median rate and its spread. --compare runs the same workloads on the 1.6.2 package, on hand-written\n"
        "APSW + orjson (the floor a wrapper can reach) and on other peers, each in its own process, and judges\n"
        "the targets of docs/bench/targets.md.",
        "nanasqlite bench --quick",
        "nanasqlite bench --quick --compare --peers nanasqlite,nanasqlite-1.6.2,apsw+orjson,dict",
        "nanasqlite bench --compare --json r.json --markdown r.md --chart r.png",
    )
    add_bench_arguments(p)
    p.set_defaults(func=run_bench)

    p = command(
        "info",
        "the installation (compiled or pure); with FILE also its tables, row counts, sizes, journal mode",
        "Without FILE: the installed version, which implementation runs (compiled extensions or pure Python,\n"
        "and why), Python and SQLite. With FILE: also its size, WAL file, journal mode and every table with\n"
        "its row count. The file is opened read-only.",
        "nanasqlite info",
        "nanasqlite info app.db",
    )
    p.add_argument("file", nargs="?", help="a database file (optional)")
    p.set_defaults(func=cmd_info)

    def store_command(
        name: str, help: str, description: str, func: Any, *examples: str, create: bool = False
    ) -> argparse.ArgumentParser:
        p = command(name, help, description, *examples)
        p.add_argument("file")
        p.add_argument("--table", default=_DEFAULT_TABLE, help="the key-value table (default: data)")
        if create:
            p.add_argument(
                "--create", action="store_true", help="create --table when FILE exists without it (else an error)"
            )
        p.set_defaults(func=func)
        return p

    store_command(
        "get",
        "print the value of a key as JSON",
        "Print the value stored under KEY as one line of JSON.",
        cmd_get,
        "nanasqlite get app.db user:1",
        "nanasqlite get app.db alice --table users",
    ).add_argument("key")
    p = store_command(
        "set",
        "store a JSON value under a key",
        "Store a JSON value under KEY, committed before the command ends. A JSON string keeps its double\n"
        "quotes, so quote it for the shell too: '\"hello\"'. A missing FILE is created; a table that is not\n"
        "in an existing FILE needs --create.",
        cmd_set,
        """nanasqlite set app.db user:1 '{"name": "Nana", "tags": ["admin"]}'""",
        """nanasqlite set app.db greeting '"hello"'""",
        "nanasqlite set app.db visits 0 --table stats --create",
        create=True,
    )
    p.add_argument("key")
    p.add_argument("value", metavar="JSON")
    store_command(
        "delete",
        "delete a key",
        "Delete KEY; a key that is not there is an error.",
        cmd_delete,
        "nanasqlite delete app.db user:1",
    ).add_argument("key")
    p = store_command(
        "keys",
        "list keys in key order",
        "List the keys, one a line, in key order.",
        cmd_keys,
        "nanasqlite keys app.db",
        "nanasqlite keys app.db --prefix user: --limit 10",
    )
    p.add_argument("--prefix", default="", help="only keys starting with this")
    p.add_argument("--limit", type=_positive_int, help="at most this many keys")
    store_command(
        "dump",
        'write every pair as JSON Lines {"key": ..., "value": ...} to stdout',
        'Write every pair to stdout as JSON Lines, one {"key": ..., "value": ...} object a line, in key order:\n'
        "the input format of load.",
        cmd_dump,
        "nanasqlite dump app.db > data.jsonl",
        "nanasqlite dump app.db --table users | head",
    )
    p = store_command(
        "load",
        "read JSON Lines from stdin and write them in atomic batches",
        _LOAD_FORMAT,
        cmd_load,
        "nanasqlite load app.db < data.jsonl",
        "nanasqlite dump old.db | nanasqlite load new.db",
        "nanasqlite load app.db --table users --create --batch-size 5000 < users.jsonl",
        create=True,
    )
    p.add_argument("--batch-size", type=_positive_int, default=1000, help="items per transaction (1000)")

    p = command(
        "backup",
        "copy the whole database file with SQLite's backup API",
        "Copy the whole database (every table) into DEST with SQLite's backup API: written next to DEST,\n"
        "verified, synced to disk, then renamed into place. DEST's directory must exist.",
        "nanasqlite backup app.db app-copy.db",
        "nanasqlite backup app.db backups/app-monday.db --force",
    )
    p.add_argument("file")
    p.add_argument("dest")
    p.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    p.set_defaults(func=cmd_backup)
    return parser


def _fail(message: str) -> int:
    line = " ".join(message.split()) or "failed"
    print(f"nanasqlite: error: {line}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, sys.stdout))
    except CLIError as exc:
        return _fail(str(exc))
    except NanaSQLiteError as exc:
        return _fail(str(exc))
    except CLIInterrupted as exc:
        _fail(str(exc))
        return 130
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (``nanasqlite dump x | head``): stop quietly, without a flush error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # never a traceback for the user; the type says what went wrong
        return _fail(f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc))
