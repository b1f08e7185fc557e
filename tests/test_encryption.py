"""Encryption at rest (``encryption_key``, ``encryption_mode``, ``allow_legacy_plaintext``) in the format of 1.6.

``tests/golden_encrypted/`` holds databases that 1.6.2 encrypted (made by ``scripts/make_golden_encrypted.py``)
and ``expected.json``, their keys and contents: they must read back identically here, and what this package
encrypts must read back identically in 1.6.2, run in a subprocess.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import apsw
import pytest

from nanasqlite import (
    AsyncNanaSQLite,
    NanaSQLite,
    NanaSQLiteClosedError,
    NanaSQLiteDatabaseError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
)

from .conftest import NO_EXT, run_nana16
from .test_compat16 import differences

pytest.importorskip("cryptography", reason="the [encryption] extra (pulled by [test]) is not installed")

GOLDEN = Path(__file__).parent / "golden_encrypted"
EXPECTED: dict[str, dict[str, Any]] = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))["files"]

AES_KEY = "0123456789abcdef0123456789abcdef"  # a str key is its UTF-8 bytes, as in 1.6: AES-256
CHACHA_KEY = bytes(range(32))
FERNET_KEY = "TmFuYVNRTGl0ZSB0ZXN0IGZlcm5ldCBrZXkhISEhISE="
KEYS: dict[str, str | bytes] = {"aes-gcm": AES_KEY, "chacha20": CHACHA_KEY, "fernet": FERNET_KEY}
MODES = list(KEYS)
SECRET = "SECRET-plaintext-marker"


def key_of(spec: str | dict[str, str]) -> str | bytes:
    return spec if isinstance(spec, str) else bytes.fromhex(spec["hex"])


def raw_bytes(path: str) -> bytes:
    """The database file and its WAL, as they are on disk."""
    data = b""
    for suffix in ("", "-wal"):
        if os.path.exists(path + suffix):
            data += Path(path + suffix).read_bytes()
    return data


def stored(path: str, table: str = "data") -> dict[str, Any]:
    con = apsw.Connection(path)
    try:
        return {k: v for k, v in con.execute(f'SELECT key, value FROM "{table}"')}
    finally:
        con.close()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def enc(db_path: str, mode: str) -> Iterator[NanaSQLite]:
    store = NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode)
    yield store
    store.close()


# -- the file format of 1.6 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_files_encrypted_by_16_read_back_identically(name: str, tmp_path: Path) -> None:
    spec = EXPECTED[name]
    path = str(tmp_path / name)
    shutil.copyfile(GOLDEN / name, path)
    with NanaSQLite(path, encryption_key=key_of(spec["key"]), encryption_mode=spec["mode"]) as db:
        assert differences(db.to_dict(), spec["data"]) == []
        keys = list(spec["data"])
        assert differences(db.batch_get(keys), spec["data"]) == []
        db.clear_cache()
        assert differences({k: db[k] for k in keys}, spec["data"]) == []
    with NanaSQLite(path, encryption_key=key_of(spec["key"]), encryption_mode=spec["mode"], bulk_load=True) as db:
        assert differences({k: db[k] for k in keys}, spec["data"]) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_files_refuse_another_key_without_showing_a_value(name: str, tmp_path: Path) -> None:
    spec = EXPECTED[name]
    path = str(tmp_path / name)
    shutil.copyfile(GOLDEN / name, path)
    other = {"aes-gcm": "another-key-of-32-characters-!!!", "chacha20": bytes(32), "fernet": FERNET_KEY}
    before = Path(path).read_bytes()
    with NanaSQLite(path, encryption_key=other[spec["mode"]], encryption_mode=spec["mode"]) as db:
        for read in (lambda: db["unicode"], lambda: db.batch_get(["unicode"]), db.to_dict, db.load_all):
            with pytest.raises(NanaSQLiteDatabaseError) as info:
                read()
            assert "日本語" not in str(info.value) and "decrypt" in str(info.value)
    assert Path(path).read_bytes() == before


def test_values_are_stored_as_1_6_stores_them(db_path: str, mode: str) -> None:
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        db["one"] = {"x": "é"}
        db.batch_update({"two": [1, 2], "three": "s"})
    raw = stored(db_path)
    assert all(type(v) is bytes for v in raw.values())
    if mode == "fernet":
        from cryptography.fernet import Fernet

        assert json.loads(Fernet(FERNET_KEY.encode()).decrypt(raw["one"])) == {"x": "é"}
    else:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

        aead = AESGCM(AES_KEY.encode()) if mode == "aes-gcm" else ChaCha20Poly1305(CHACHA_KEY)
        for key, want in (("one", {"x": "é"}), ("two", [1, 2]), ("three", "s")):
            blob = raw[key]
            assert len(blob) == 12 + len(json.dumps(want, ensure_ascii=False, separators=(",", ":")).encode()) + 16
            assert json.loads(aead.decrypt(blob[:12], blob[12:], None)) == want


def test_a_fresh_nonce_for_every_value(db_path: str) -> None:
    with NanaSQLite(db_path, encryption_key=AES_KEY) as db:
        db["a"] = "same"
        db["b"] = "same"
        db.batch_update({f"k{i}": "same" for i in range(50)})
        first = stored(db_path)["a"]
        db["a"] = "same"
    raw = stored(db_path)
    nonces = {v[:12] for v in raw.values()}
    assert len(nonces) == len(raw) and raw["a"][:12] != first[:12]


READ_WITH_16 = """
import json, sys
from nanasqlite import NanaSQLite
path, key, hexkey, mode = json.loads(sys.stdin.read())
db = NanaSQLite(path, encryption_key=bytes.fromhex(hexkey) if hexkey else key, encryption_mode=mode)
print(json.dumps({k: db[k] for k in db.keys()}, ensure_ascii=False))
db.close()
"""


def test_1_6_reads_what_we_encrypt(nana16: Path, tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / f"{mode}.db")
    want = EXPECTED["aes_gcm.db"]["data"]
    with NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        items = list(want.items())
        for key, value in items[:10]:
            db[key] = value  # one by one
        db.batch_update(dict(items[10:]))  # and through the batch kernel
        db.patch("nested", {"patched": SECRET})
    want = {**want, "nested": {**want["nested"], "patched": SECRET}}
    key = KEYS[mode]
    arg = [path, key if isinstance(key, str) else None, key.hex() if isinstance(key, bytes) else None, mode]
    got = json.loads(run_nana16(nana16, READ_WITH_16, tmp_path, json.dumps(arg)))
    assert differences(got, want) == []


# -- every path seals and opens --------------------------------------------------------------------------------


def every_sync_path(db: NanaSQLite) -> None:
    db["single"] = {"s": SECRET}
    db.batch_update({f"batch{i}": [SECRET, i] for i in range(300)})  # > IN_CHUNK: the chunked batch read too
    db.update(upd=SECRET)
    db.setdefault("default", SECRET)
    db.patch("single", {"more": SECRET})
    db.batch_update_partial({"partial": SECRET, "bad": object()})
    db["counter"] = {"n": 1, "tag": SECRET}
    db.increment("counter", 2, field="n")
    with db.transaction():
        db["in_txn"] = SECRET
        db.batch_update({"in_txn_batch": SECRET})
    child = db.table("child")
    child["c"] = SECRET
    child.batch_update({"cb": SECRET})


def test_no_plaintext_of_a_value_reaches_the_file_or_its_wal(db_path: str, mode: str) -> None:
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        every_sync_path(db)
        assert SECRET.encode() not in raw_bytes(db_path)  # the WAL too: nothing checkpointed yet
        db.clear_cache()
        assert db["single"] == {"s": SECRET, "more": SECRET}
        assert db["counter"] == {"n": 3, "tag": SECRET}
        assert db.table("child").to_dict() == {"c": SECRET, "cb": SECRET}
    assert SECRET.encode() not in raw_bytes(db_path)
    control = db_path + ".plain.db"
    with NanaSQLite(control) as plain:  # the control: the same writes without a key leave the marker in the file
        every_sync_path(plain)
        assert SECRET.encode() in raw_bytes(control)


def test_every_read_path_opens_what_is_stored(db_path: str, mode: str) -> None:
    data = {f"k{i:03d}": {"i": i, "s": SECRET} for i in range(300)}
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        db.batch_update(data)
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        assert db["k001"] == data["k001"]
        assert db.get("k002") == data["k002"] and db.get_fresh("k003") == data["k003"]
        assert "k004" in db and len(db) == 300
        assert db.batch_get(list(data)[::-1]) == {k: data[k] for k in list(data)[::-1]}
        assert db.to_dict() == data and db.values()[5] == data["k005"]
        assert list(db.iter_items(batch_size=7)) == list(data.items())
        assert db.get_by_path("k010", "s") == SECRET and db.get_by_path("k010", "$.i") == 10
        assert db.get_by_path("k010", "missing") is None and db.get_by_path("nope", "s") is None
        assert db.pop("k000") == data["k000"] and db.popitem() == ("k001", data["k001"])
        db.load_all()
        assert db["k299"] == data["k299"]
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode, bulk_load=True) as db:
        assert db["k299"] == data["k299"] and len(db.to_dict()) == 298


def test_sub_tables_inherit_the_key_and_mode(db_path: str, mode: str) -> None:
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        db.table("users")["u"] = {"name": SECRET}
    assert type(stored(db_path, "users")["u"]) is bytes
    with NanaSQLite(db_path, table="users", encryption_key=KEYS[mode], encryption_mode=mode) as db:
        assert db["u"] == {"name": SECRET}


def test_backup_and_restore_keep_values_encrypted(tmp_path: Path, mode: str) -> None:
    path, copy = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        db.batch_update({"a": SECRET, "b": [SECRET]})
        db.backup(copy)
        db["a"] = "changed"
        assert SECRET.encode() not in Path(copy).read_bytes()
        db.restore(copy)
        assert db["a"] == SECRET and db.batch_get(["a", "b"]) == {"a": SECRET, "b": [SECRET]}
    with NanaSQLite(copy, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        assert db.to_dict() == {"a": SECRET, "b": [SECRET]}


def test_async_facade_encrypts_on_every_path(db_path: str, mode: str) -> None:
    async def main() -> None:
        async with AsyncNanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode, max_workers=2) as db:
            await db.aset("a", {"s": SECRET})
            await db.abatch_update({f"b{i}": SECRET for i in range(50)})
            sub = await db.table("sub")
            await sub.aset("x", SECRET)
            assert await db.aget("a") == {"s": SECRET}
            assert SECRET.encode() not in raw_bytes(db_path)
        async with AsyncNanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode, max_workers=2) as db:
            assert await db.aget("a") == {"s": SECRET}  # a reader thread: its own connection, the same cipher
            assert await db.abatch_get(["b1", "b2"]) == {"b1": SECRET, "b2": SECRET}
            assert len(await db.ato_dict()) == 51
            sub = await db.table("sub")
            assert await sub.aget("x") == SECRET

    asyncio.run(main())
    assert SECRET.encode() not in raw_bytes(db_path)


def test_threads_writing_batches_to_one_encrypted_store(db_path: str) -> None:
    with NanaSQLite(db_path, encryption_key=AES_KEY) as db:

        def work(n: int) -> None:
            for r in range(5):
                db.batch_update({f"t{n}-{r}-{i}": [n, r, i] for i in range(100)})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db.clear_cache()
        got = db.to_dict()
    assert len(got) == 2000 and got["t3-4-99"] == [3, 4, 99]


# -- errors ----------------------------------------------------------------------------------------------------


def test_a_wrong_key_raises_the_library_error_and_changes_nothing(db_path: str, mode: str) -> None:
    with NanaSQLite(db_path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        db.batch_update({"a": SECRET, "b": SECRET})
    before = stored(db_path)
    wrong: dict[str, str | bytes] = {
        "aes-gcm": "X" * 32,
        "chacha20": bytes(32),
        "fernet": "V3JvbmcgZmVybmV0IGtleSBmb3IgdGhlIHRlc3RzISE=",
    }
    with NanaSQLite(db_path, encryption_key=wrong[mode], encryption_mode=mode) as db:
        reads = [lambda: db["a"], lambda: db.get("a"), lambda: db.batch_get(["a", "b"]), db.to_dict, db.load_all]
        reads += [lambda: db.get_by_path("a", "x"), lambda: db.patch("a", {"x": 1}), lambda: db.pop("a")]
        for read in reads:
            with pytest.raises(NanaSQLiteDatabaseError) as info:
                read()
            text = f"{info.value} {info.value!r} {info.value.__cause__!r} {info.value.__context__!r}"
            assert SECRET not in text and "'a'" in text
        assert "a" not in db._cache.hot
    assert stored(db_path) == before


def test_a_value_that_cannot_be_stored_names_its_key_and_writes_nothing(enc: NanaSQLite, db_path: str) -> None:
    enc["kept"] = 1
    with pytest.raises(NanaSQLiteTypeError, match="'bad'"):
        enc.batch_update({"a": SECRET, "bad": object(), "c": 3})
    with pytest.raises(NanaSQLiteTypeError, match="'bad'"):
        enc["bad"] = {1, 2}
    with pytest.raises(NanaSQLiteTypeError):
        enc.batch_update({"a": 1, 2: 3})  # type: ignore[dict-item]
    assert sorted(stored(db_path)) == ["kept"] and enc.to_dict() == {"kept": 1}


def test_a_closed_encrypted_store_raises_the_closed_error(enc: NanaSQLite) -> None:
    enc["a"] = 1
    enc.close()
    for call in (lambda: enc["a"], lambda: enc.batch_get(["a"]), lambda: enc.batch_update({"b": 2}), enc.load_all):
        with pytest.raises(NanaSQLiteClosedError):
            call()


def test_a_corrupted_value_is_refused(db_path: str) -> None:
    with NanaSQLite(db_path, encryption_key=AES_KEY) as db:
        db["a"] = "x"
    con = apsw.Connection(db_path)
    con.execute("UPDATE data SET value = ? WHERE key = 'a'", (b"short",))
    con.execute("INSERT INTO data VALUES ('b', ?)", (bytes(40),))
    con.close()
    with NanaSQLite(db_path, encryption_key=AES_KEY) as db:
        with pytest.raises(NanaSQLiteDatabaseError, match="corrupted"):
            db["a"]
        with pytest.raises(NanaSQLiteDatabaseError, match="decrypt"):
            db["b"]


def test_keys_never_appear_in_reprs_or_errors(db_path: str, mode: str) -> None:
    key = KEYS[mode]
    text_key = key if isinstance(key, str) else key.hex()
    with NanaSQLite(db_path, encryption_key=key, encryption_mode=mode) as db:
        db["a"] = 1
        shown = repr(db) + repr(db._options) + repr(db._kv.cipher) + str(vars(db))  # type: ignore[attr-defined]
        assert text_key not in shown and repr(key) not in shown
    with pytest.raises(NanaSQLiteValidationError) as info:
        NanaSQLite(db_path, encryption_key=text_key[:-3], encryption_mode=mode)
    assert text_key[:-3] not in str(info.value)
    adb = AsyncNanaSQLite(db_path, encryption_key=key, encryption_mode=mode)
    assert text_key not in repr(adb)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"encryption_key": ""}, "non-empty str or bytes"),
        ({"encryption_key": 123}, "non-empty str or bytes"),
        ({"encryption_key": AES_KEY, "encryption_mode": "rot13"}, "Unsupported encryption_mode: 'rot13'"),
        ({"encryption_key": "short"}, "16, 24 or 32 bytes"),
        ({"encryption_key": AES_KEY[:16] + "x", "encryption_mode": "chacha20"}, "32 bytes"),
        ({"encryption_key": AES_KEY, "encryption_mode": "fernet"}, "url-safe base64"),
    ],
)
def test_bad_options_raise_validation_errors_and_create_nothing(
    db_path: str, options: dict[str, Any], match: str
) -> None:
    for cls in (NanaSQLite, AsyncNanaSQLite):
        with pytest.raises(NanaSQLiteValidationError, match=match) as info:
            cls(db_path, **options)
        assert isinstance(info.value, ValueError)
    assert not os.path.exists(db_path)


def test_without_cryptography_asking_for_encryption_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['cryptography'] = None\n"  # makes `import cryptography...` raise ImportError
        "from nanasqlite import NanaSQLite\n"
        "NanaSQLite(sys.argv[1])['plain'] = 1\n"  # a store without a key needs no cryptography
        "try:\n"
        "    NanaSQLite(sys.argv[1], encryption_key='k' * 32)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.db")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "pip install nanasqlite[encryption]" in result.stdout


# -- migration from plaintext ----------------------------------------------------------------------------------


def test_plaintext_rows_are_refused_unless_allowed_then_migrated(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "plain.db")
    shutil.copyfile(Path(__file__).parent / "golden" / "orjson_style.db", path)  # written by 1.6 unencrypted
    with NanaSQLite(path) as plain:
        want = plain.to_dict()
    with NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        with pytest.raises(NanaSQLiteDatabaseError, match="allow_legacy_plaintext") as info:
            db["unicode"]
        assert "日本語" not in str(info.value)
        with pytest.raises(NanaSQLiteDatabaseError, match="allow_legacy_plaintext"):
            db.batch_get(["unicode", "int"])
    with NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode, allow_legacy_plaintext=True) as db:
        assert db.to_dict() == want  # plaintext rows read as they are
        db.batch_update(db.to_dict())  # the migration: every value written again, now encrypted
        db.vacuum()  # drops the free pages that still held the old plaintext
    assert all(type(v) is bytes for v in stored(path).values())
    assert "значение".encode() in Path(Path(__file__).parent / "golden" / "orjson_style.db").read_bytes()
    assert "значение".encode() not in raw_bytes(path)  # a value (keys stay plaintext), in no page any more
    with NanaSQLite(path, encryption_key=KEYS[mode], encryption_mode=mode) as db:
        assert db.to_dict() == want


# -- the kernel functions of encrypted batches, on both kernels ------------------------------------------------

KERNELS = ["apsw"] if NO_EXT else ["apsw", "native"]


@pytest.fixture(params=KERNELS)
def kernel(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module("nanasqlite._bridge" if request.param == "apsw" else "nanasqlite._speedups._bridge")


@pytest.fixture
def con(tmp_path: Path, kernel: ModuleType) -> Iterator[apsw.Connection]:
    c = apsw.Connection(str(tmp_path / "k.db"))
    c.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    assert kernel.attach(c) is True
    yield c
    c.close()


def aead() -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(AES_KEY.encode())


def test_put_sealed_writes_nonce_ciphertext_tag_and_returns_the_texts(con: apsw.Connection, kernel: ModuleType) -> None:
    from nanasqlite._native import codec

    values = [{"a": [1, 2.5, None, True]}, "日本 \n", -(2**63), [], 1e-7, "x" * 100_000]
    keys = [f"k{i}" for i in range(len(values))]
    nonces = os.urandom(12 * len(keys))
    cipher = aead()
    texts = kernel.put_sealed(con, "INSERT INTO kv VALUES (?, ?)", keys, values, cipher.encrypt, nonces)
    assert texts == [codec.dumps(v) for v in values]
    raw = rows_of(con)
    for i, key in enumerate(keys):
        blob = raw[key]
        assert type(blob) is bytes and blob[:12] == nonces[12 * i : 12 * i + 12]
        assert cipher.decrypt(blob[:12], blob[12:], None) == texts[i].encode()
    assert (
        kernel.put_sealed(con, "INSERT INTO kv VALUES (?, ?)", ["z"], [1], cipher.encrypt, os.urandom(12), False)
        is None
    )


def test_put_sealed_with_fernet_stores_the_token(con: apsw.Connection, kernel: ModuleType) -> None:
    from cryptography.fernet import Fernet

    fernet = Fernet(FERNET_KEY.encode())
    kernel.put_sealed(con, "INSERT INTO kv VALUES (?, ?)", ["a", "b"], [{"x": "é"}, None], fernet.encrypt, b"")
    raw = rows_of(con)
    assert json.loads(fernet.decrypt(raw["a"])) == {"x": "é"} and fernet.decrypt(raw["b"]) == b"null"


def test_put_sealed_is_all_or_nothing(con: apsw.Connection, kernel: ModuleType) -> None:
    cipher = aead()
    put = "INSERT INTO kv VALUES (?, ?)"
    with pytest.raises(TypeError, match="'bad'"):
        kernel.put_sealed(con, put, ["ok", "bad"], [1, object()], cipher.encrypt, os.urandom(24))
    with pytest.raises(apsw.ConstraintError):
        kernel.put_sealed(con, put, ["a", "b", "a"], [1, 2, 3], cipher.encrypt, os.urandom(36))
    with pytest.raises(ValueError, match="nonce"):
        kernel.put_sealed(con, put, ["a", "b"], [1, 2], cipher.encrypt, os.urandom(13))
    with pytest.raises(TypeError, match="not bytes"):
        kernel.put_sealed(con, put, ["a"], [1], lambda *args: "text", os.urandom(12))
    assert rows_of(con) == {}


def rows_of(con: apsw.Connection) -> dict[str, Any]:
    return {k: v for k, v in con.execute("SELECT key, value FROM kv")}


def test_get_sealed_opens_what_it_can_and_hands_the_rest_to_decode(con: apsw.Connection, kernel: ModuleType) -> None:
    cipher = aead()
    keys = [f"k{i}" for i in range(600)]
    values: list[Any] = [{"i": i, "s": "é" * (i % 5)} for i in range(600)]
    kernel.put_sealed(con, "INSERT INTO kv VALUES (?, ?)", keys, values, cipher.encrypt, os.urandom(12 * 600))
    values[7] = 2**70  # a rare form (stored by another writer): the compiled kernel's parser leaves it to decode
    nonce = os.urandom(12)
    con.execute("UPDATE kv SET value = ? WHERE key = 'k7'", (nonce + cipher.encrypt(nonce, str(2**70).encode(), None),))
    con.execute(
        "INSERT INTO kv VALUES ('text', '\"plain\"'), ('null', NULL), ('short', x'0102'), ('forged', ?)", (bytes(40),)
    )
    handed: dict[str, Any] = {}

    def decode(key: str, stored: Any) -> Any:
        handed[key] = stored
        if type(stored) is bytes:
            if len(stored) < 28:
                return "corrupt"
            try:
                return json.loads(cipher.decrypt(stored[:12], stored[12:], None))
            except Exception:
                return "refused"
        return stored

    ask = ["text", "null", "missing", "short", "forged", *keys[::-1]]
    got = kernel.get_sealed(con, "SELECT key, value FROM kv WHERE key IN (", ask, decode, cipher.decrypt, 12)
    assert list(got) == ["text", "null", "short", "forged", *keys[::-1]]
    assert got["text"] == '"plain"' and got["null"] is None and got["short"] == "corrupt" and got["forged"] == "refused"
    assert [got[k] for k in keys] == values
    if kernel.KERNEL == "native":  # it opened and parsed the sealed values itself, all but the rare form
        assert "k3" not in handed and type(handed["k7"]) is bytes
    assert handed["text"] == '"plain"' and handed["short"] == b"\x01\x02" and handed["forged"] == bytes(40)
    names, stored_values = kernel.scan_blobs(con, "SELECT key, value FROM kv ORDER BY key")
    scanned = dict(zip(names, stored_values, strict=True))
    assert scanned["text"] == '"plain"' and scanned["null"] is None and scanned["forged"] == bytes(40)
    assert (
        cipher.decrypt(scanned["k3"][:12], scanned["k3"][12:], None)
        == json.dumps(values[3], ensure_ascii=False, separators=(",", ":")).encode()
    )


# -- the README's Encryption section, run as written -------------------------------------------------------------


def readme_blocks() -> list[str]:
    import re

    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Encryption", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_encryption_examples_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import io

    monkeypatch.chdir(tmp_path)
    first, migration = readme_blocks()
    out = io.StringIO()
    scope: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(first, "README encryption", "exec"), scope)
    assert out.getvalue() == "Nana\n"
    assert b"4111" not in raw_bytes("secret.db") and len(scope["key"]) == 32
    with NanaSQLite("app.db") as plain:  # a plaintext file to migrate
        plain.batch_update({"user": {"name": SECRET}, "n": 1})
    exec(compile(migration, "README migration", "exec"), scope)
    assert SECRET.encode() not in raw_bytes("app.db")
    with NanaSQLite("app.db", encryption_key=scope["key"]) as db:
        assert db.to_dict() == {"user": {"name": SECRET}, "n": 1}
