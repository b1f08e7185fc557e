"""Write the encrypted golden databases of ``tests/golden_encrypted/`` with the public 1.6.2 package.

Run it with the 1.6.2 package (and ``cryptography``) first on the path, never with this repository's package::

    pip install --target /tmp/nana16 "nanasqlite[encryption]==1.6.2"
    PYTHONPATH=/tmp/nana16 python3 scripts/make_golden_encrypted.py

One database per encryption mode of 1.6 (and AES with a 16-byte bytes key beside the 32-character str key),
each written value by value and with ``batch_update``, then read back by 1.6 and compared before the script
finishes; the WAL is checkpointed away so each golden is one ``.db`` file. ``expected.json`` holds each file's
mode, its key (test keys, public on purpose) and the contents every reader must see.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden_encrypted"

DATA: dict[str, Any] = {
    "nested": {"a": {"b": [1, 2, {"c": None, "d": [True, False]}]}, "deep": [[[["four"]]]]},
    "unicode": "日本語 ✓ émoji 😀 Ω",
    "名前": {"ключ": "значение", "emoji 🎉": ["✓"]},
    "escapes": 'quote " backslash \\ slash / newline \n tab \t ctrl \x01',
    "none": None,
    "true": True,
    "int64_min": -(2**63),
    "float": 3.141592653589793,
    "neg_zero": -0.0,
    "empty_str": "",
    "empty_dict": {},
    "": "the empty key",
    "long": "x" * 5000,
}
BATCH: dict[str, Any] = {f"batch_{i:02d}": {"i": i, "name": f"row {i}", "score": i / 4} for i in range(20)}

# (mode, key): a str key is used as its UTF-8 bytes by 1.6; a bytes key is written here as {"hex": ...}.
FILES: dict[str, tuple[str, str | dict[str, str]]] = {
    "aes_gcm.db": ("aes-gcm", "golden-aes-key-of-32-characters!"),
    "aes_gcm_128.db": ("aes-gcm", {"hex": "000102030405060708090a0b0c0d0e0f"}),
    "chacha20.db": ("chacha20", {"hex": "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff"}),
    "fernet.db": ("fernet", "TmFuYVNRTGl0ZSBnb2xkZW4gZmVybmV0IGtleSEhISE="),
}


def key_of(spec: str | dict[str, str]) -> str | bytes:
    return spec if isinstance(spec, str) else bytes.fromhex(spec["hex"])


def write(name: str) -> None:
    import apsw

    import nanasqlite

    if nanasqlite.__version__ != "1.6.2":
        raise SystemExit(f"run with the 1.6.2 package on PYTHONPATH, not {nanasqlite.__version__}")
    mode, spec = FILES[name]
    path = GOLDEN / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = nanasqlite.NanaSQLite(str(path), encryption_key=key_of(spec), encryption_mode=mode)
    for key, value in DATA.items():
        db[key] = value
    db.batch_update(BATCH)
    db.close()

    db = nanasqlite.NanaSQLite(str(path), encryption_key=key_of(spec), encryption_mode=mode)
    want = {**DATA, **BATCH}
    got = {k: db[k] for k in db.keys()}
    if json.dumps(got, sort_keys=True) != json.dumps(want, sort_keys=True):
        raise SystemExit(f"{name}: did not read back as written")
    db.close()

    con = apsw.Connection(str(path))
    kinds = {row[0] for row in con.execute("SELECT DISTINCT typeof(value) FROM data")}
    if kinds != {"blob"}:
        raise SystemExit(f"{name}: values stored as {kinds}, expected only BLOBs")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    con.execute("VACUUM")
    con.close()


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        write(name)
    files = {name: {"mode": mode, "key": spec, "data": {**DATA, **BATCH}} for name, (mode, spec) in FILES.items()}
    text = json.dumps({"files": files}, ensure_ascii=False, indent=1)
    (GOLDEN / "expected.json").write_text(text + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    print(f"wrote {', '.join(sorted(p.name for p in GOLDEN.iterdir()))} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
