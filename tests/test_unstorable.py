"""Errors for values and keys that cannot be stored (issue 19, points 6 and 7).

They name where in the value the problem is and what to store instead, they are the library's own errors
(``NanaSQLiteValidationError``; ``NanaSQLiteTypeError`` for a wrong type) and still the builtin ``TypeError`` /
``ValueError`` of 1.6, and every write path (single, batch, async, compiled or pure kernel) says the same.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import re
import uuid
from pathlib import Path
from typing import Any

import pydantic
import pytest

import nanasqlite
from nanasqlite import (
    AsyncNanaSQLite,
    NanaSQLite,
    NanaSQLiteError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
)
from nanasqlite import codec as pure_codec


class Point(pydantic.BaseModel):
    x: int


def _cycle() -> list[Any]:
    cycle: list[Any] = []
    cycle.append(cycle)
    return cycle


# value, error class, the message after "cannot store key 'u': "
CASES: list[tuple[Any, type[Exception], str]] = [
    (
        {"items": [{"when": datetime.datetime(2026, 1, 2)}]},
        NanaSQLiteTypeError,
        "items[0].when: datetime is not JSON serialisable; store when.isoformat() instead",
    ),
    (
        {"day": datetime.date(2026, 1, 2)},
        NanaSQLiteTypeError,
        "day: date is not JSON serialisable; store day.isoformat()",
    ),
    ({"tags": {"a"}}, NanaSQLiteTypeError, "tags: set is not JSON serialisable; store list(tags) instead"),
    ([collections.deque([1])], NanaSQLiteTypeError, "[0]: deque is not JSON serialisable; store list(value) instead"),
    ({"raw": b"\x00"}, NanaSQLiteTypeError, "raw: bytes is not JSON serialisable; store text instead, e.g. base64"),
    (
        {"price": decimal.Decimal("1.5")},
        NanaSQLiteTypeError,
        "price: Decimal is not JSON serialisable; store str(price)",
    ),
    (
        {"p": Point(x=1)},
        NanaSQLiteTypeError,
        "p: Point is not JSON serialisable; store a pydantic model with set_model()",
    ),
    ({"id": uuid.UUID(int=1)}, NanaSQLiteTypeError, "id: UUID is not JSON serialisable; store str(id) instead"),
    (
        {"a b": {1: "x"}},
        NanaSQLiteTypeError,
        "['a b']: dict keys must be str, not int (1); convert the keys with str()",
    ),
    ({"n": [1, 2**64]}, NanaSQLiteValidationError, "n[1]: int out of the 64-bit range; store str(value) instead"),
    ({"r": float("nan")}, NanaSQLiteValidationError, "r: NaN and Infinity are not valid JSON; store None"),
    (["ok", "a\udc80"], NanaSQLiteValidationError, "[1]: strings must not contain lone surrogates"),
    # the codec reports a wrong type before any lone surrogate, wherever they are
    (["\ud800", {"x": object()}], NanaSQLiteTypeError, "[1].x: object is not JSON serialisable; convert it to"),
    (_cycle(), NanaSQLiteValidationError, "value nested deeper than 255 levels (or a reference cycle)"),
    (datetime.time(1, 2), NanaSQLiteTypeError, "time is not JSON serialisable; store value.isoformat() instead"),
]
IDS = [f"case{i}" for i in range(len(CASES))]


def _check(exc: BaseException, cls: type[Exception], tail: str) -> None:
    assert type(exc) is cls
    assert isinstance(exc, NanaSQLiteError) and isinstance(exc, NanaSQLiteValidationError)
    assert isinstance(exc, TypeError if cls is NanaSQLiteTypeError else ValueError)
    assert str(exc).startswith("cannot store key 'u': ")
    assert tail in str(exc), str(exc)


@pytest.mark.parametrize(("value", "cls", "tail"), CASES, ids=IDS)
def test_every_write_path_names_the_part_and_the_fix(
    db: NanaSQLite, value: Any, cls: type[Exception], tail: str
) -> None:
    errors = []
    for write in (
        lambda: db.__setitem__("u", value),
        lambda: db.batch_update({"ok": 1, "u": value}),  # the batch kernel (compiled in the compiled run)
        lambda: db.update(u=value),
        lambda: db.setdefault("u", value),
        lambda: db.patch("u", {"v": value}, create=True),
    ):
        with pytest.raises(cls) as info:
            write()
        errors.append(info.value)
    _check(errors[0], cls, tail)
    messages = [str(exc) for exc in errors]
    assert len(set(messages[:4])) == 1  # the same words whichever path refused it
    assert messages[4].startswith("cannot store key 'u': v")  # patch: the value sits under "v"
    assert db.batch_update_partial({"u": value, "ok": 2}) == {"u": messages[0]}
    assert db.to_dict() == {"ok": 2}


@pytest.mark.parametrize(("value", "cls", "tail"), CASES, ids=IDS)
def test_the_codecs_keep_their_short_builtin_errors(value: Any, cls: type[Exception], tail: str) -> None:
    # The message of a store's error is built only after the fast codec raised; the codec itself is unchanged.
    builtin = TypeError if cls is NanaSQLiteTypeError else ValueError
    with pytest.raises(builtin) as info:
        pure_codec.dumps(value)
    assert not isinstance(info.value, NanaSQLiteError)


async def test_the_async_store_raises_the_same_error(db_path: str) -> None:
    value, cls, tail = CASES[0]
    async with AsyncNanaSQLite(db_path) as adb:
        with pytest.raises(cls) as info:
            await adb.aset("u", value)
        _check(info.value, cls, tail)
        with pytest.raises(cls, match=re.escape(tail)):
            await adb.batch_update({"u": value})


def test_a_broken_value_still_gets_the_codecs_message(db: NanaSQLite) -> None:
    class Broken(dict[str, Any]):
        def items(self) -> Any:
            raise TypeError("items() is broken")

    with pytest.raises(TypeError) as info:
        db["u"] = {"b": Broken(a=1)}
    assert isinstance(info.value, NanaSQLiteError)
    assert str(info.value).startswith("cannot store key 'u': ")


# -- keys --------------------------------------------------------------------------------------------------------

BAD_KEY = "a\ud800b"


@pytest.mark.parametrize(
    "call",
    [
        "setitem",
        "getitem",
        "get",
        "contains",
        "delitem",
        "pop",
        "batch_update",
        "batch_get",
        "batch_delete",
        "increment",
        "get_fresh",
    ],
)
def test_a_key_that_is_not_utf8_is_a_validation_error_naming_it(db: NanaSQLite, call: str) -> None:
    calls = {
        "setitem": lambda: db.__setitem__(BAD_KEY, 1),
        "getitem": lambda: db[BAD_KEY],
        "get": lambda: db.get(BAD_KEY),
        "contains": lambda: BAD_KEY in db,
        "delitem": lambda: db.__delitem__(BAD_KEY),
        "pop": lambda: db.pop(BAD_KEY, None),
        "batch_update": lambda: db.batch_update({"ok": 1, BAD_KEY: 1}),
        "batch_get": lambda: db.batch_get(["ok", BAD_KEY]),
        "batch_delete": lambda: db.batch_delete(["ok", BAD_KEY]),
        "increment": lambda: db.increment(BAD_KEY, default=0),
        "get_fresh": lambda: db.get_fresh(BAD_KEY),
    }
    with pytest.raises(NanaSQLiteValidationError) as info:
        calls[call]()
    assert not isinstance(info.value, UnicodeError)
    assert repr(BAD_KEY) in str(info.value)
    assert "not valid UTF-8" in str(info.value)
    assert "ok" not in db


def test_batch_update_partial_reports_a_key_that_is_not_utf8(db: NanaSQLite) -> None:
    failed = db.batch_update_partial({"ok": 1, BAD_KEY: 2})
    assert list(failed) == [BAD_KEY]
    assert repr(BAD_KEY) in failed[BAD_KEY]
    assert db.to_dict() == {"ok": 1}


def test_a_key_that_is_not_a_str_is_the_library_type_error(db: NanaSQLite) -> None:
    for write in (lambda: db.__setitem__(1, "x"), lambda: db.batch_update({1: "x"}), lambda: db.batch_get([1])):
        with pytest.raises(NanaSQLiteTypeError, match="keys must be str, not int"):
            write()


# -- the family --------------------------------------------------------------------------------------------------


def test_the_type_error_is_exported_and_in_the_family() -> None:
    assert nanasqlite.NanaSQLiteTypeError is NanaSQLiteTypeError
    assert "NanaSQLiteTypeError" in nanasqlite.__all__
    assert issubclass(NanaSQLiteTypeError, NanaSQLiteValidationError)
    assert issubclass(NanaSQLiteTypeError, TypeError)
    assert issubclass(NanaSQLiteTypeError, NanaSQLiteError)


def test_a_wrong_path_type_is_the_library_type_error(tmp_path: Path) -> None:
    with pytest.raises(NanaSQLiteTypeError):
        NanaSQLite(3.5)  # type: ignore[arg-type]


def test_the_sql_helpers_refuse_a_column_value_with_the_library_type_error(db: NanaSQLite) -> None:
    db.create_table("t", {"id": "INTEGER PRIMARY KEY", "v": "TEXT"})
    with pytest.raises(NanaSQLiteTypeError, match="the value of column 'v' must be None, int, float, str or bytes"):
        db.sql_insert("t", {"v": datetime.date(2026, 1, 2)})
    with pytest.raises(TypeError):  # the builtin of 1.6
        db.sql_insert("t", {"v": [1]})
