"""Cache policies: one small protocol, three strategies, chosen once by ``make_cache``.

A cache entry is one of three things: a decoded value, the raw JSON text of a value that nobody has read yet
(written by this process or loaded in bulk; decoded on first access), or the knowledge that the key is absent.
A policy exposes ``hot``, a plain dict of decoded values the store may answer from without asking the policy,
so a cache hit costs one dict lookup, and ``raw``, the dict of texts not decoded yet (or ``None``), from which the
compiled store decodes a first read without a Python frame. Policies that must see every hit (LRU recency, TTL
expiry) keep ``hot`` empty, have no ``raw`` and answer through ``lookup``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

from .exceptions import NanaSQLiteValidationError

__all__ = ["CacheType", "CachePolicy", "Raw", "ABSENT", "MISS", "make_cache"]


class CacheType(str, Enum):
    UNBOUNDED = "unbounded"
    LRU = "lru"
    TTL = "ttl"


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``lookup`` result: the key is known not to exist.
ABSENT: Any = _Marker("ABSENT")
#: ``lookup`` result: the cache knows nothing about the key.
MISS: Any = _Marker("MISS")


class Raw:
    """The undecoded JSON text of a value."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class CachePolicy(Protocol):
    hot: dict[str, Any]

    @property
    def raw(self) -> dict[str, str | None] | None:
        """key -> undecoded text (``None`` for SQL NULL), swapped into ``hot`` by a first read; or ``None``."""

    def lookup(self, key: str) -> Any:
        """A decoded value, a ``Raw``, ``ABSENT`` or ``MISS``."""

    def lookup_many(self, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        """``lookup`` of every key: ``({key: entry}`` of the keys it knows, the keys it does not``)``, in order."""

    def put(self, key: str, value: Any) -> None: ...
    def put_many(self, values: dict[str, Any]) -> None: ...
    def put_raw(self, key: str, text: str) -> None: ...
    def put_raw_many(self, keys: list[str], texts: list[str]) -> None: ...
    def put_absent(self, key: str) -> None: ...
    def discard(self, key: str) -> None: ...
    def discard_many(self, keys: list[str]) -> None: ...
    def clear(self) -> None: ...
    def is_cached(self, key: str) -> bool: ...
    def __len__(self) -> int: ...


def lookup_each(lookup: Callable[[str], Any], keys: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``lookup_many`` by one ``lookup`` per key."""
    known: dict[str, Any] = {}
    unknown: list[str] = []
    for key in keys:
        entry = lookup(key)
        if entry is MISS:
            unknown.append(key)
        else:
            known[key] = entry
    return known, unknown


#: Entries added to a dict per call when a batch fills the cache (between calls the interpreter can switch).
_SLICE = 4096


class UnboundedCache:
    """Keeps everything it is given; hits are answered from ``hot`` without calling the policy."""

    def __init__(self) -> None:
        self.hot: dict[str, Any] = {}
        self.raw: dict[str, str | None] = {}
        self._absent: set[str] = set()

    def lookup(self, key: str) -> Any:
        value = self.hot.get(key, MISS)  # not try/except: a miss is the common case here
        if value is not MISS:
            return value
        text = self.raw.get(key, MISS)
        if text is not MISS:
            return Raw(text)  # text is None for a value stored as SQL NULL
        return ABSENT if key in self._absent else MISS

    def lookup_many(self, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        hot, raw, absent = self.hot, self.raw, self._absent
        known: dict[str, Any] = {}
        unknown: list[str] = []
        for key in keys:  # lookup() inlined: this runs for every key of a batch_get that missed the hot dict
            value = hot.get(key, MISS)
            if value is not MISS:
                known[key] = value
                continue
            text = raw.get(key, MISS)
            if text is not MISS:
                known[key] = Raw(text)
            elif key in absent:
                known[key] = ABSENT
            else:
                unknown.append(key)
        return known, unknown

    def put(self, key: str, value: Any) -> None:
        self.hot[key] = value
        self.raw.pop(key, None)
        self._absent.discard(key)

    def put_many(self, values: dict[str, Any]) -> None:
        raw, absent = self.raw, self._absent
        if raw or absent:
            for key in values:
                raw.pop(key, None)
                absent.discard(key)
        if len(values) <= _SLICE:
            self.hot.update(values)
            return
        items = list(values.items())
        for start in range(0, len(items), _SLICE):  # see put_raw_many
            self.hot.update(items[start : start + _SLICE])

    def put_raw(self, key: str, text: str) -> None:
        self.raw[key] = text
        self.hot.pop(key, None)
        self._absent.discard(key)

    def put_raw_many(self, keys: list[str], texts: list[str]) -> None:
        hot, absent, raw = self.hot, self._absent, self.raw
        if hot or absent:
            for key in keys:
                hot.pop(key, None)
                absent.discard(key)
        # In slices: one dict.update of 100k items holds the GIL for ~20 ms, which an event loop in
        # another thread would feel; between slices the interpreter can switch threads.
        for start in range(0, len(keys), _SLICE):
            raw.update(zip(keys[start : start + _SLICE], texts[start : start + _SLICE], strict=True))

    def put_absent(self, key: str) -> None:
        self._absent.add(key)
        self.hot.pop(key, None)
        self.raw.pop(key, None)

    def discard(self, key: str) -> None:
        self.hot.pop(key, None)
        self.raw.pop(key, None)
        self._absent.discard(key)

    def discard_many(self, keys: list[str]) -> None:
        hot, raw, absent = self.hot, self.raw, self._absent
        if hot or raw or absent:  # a bulk import into an empty cache skips the loop
            for key in keys:
                hot.pop(key, None)
                raw.pop(key, None)
                absent.discard(key)

    def clear(self) -> None:
        self.hot.clear()
        self.raw.clear()
        self._absent.clear()

    def is_cached(self, key: str) -> bool:
        return key in self.hot or key in self.raw

    def __len__(self) -> int:
        return len(self.hot) + len(self.raw)


class _LockedPolicy:
    """Shared machinery of the policies that track every access: one lock, one entry map."""

    def __init__(self) -> None:
        self.hot: dict[str, Any] = {}  # stays empty: every hit must go through lookup()
        self.raw: dict[str, str | None] | None = None
        self._lock = threading.Lock()

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._set(key, value)

    def lookup(self, key: str) -> Any:
        raise NotImplementedError

    def lookup_many(self, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        return lookup_each(self.lookup, keys)

    def put_many(self, values: dict[str, Any]) -> None:
        with self._lock:
            for key, value in values.items():
                self._set(key, value)

    def put_raw(self, key: str, text: str) -> None:
        with self._lock:
            self._set(key, Raw(text))

    def put_raw_many(self, keys: list[str], texts: list[str]) -> None:
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                self._set(key, Raw(text))

    def put_absent(self, key: str) -> None:
        with self._lock:
            self._set(key, ABSENT)

    def _set(self, key: str, entry: Any) -> None:
        raise NotImplementedError


class LRUCache(_LockedPolicy):
    """Keeps the ``maxsize`` most recently used keys (absent markers count as entries)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize
        self._entries: OrderedDict[str, Any] = OrderedDict()

    def lookup(self, key: str) -> Any:
        with self._lock:
            try:
                self._entries.move_to_end(key)
            except KeyError:
                return MISS
            return self._entries[key]

    def _set(self, key: str, entry: Any) -> None:
        entries = self._entries
        entries[key] = entry
        entries.move_to_end(key)
        while len(entries) > self.maxsize:
            entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def discard_many(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def is_cached(self, key: str) -> bool:
        entry = self._entries.get(key, ABSENT)
        return entry is not ABSENT

    def __len__(self) -> int:
        return sum(1 for e in list(self._entries.values()) if e is not ABSENT)


class TTLCache(_LockedPolicy):
    """Forgets an entry ``ttl`` seconds after it was stored; ``clock`` is injectable for tests."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}

    def lookup(self, key: str) -> Any:
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return MISS
            if item[0] <= self._clock():
                del self._entries[key]
                return MISS
            return item[1]

    def _set(self, key: str, entry: Any) -> None:
        self._entries[key] = (self._clock() + self.ttl, entry)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def discard_many(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def is_cached(self, key: str) -> bool:
        return self.lookup(key) not in (MISS, ABSENT)

    def __len__(self) -> int:
        now = self._clock()
        return sum(1 for d, e in list(self._entries.values()) if d > now and e is not ABSENT)


def make_cache(
    strategy: CacheType | str = CacheType.UNBOUNDED,
    size: int | None = None,
    ttl: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CachePolicy:
    """Build the policy for a store's options, validating them."""
    try:
        kind = CacheType(strategy)
    except ValueError:
        choices = ", ".join(repr(c.value) for c in CacheType)
        raise NanaSQLiteValidationError(f"cache_strategy must be one of {choices}, not {strategy!r}") from None
    if kind is CacheType.LRU:
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise NanaSQLiteValidationError("cache_strategy='lru' needs cache_size, a positive int")
        return LRUCache(size)
    if kind is CacheType.TTL:
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not ttl > 0:
            raise NanaSQLiteValidationError("cache_strategy='ttl' needs cache_ttl, a positive number of seconds")
        return TTLCache(float(ttl), clock)
    return UnboundedCache()
