"""Write the golden databases of ``tests/golden/`` with the public 1.6.2 package.

Run it with the 1.6.2 package first on the path, never with this repository's package::

    pip install --target /tmp/nana16 nanasqlite==1.6.2
    PYTHONPATH=/tmp/nana16 python3 scripts/make_golden.py

It writes two small databases, each with the main table ``data`` and a second table ``users`` made through
``table()``, and ``expected.json``, the contents every reader must see:

* ``orjson_style.db``: written by 1.6 as installed with orjson (compact JSON).
* ``stdlib_style.db``: written by 1.6 with orjson made unimportable, so it takes its stdlib path
  (``json.dumps(value, ensure_ascii=False)``: spaced separators, and ``NaN``/``Infinity`` literals for
  non-finite floats).

Each database is read back by 1.6 in the mode that wrote it and compared with the expectation before the
script finishes; the WAL is checkpointed away so each golden is one ``.db`` file.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"

MAIN: dict[str, Any] = {
    "nested": {"a": {"b": [1, 2, {"c": None, "d": [True, False]}]}, "deep": [[[["four"]]]]},
    "list_mixed": [1, 1.5, "s", None, True, {"k": []}, [{}]],
    "unicode": "日本語 ✓ émoji 😀 Ω",
    "名前": {"ключ": "значение", "emoji 🎉": ["✓"]},
    "escapes": 'quote " backslash \\ slash / newline \n tab \t ctrl \x01 del \x7f',
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "int": 42,
    "negative": -7,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "uint64_max": 2**64 - 1,
    "float": 3.141592653589793,
    "float_small": 5e-324,
    "float_large": 1.7976931348623157e308,
    "float_exp": 1e-7,
    "float_whole": 2.0,
    "neg_zero": -0.0,
    "empty_str": "",
    "empty_list": [],
    "empty_dict": {},
    "": "the empty key",
    "key with 'quotes' and \"doubles\"": [1],
}

USERS: dict[str, Any] = {
    "alice": {"name": "Alice", "age": 30, "tags": ["admin", "dev"], "score": 9.5},
    "bob": {"name": "Bob", "age": None, "tags": [], "address": {"city": "東京", "zip": "100-0001"}},
    "なな": {"name": "Nana", "age": 20, "tags": ["ナナ"], "active": True},
}

# Only the stdlib path of 1.6 can write these (orjson refuses them).
STDLIB_ONLY: dict[str, Any] = {
    "nan": float("nan"),
    "inf": float("inf"),
    "neg_inf": float("-inf"),
    "nested_nan": {"values": [1.0, float("nan"), float("-inf")], "ok": "yes"},
}

FILES = {
    "orjson_style.db": {"data": MAIN, "users": USERS},
    "stdlib_style.db": {"data": {**MAIN, **STDLIB_ONLY}, "users": USERS},
}


def same(a: Any, b: Any) -> bool:
    """Equality that also requires equal types and treats NaN as equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def write(name: str) -> None:
    """Child mode: write one golden database with the 1.6 package and check it reads back."""
    if name == "stdlib_style.db":
        sys.modules["orjson"] = None  # type: ignore[assignment]  # makes 1.6 take its stdlib JSON path
    import apsw

    import nanasqlite

    if nanasqlite.__version__ != "1.6.2":
        raise SystemExit(f"run with the 1.6.2 package on PYTHONPATH, not {nanasqlite.__version__}")
    path = GOLDEN / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    tables = FILES[name]
    db = nanasqlite.NanaSQLite(str(path))
    for table, contents in tables.items():
        store = db if table == "data" else db.table(table)
        for key, value in contents.items():
            store[key] = value
    db.close()

    db = nanasqlite.NanaSQLite(str(path))
    for table, contents in tables.items():
        store = db if table == "data" else db.table(table)
        got = {k: store[k] for k in contents}
        if not same(got, contents) or sorted(store.keys()) != sorted(contents):
            raise SystemExit(f"{name}: table {table!r} did not read back as written")
    db.close()

    con = apsw.Connection(str(path))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    con.execute("VACUUM")
    con.close()
    left = [p for p in (Path(str(path) + "-wal"), Path(str(path) + "-shm")) if p.exists()]
    if left:
        raise SystemExit(f"{name}: WAL files left behind: {left}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(sys.argv[2])
        return
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        # One process per file: whether orjson is importable is decided when 1.6 is imported.
        subprocess.run([sys.executable, __file__, "--write", name], check=True, env=os.environ.copy())
    expected = {"files": FILES}
    text = json.dumps(expected, ensure_ascii=False, indent=1, allow_nan=True)
    (GOLDEN / "expected.json").write_text(text + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    print(f"wrote {', '.join(sorted(p.name for p in GOLDEN.iterdir()))} ({total} bytes)")


if __name__ == "__main__":
    main()
