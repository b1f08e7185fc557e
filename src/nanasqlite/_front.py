"""Pure-Python twin of ``nanasqlite._speedups._front``: the cache-hit fast paths of the store.

``CacheFront`` is the base class of the store. It answers ``db[key]``, ``db.get(key)`` and ``key in db`` from
the ``_hot`` dict of decoded values and hands everything else to the subclass's ``_miss``/``_miss_contains``.
``probe`` splits many keys into cache hits and misses in one loop, for ``batch_get``.
"""

from __future__ import annotations

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
