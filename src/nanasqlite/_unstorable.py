"""Errors for what cannot be stored: where in the value the problem is, and what to store instead.

This is a cold path. The codecs (``codec.py`` and its compiled twin) stay as fast as they are and raise their
short messages; only when one has refused a value does ``refused_value`` walk it again, in pure Python, to name
the first part it refuses (by the same rules, in the same order) and a fix::

    cannot store key 'u': items[0].when: datetime is not JSON serialisable; store when.isoformat() instead

Every error made here is a ``NanaSQLiteValidationError``, and a ``NanaSQLiteTypeError`` (also a ``TypeError``)
where the codec raised ``TypeError``, so code catching the builtins keeps working.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import uuid
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from .codec import INT_MAX, INT_MIN, MAX_DEPTH
from .exceptions import NanaSQLiteTypeError, NanaSQLiteValidationError

__all__ = ["refused_value", "refused_key", "library_error", "utf8_problem"]

_PATH_LIMIT = 160  # characters of a path shown; a reference cycle's is MAX_DEPTH steps long

# (path, is-TypeError, what is wrong, what to do instead)
_Problem = tuple[list[str | int], bool, str, str]


def library_error(exc: BaseException) -> NanaSQLiteValidationError:
    """``exc`` (a TypeError or ValueError of a codec or kernel) as the library's own error, same message."""
    cls = NanaSQLiteTypeError if isinstance(exc, TypeError) else NanaSQLiteValidationError
    return cls(str(exc))


def refused_value(key: str, value: Any, exc: BaseException) -> NanaSQLiteValidationError:
    """The error for ``value`` of ``key``, which the codec refused with ``exc``."""
    try:
        problem = _find(value, [], 0) or _find_surrogate(value, [])
    except Exception:  # the value's own code (a broken items()) raised: the codec's message says enough
        problem = None
    if problem is None:
        return type(library_error(exc))(f"cannot store key {key!r}: {exc}")
    path, is_type, what, fix = problem
    where = _render(path)
    cls = NanaSQLiteTypeError if is_type else NanaSQLiteValidationError
    return cls(f"cannot store key {key!r}: {where + ': ' if where else ''}{what}; {fix}")


def utf8_problem(key: object) -> bool:
    """Whether ``key`` is a str SQLite cannot hold (it is not valid UTF-8: lone surrogates)."""
    if not isinstance(key, str) or key.isascii():
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refused_key(key: object) -> NanaSQLiteValidationError:
    """The error for a key that cannot be stored: not a str, or not valid UTF-8."""
    if not isinstance(key, str):
        return NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
    return NanaSQLiteValidationError(
        f"key {key!r} is not valid UTF-8 (it holds a lone surrogate), so SQLite cannot store it; "
        "decode the text it came from with errors='replace', or encode it first"
    )


# -- the walk: codec._check's rules and order, with the path kept ------------------------------------------------


def _find(value: Any, path: list[str | int], depth: int) -> _Problem | None:
    t = type(value)
    if t is str or value is None or t is bool or isinstance(value, (str, bool)):
        return None
    if isinstance(value, int):
        number = int.__int__(value)
        if INT_MIN <= number <= INT_MAX:
            return None
        return path, False, "int out of the 64-bit range", f"store str({_name(path)}) instead"
    if isinstance(value, float):
        if math.isfinite(float.__float__(value)):
            return None
        return path, False, "NaN and Infinity are not valid JSON", "store None (or a string) instead"
    if isinstance(value, (dict, list, tuple)):
        depth += 1
        if depth > MAX_DEPTH:
            return (
                path,
                False,
                f"value nested deeper than {MAX_DEPTH} levels (or a reference cycle)",
                "a value that contains itself cannot be stored; flatten it",
            )
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    return (
                        path,
                        True,
                        f"dict keys must be str, not {type(k).__name__} ({k!r})",
                        "convert the keys with str() (JSON keys are strings, so an int key would come back as one)",
                    )
                found = _find(v, path + [k], depth)
                if found is not None:
                    return found
        else:
            for i, v in enumerate(value):
                found = _find(v, path + [i], depth)
                if found is not None:
                    return found
        return None
    name = type(value).__name__
    return path, True, f"{name} is not JSON serialisable", _fix(value, _name(path))


def _find_surrogate(value: Any, path: list[str | int]) -> _Problem | None:
    """The first string (or dict key) that is not valid UTF-8; the codec checks them after everything else."""
    what = "strings must not contain lone surrogates"
    fix = "decode the text it came from with errors='replace' (or store it base64-encoded)"
    if isinstance(value, str):
        return (path, False, what, fix) if utf8_problem(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if utf8_problem(k):
                return path, False, f"dict key {k!r}: {what}", fix
            found = _find_surrogate(v, path + [k])
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_surrogate(v, path + [i])
            if found is not None:
                return found
    return None


def _fix(value: Any, name: str) -> str:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return f"store {name}.isoformat() instead (and fromisoformat() to read it back)"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"store text instead, e.g. base64.b64encode({name}).decode('ascii')"
    if hasattr(type(value), "model_dump"):
        return "store a pydantic model with set_model(), or its model_dump(mode='json')"
    if isinstance(value, decimal.Decimal):
        return f"store str({name}) (exact) or float({name}) instead"
    if isinstance(value, enum.Enum):
        return f"store {name}.value instead"
    if isinstance(value, (uuid.UUID, PurePath)):
        return f"store str({name}) instead"
    if isinstance(value, complex):
        return f"store [{name}.real, {name}.imag] instead"
    if isinstance(value, Mapping):
        return f"store dict({name}) instead"
    if isinstance(value, Iterable):  # set, frozenset, deque, range, generators, arrays...
        return f"store list({name}) instead"
    return "convert it to None, bool, int, float, str, list or dict first"


def _name(path: list[str | int]) -> str:
    """How the fix refers to the part: its last dict key when that is an identifier, else ``value``."""
    for step in reversed(path):
        if isinstance(step, str):
            return step if step.isidentifier() else "value"
        return "value"
    return "value"


def _render(path: list[str | int]) -> str:
    out = []
    for step in path:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif step.isidentifier():
            out.append(f".{step}" if out else step)
        else:
            out.append(f"[{step!r}]")
    text = "".join(out)
    if len(text) > _PATH_LIMIT:
        text = text[: _PATH_LIMIT - 40] + "..." + text[-37:]
    return text
