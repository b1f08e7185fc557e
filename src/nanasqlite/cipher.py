"""Encryption at rest, in the file format of the 1.6 package: ``encryption_key`` and ``encryption_mode``.

A store opened with a key stores every value as a BLOB, the value's JSON text (UTF-8) sealed by the cipher:

* ``"aes-gcm"`` (the default) and ``"chacha20"``: a fresh random 12-byte nonce, then the ciphertext and its
  16-byte tag (``AESGCM`` / ``ChaCha20Poly1305`` of the ``cryptography`` package, no associated data);
* ``"fernet"``: the Fernet token, as bytes.

The key is used as given: bytes as they are, a str as its UTF-8 bytes (so a 32-character ASCII str is an AES-256
key, and a Fernet key is its url-safe base64 text). Keys (the ``key`` column) are not encrypted.

The cipher lives in the storage layer: ``CipherKV`` is the ``KVTable`` of an encrypted store, chosen once when
the store is made; it seals what the mapping writes and opens what it reads, so the mapping, its cache (which
holds decoded values, as every store's) and a store without a key are unchanged. Batches keep the JSON
rendering and the SQLite work in the GIL-free kernel; only the cipher calls run with the GIL, in one loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import apsw

from ._native import codec
from ._turn import TURN
from .cache import ABSENT
from .exceptions import NanaSQLiteDatabaseError, NanaSQLiteValidationError
from .storage import IN_CHUNK, KVTable, not_json, refused_batch

__all__ = ["MODES", "Cipher", "CipherKV", "make_cipher"]

#: The modes of 1.6, the first the default.
MODES = ("aes-gcm", "chacha20", "fernet")

_NONCE = 12
_TAG = 16
_EXTRA = "pip install nanasqlite[encryption]"
_LEGACY = (
    "is stored unencrypted; open the store with allow_legacy_plaintext=True to read such values (only while "
    "migrating a plaintext file: see the README's Encryption section)"
)


def make_cipher(key: object, mode: object = "aes-gcm", allow_legacy_plaintext: bool = False) -> Cipher | None:
    """The cipher for a store's encryption options; ``None`` without a key (``mode`` is then ignored, as in 1.6).

    Errors name the mode and what a key must be, never the key itself."""
    if key is None:
        return None
    if not isinstance(key, (str, bytes)) or not key:
        raise NanaSQLiteValidationError("encryption_key must be a non-empty str or bytes value")
    if mode not in MODES:
        shown = repr(mode) if isinstance(mode, str) else type(mode).__name__
        raise NanaSQLiteValidationError(
            f"Unsupported encryption_mode: {shown} (use one of {', '.join(repr(m) for m in MODES)})"
        )
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.fernet import Fernet, InvalidToken
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    except ImportError as exc:
        raise ImportError(f"Encryption requires the 'cryptography' library. Install it with: {_EXTRA}") from exc
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    try:
        if mode == "fernet":
            engine: Any = Fernet(raw)
            failure: tuple[type[BaseException], ...] = (InvalidToken,)
        elif mode == "aes-gcm":
            engine = AESGCM(raw)
            failure = (InvalidTag,)
        else:
            engine = ChaCha20Poly1305(raw)
            failure = (InvalidTag,)
    except ValueError:
        need = {
            "aes-gcm": "16, 24 or 32 bytes (AES-128/192/256)",
            "chacha20": "32 bytes",
            "fernet": "32 url-safe base64-encoded bytes (cryptography.fernet.Fernet.generate_key())",
        }[mode]
        raise NanaSQLiteValidationError(
            f"encryption_key for encryption_mode {mode!r} must be {need}; got {len(raw)} bytes"
        ) from None
    return Cipher(mode, engine, failure, bool(allow_legacy_plaintext))


class Cipher:
    """Seals JSON texts into what is stored and opens them again. Holds the cipher object, never the key text."""

    __slots__ = ("mode", "legacy", "engine", "aead", "_failure")

    def __init__(
        self, mode: str, engine: Any, failure: tuple[type[BaseException], ...], allow_legacy_plaintext: bool
    ) -> None:
        self.mode = mode
        self.legacy = allow_legacy_plaintext
        self.engine = engine
        self._failure = failure
        self.aead = mode != "fernet"

    def __repr__(self) -> str:
        return f"Cipher(mode={self.mode!r}, allow_legacy_plaintext={self.legacy})"

    def __reduce__(self) -> Any:
        raise TypeError("a store's cipher cannot be pickled (it holds the key)")

    def seal(self, data: bytes) -> bytes:
        """What is stored for the UTF-8 JSON text ``data``."""
        if self.aead:
            nonce = os.urandom(_NONCE)
            return nonce + self.engine.encrypt(nonce, data, None)  # type: ignore[no-any-return]
        return self.engine.encrypt(data)  # type: ignore[no-any-return]

    def open(self, key: str, stored: bytes | str | None) -> str | None:
        """The JSON text of what is stored for ``key`` (None for a SQL NULL). A value that does not open with
        this key raises the library's error, which names the key and nothing of the value."""
        if stored is None:
            return None
        if type(stored) is bytes:
            try:
                if self.aead:
                    if len(stored) < _NONCE + _TAG:
                        raise NanaSQLiteDatabaseError(
                            f"cannot decrypt the value of key {key!r}: corrupted encrypted data (payload of "
                            f"{len(stored)} bytes, shorter than nonce and tag)"
                        )
                    # bytes slices: cryptography takes a memoryview through a much slower path
                    data = self.engine.decrypt(stored[:_NONCE], stored[_NONCE:], None)
                else:
                    data = self.engine.decrypt(stored)
                return str(data.decode("utf-8"))
            except self._failure:
                raise NanaSQLiteDatabaseError(
                    f"cannot decrypt the value of key {key!r}: wrong encryption_key or encryption_mode, or the "
                    "data is corrupted"
                ) from None
            except UnicodeDecodeError:
                raise NanaSQLiteDatabaseError(f"the decrypted value of key {key!r} is not UTF-8 text") from None
        text = stored if type(stored) is str else str(stored)
        if not self.aead and text.startswith("gAAAAA"):  # a Fernet token stored as TEXT: 1.6 read those too
            try:
                return str(self.engine.decrypt(text).decode("utf-8"))
            except self._failure:
                pass
            except UnicodeDecodeError:
                pass
        if self.legacy:
            return text
        raise NanaSQLiteDatabaseError(f"encryption is enabled but the value of key {key!r} {_LEGACY}")


class CipherKV(KVTable):
    """The ``KVTable`` of an encrypted store: seals on the way in, opens on the way out."""

    cipher: Cipher

    def __init__(self, conn: Any, table: str, cipher: Cipher) -> None:
        self.cipher = cipher
        super().__init__(conn, table)

    def _open_rows(self, rows: list[tuple[str, Any]]) -> list[tuple[str, str | None]]:
        opened = self.cipher.open
        return [(key, opened(key, stored)) for key, stored in rows]

    def read(self, key: str) -> Any:
        # Every cold db[key]: KVTable's kernel statement parses the stored bytes as JSON, so it is not for us.
        text = self.get(key)
        if text is False:
            return ABSENT
        if text is None:
            return None
        try:
            return codec.loads(text)
        except ValueError as exc:
            raise not_json(key, exc) from exc

    def get(self, key: str) -> str | None | bool:
        stored = super().get(key)
        if stored is False:
            return False
        return self.cipher.open(key, stored)  # type: ignore[arg-type]

    def put(self, key: str, text: str) -> None:
        super().put(key, self.cipher.seal(text.encode("utf-8")))  # type: ignore[arg-type]

    def put_many(self, keys: list[str], values: list[Any], texts: bool = True) -> list[str] | None:
        cipher = self.cipher
        nonces = os.urandom(_NONCE * len(keys)) if cipher.aead else b""
        kernel = self.conn.kernel
        try:
            return self._run(  # type: ignore[no-any-return]
                lambda con: kernel.put_sealed(
                    con, self._put, keys, values, cipher.engine.encrypt, nonces, texts, gate=TURN.mine()
                ),
                "batch write",
            )
        except (TypeError, ValueError) as exc:
            raise refused_batch(keys, values, exc) from None

    def put_texts(self, keys: list[str], texts: list[str], deleted: list[str]) -> None:
        """The write-back flusher's chunk (``KVTable.put_texts``), sealed: one transaction, all or nothing."""
        seal = self.cipher.seal
        sealed = [seal(text.encode("utf-8")) for text in texts]

        def run(con: apsw.Connection) -> None:
            with con:  # APSW: a transaction of its own, or a savepoint inside the caller's
                if keys:
                    con.executemany(self._put, zip(keys, sealed, strict=True))
                if deleted:
                    con.executemany(self._delete, ((key,) for key in deleted))

        self._run(run, "flush")

    def get_many(self, keys: list[str], decode: Callable[[str, str | None], Any]) -> dict[str, Any]:
        cipher = self.cipher
        opened = cipher.open
        unseal = cipher.engine.decrypt
        nonce_len = _NONCE if cipher.aead else 0
        kernel = self.conn.kernel

        def value(key: str, stored: bytes | str | None) -> Any:
            return decode(key, opened(key, stored))

        def fetch(con: apsw.Connection) -> Any:
            return kernel.get_sealed(con, self._get_in, keys, value, unseal, nonce_len, gate=TURN.mine())

        def run(con: apsw.Connection) -> Any:
            if len(keys) <= IN_CHUNK or not con.getautocommit():
                return fetch(con)
            con.execute("BEGIN DEFERRED")  # one state of the file, as KVTable.get_many
            try:
                found = fetch(con)
            except BaseException:
                if not con.getautocommit():
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            return found

        try:
            return self._run(run, "batch read")  # type: ignore[no-any-return]
        except (TypeError, ValueError) as exc:
            raise refused_batch(keys, None, exc) from None

    def scan(self) -> tuple[list[str], list[str | None]]:
        keys, stored = self._run(lambda con: self.conn.kernel.scan_blobs(con, self._items, gate=TURN.mine()), "scan")
        opened = self.cipher.open
        return keys, [opened(key, value) for key, value in zip(keys, stored, strict=True)]

    def items(self) -> list[tuple[str, str | None]]:
        return self._open_rows(super().items())

    def page(self, after: str | None, limit: int) -> list[tuple[str, str | None]]:
        return self._open_rows(super().page(after, limit))

    def first(self) -> tuple[str, str | None] | None:
        row = super().first()
        return None if row is None else (row[0], self.cipher.open(row[0], row[1]))

    def extract(self, con: apsw.Connection, key: str, path: str) -> Any:
        # The stored value is opaque to SQLite: open it here and let SQLite walk the path of the plain text,
        # given as a parameter (nothing of it is written anywhere).
        text = self.get(key)
        if text is False or text is None:
            return None
        row = con.execute("SELECT ? -> ?", (text, path)).fetchone()
        return None if row is None else row[0]
