"""Features chosen at construction compose: cross-process coherence, hooks and encryption on one store."""

from __future__ import annotations

from typing import Any

import pytest

from nanasqlite import CheckHook, NanaSQLite, NanaSQLiteValidationError, UniqueHook

KEY = b"k" * 32


def test_auto_coherence_hooks_and_encryption_on_one_store(tmp_path: Any) -> None:
    path = str(tmp_path / "c.db")
    hooks = [CheckHook(lambda k, v: v.get("n", 0) >= 0, "n must not be negative"), UniqueHook("email")]
    db = NanaSQLite(path, cache_consistency="auto", encryption_key=KEY, hooks=hooks)
    db["a"] = {"n": 1, "email": "x"}
    with pytest.raises(NanaSQLiteValidationError, match="negative"):
        db["b"] = {"n": -1}
    with pytest.raises(NanaSQLiteValidationError, match="Unique"):
        db["c"] = {"n": 1, "email": "x"}
    assert db["a"] == {"n": 1, "email": "x"}  # cached
    other = NanaSQLite(path, encryption_key=KEY)  # another connection writes behind the cache
    other["a"] = {"n": 5, "email": "y"}
    other.close()
    assert db["a"] == {"n": 5, "email": "y"}  # seen at once, decrypted
    assert "b" not in db and "c" not in db
    db.close()
    raw = (tmp_path / "c.db").read_bytes()
    assert b'"email"' not in raw  # ciphertext only


def test_write_back_flushes_ciphertext(tmp_path: Any) -> None:
    path = str(tmp_path / "w.db")
    db = NanaSQLite(path, v2_mode=True, flush_mode="manual", encryption_key=KEY)
    db.batch_update({f"k{i}": {"secret": f"plain-{i}"} for i in range(50)})
    db["one"] = {"secret": "plain-one"}
    del db["k0"]
    assert db["one"] == {"secret": "plain-one"}  # pending, read from memory
    db.flush(wait=True)
    db.close()
    for name in ("w.db", "w.db-wal"):
        f = tmp_path / name
        if f.exists():
            assert b"plain-" not in f.read_bytes()
    again = NanaSQLite(path, encryption_key=KEY)
    assert again["one"] == {"secret": "plain-one"} and again["k7"] == {"secret": "plain-7"} and "k0" not in again
    again.close()


def test_write_back_runs_hooks_at_write_time(tmp_path: Any) -> None:
    path = str(tmp_path / "h.db")
    seen: list[str] = []

    class Log(CheckHook):
        def on_write_success(self, db: Any, key: str, value: Any, old: Any) -> None:
            seen.append(key)

    hook = Log(lambda k, v: v.get("n", 0) >= 0, "n must not be negative")
    db = NanaSQLite(path, v2_mode=True, flush_mode="manual", hooks=[hook])
    db["a"] = {"n": 1}
    with pytest.raises(NanaSQLiteValidationError, match="negative"):
        db["b"] = {"n": -1}
    with pytest.raises(NanaSQLiteValidationError, match="negative"):
        db.batch_update({"c": {"n": 2}, "d": {"n": -2}})
    assert "b" not in db and "c" not in db and db["a"] == {"n": 1}
    db.close()  # flushes
    again = NanaSQLite(path)
    assert again.to_dict() == {"a": {"n": 1}}
    again.close()
    assert "a" in seen
