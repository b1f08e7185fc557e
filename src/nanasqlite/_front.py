"""Pure-Python twin of ``nanasqlite._speedups._front``: the cache-hit fast paths of the store.

``CacheFront`` is the base class of the store. It answers ``db[key]``, ``db.get(key)`` and ``key in db`` from
the ``_hot`` dict of decoded values and hands everything else to the subclass's ``_miss``/``_miss_contains``.
``probe`` splits many keys into cache hits and misses in one loop, for ``batch_get``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from itertools import repeat
from typing import Any

_NOT_FOUND: Any = object()


class CacheFront:
    __slots__ = ("_hot", "_raw")

    _hot: dict[str, Any]
    #: The policy's undecoded texts. The compiled twin decodes a first read from it; here that case goes to
    #: ``_miss``, which decodes under the store's lock and leaves the cache in the same state.
    _raw: dict[str, str | None] | None

    def __getitem__(self, key: str) -> Any:
        try:
            return self._hot[key]
        except KeyError:
            return self._miss(key)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._hot.get(key, _NOT_FOUND)
        if value is _NOT_FOUND:
            return self._miss_get(key, default)
        return value

    def __contains__(self, key: object) -> bool:
        if key in self._hot:
            return True
        return self._miss_contains(key)

    def _miss(self, key: str) -> Any:
        raise NotImplementedError

    def _miss_get(self, key: str, default: Any) -> Any:
        raise NotImplementedError

    def _miss_contains(self, key: object) -> bool:
        raise NotImplementedError


def probe(hot: dict[str, Any], keys: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """Return ``(hits, misses)``: the cached values of ``keys`` and, in order, the keys not in ``hot``.

    ``hot`` is read in one C-level pass (``map`` of ``dict.get``), during which no other thread runs Python, as in
    the compiled twin: the hits are the dict's contents at one moment (see ``NanaSQLite.batch_get``)."""
    keys = keys if isinstance(keys, list) else list(keys)
    values = list(map(hot.get, keys, repeat(_NOT_FOUND)))
    hits: dict[str, Any] = {}
    misses: list[str] = []
    for key, value in zip(keys, values, strict=True):
        if value is _NOT_FOUND:
            misses.append(key)
        else:
            hits[key] = value
    return hits, misses


#: Bytes of the WAL-index header that SQLite rewrites on every commit (https://sqlite.org/walformat.html).
HEADER = 48


class _Always:
    """The ``_shm`` of a store that asks SQLite on every read: no slice of it equals the header seen."""

    def __getitem__(self, index: slice) -> object:
        return self


class CoherentFront(CacheFront):
    """``CacheFront`` for a store that must see other connections' commits; see the compiled twin. The state
    lives in slots, which views made by ``type(store).__new__`` do not have: they check nothing."""

    __slots__ = ("_shm", "_seen")

    def __getitem__(self, key: str) -> Any:
        try:
            shm = self._shm
        except AttributeError:  # a view of the store
            pass
        else:
            if shm[:HEADER] != self._seen:
                self._sync()
        try:
            return self._hot[key]
        except KeyError:
            return self._miss(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            shm = self._shm
        except AttributeError:
            pass
        else:
            if shm[:HEADER] != self._seen:
                self._sync()
        value = self._hot.get(key, _NOT_FOUND)
        if value is _NOT_FOUND:
            return self._miss_get(key, default)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            shm = self._shm
        except AttributeError:
            pass
        else:
            if shm[:HEADER] != self._seen:
                self._sync()
        if key in self._hot:
            return True
        return self._miss_contains(key)

    def _sync(self) -> None:
        raise NotImplementedError

    def _coherence_watch(self, view: Any, mode: int) -> None:
        if mode == 1:
            if len(view) < HEADER:
                raise ValueError("the WAL-index header needs 48 bytes")
            self._shm = view
            self._seen = bytes(view[:HEADER])
        elif mode == 2:
            self._shm = _Always()
            self._seen = b""
        else:  # nothing to watch: answer as a plain store
            with contextlib.suppress(AttributeError):
                del self._shm

    def _coherence_header(self) -> bytes:
        shm = getattr(self, "_shm", None)
        return bytes(shm[:HEADER]) if shm is not None and not isinstance(shm, _Always) else b""

    def _coherence_agree(self, header: bytes) -> None:
        if len(header) == HEADER and hasattr(self, "_shm"):
            self._seen = header

    def _coherence_stale(self) -> bool:
        shm = getattr(self, "_shm", None)
        return shm is not None and shm[:HEADER] != self._seen

    def _coherence_check(self) -> None:
        shm = getattr(self, "_shm", None)
        if shm is not None and shm[:HEADER] != self._seen:
            self._sync()
