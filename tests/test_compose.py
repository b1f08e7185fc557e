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
