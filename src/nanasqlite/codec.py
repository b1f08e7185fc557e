"""Values <-> JSON text: the pure-Python codec (``nanasqlite._speedups._codec`` is its compiled twin).

What can be stored is the JSON data model, and both implementations agree byte for byte:

* ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` and ``dict`` (and their subclasses, written
  as the base type). Tuples come back as lists.
* ``dict`` keys must be ``str``: an int key would come back as a string, so it is refused (``TypeError``).
* ints must fit in 64 bits (``-2**63 <= n < 2**64``), the range every JSON reader of the 1.6 package accepts
  (``ValueError``).
* ``NaN`` and the infinities are not JSON and are refused (``ValueError``); 1.6 silently stored them as ``null``.
* strings must be encodable as UTF-8, so lone surrogates are refused (``ValueError``).
* containers may nest at most ``MAX_DEPTH`` levels; deeper values (and reference cycles) raise ``ValueError``.
* anything else (bytes, sets, datetimes, arbitrary objects) raises ``TypeError``.

Output is compact JSON (``,`` and ``:`` without spaces), non-ASCII characters kept as they are, control
characters escaped as the standard library does, floats written as ``repr(float)`` and dict keys in insertion
order. Reading accepts any JSON text, including the spaced style and the ``NaN``/``Infinity`` literals that the
1.6 package wrote when orjson was not installed.

>>> dumps({"name": "Nana", "tags": ("a", "é"), "score": 1.5})
'{"name":"Nana","tags":["a","é"],"score":1.5}'
>>> loads('{"a": [1, NaN]}')
{'a': [1, nan]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_DEPTH", "INT_MIN", "INT_MAX", "dumps", "encode_many", "loads"]

MAX_DEPTH = 255
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False).encode
_decode = json.JSONDecoder().decode


def dumps(value: Any) -> str:
    """Return the JSON text of ``value``; raise ``TypeError`` or ``ValueError`` if it cannot be stored."""
    _check(value, 0)
    text = _encode(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("strings must not contain lone surrogates") from None
    return text


def encode_many(values: Iterable[Any]) -> list[str]:
    """``[dumps(v) for v in values]``: the first value that cannot be stored raises."""
    return [dumps(v) for v in values]


def loads(text: str | bytes) -> Any:
    """Return the value of a JSON text (``ValueError`` if it is not JSON)."""
    return _decode(text if isinstance(text, str) else text.decode("utf-8"))


def _check(value: Any, depth: int) -> None:
    # Exact-type tests first: they are the common case and cost one pointer compare each.
    t = type(value)
    if t is str or value is None or t is bool:
        return
    if t is int:
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError("int out of the 64-bit range")
        return
    if t is float:
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity are not valid JSON")
        return
    if t is dict or t is list or t is tuple:
        _check_container(value, depth)
        return
    if isinstance(value, (str, bool)):
        return
    if isinstance(value, (int, float)):
        # The value a subclass holds, which json writes, not what an overridden __int__/__float__ returns.
        _check(int.__int__(value) if isinstance(value, int) else float.__float__(value), depth)
        return
    if isinstance(value, (dict, list, tuple)):
        _check_container(value, depth)
        return
    raise TypeError(f"values of type {t.__name__!r} cannot be stored as JSON")


def _check_container(value: Any, depth: int) -> None:
    depth += 1
    if depth > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels (or a reference cycle)")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"dict keys must be str, not {type(k).__name__}")
            _check(v, depth)
    else:
        for v in value:
            _check(v, depth)
