"""Every public method of a closed store raises ``NanaSQLiteClosedError``, found by introspection so that a
method added later without a closed check fails here."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from nanasqlite import CheckHook, NanaSQLite, NanaSQLiteClosedError, NanaSQLiteConnectionError, NanaSQLiteError

# The dunder methods that are part of the mapping protocol; every other dunder is Python machinery.
MAPPING_DUNDERS = [
    "__getitem__",
    "__setitem__",
    "__delitem__",
    "__contains__",
    "__iter__",
    "__len__",
    "__eq__",
    "__enter__",
]
# Closing, and reading whether it is closed, are what a closed store still allows.
ALLOWED_WHEN_CLOSED = {"close", "closed"}


class Model(pydantic.BaseModel):
    name: str


def public_methods() -> list[str]:
    names = []
    for name, member in inspect.getmembers(NanaSQLite):
        if name.startswith("_") or name in ALLOWED_WHEN_CLOSED:
            continue
        if isinstance(inspect.getattr_static(NanaSQLite, name), property) or not callable(member):
            continue
        names.append(name)
    return sorted(names) + MAPPING_DUNDERS


# Plausible arguments by parameter name; a method whose required parameters are not all listed here or in
# SPECIAL fails the test, so whoever adds it decides what a plausible call looks like.
BY_PARAMETER: dict[str, Any] = {
    "key": "k",
    "keys": ["k"],
    "value": 1,
    "default": 1,
    "mapping": {"k": 1},
    "changes": {"a": 1},
    "hook": CheckHook(lambda key, value: True),
    "data": {"a": 1},
    "table_name": "data",
    "table": "data",
    "name": "data",
    "sql": "SELECT 1",
    "parameters": (),
    "parameters_list": [()],
    "where": "key = ?",
    "columns": {"a": "TEXT"},
    "index_name": "idx_a",
    "column_name": "a",
    "column_type": "TEXT",
    "pragma_name": "user_version",
    "data_list": [{"a": 1}],
    "conflict_columns": ["a"],
    "batch_size": 10,
    "other": {"k": 1},
    "model": Model(name="n"),
    "model_class": Model,
}
SPECIAL: dict[str, tuple[Any, ...]] = {
    "__eq__": ({"k": 1},),
    # Compiled fast paths may not expose a signature.
    "__getitem__": ("k",),
    "__contains__": ("k",),
    "get": ("k",),
}
PATH_PARAMETERS = {"path", "dest_path", "src_path", "target", "backup_path", "dst_path", "file_path"}


def plausible_args(name: str, method: Any, tmp_path: Path) -> tuple[list[Any], dict[str, Any]]:
    if name in SPECIAL:
        return list(SPECIAL[name]), {}
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(method).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is not param.empty:
            continue
        if param.name in PATH_PARAMETERS:
            value: Any = str(tmp_path / f"{param.name}.db")
        elif param.name in BY_PARAMETER:
            value = BY_PARAMETER[param.name]
        else:
            pytest.fail(f"no plausible argument for {name}({param.name}=...): add one to BY_PARAMETER or SPECIAL")
        if param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = value
        else:
            args.append(value)
    return args, kwargs


def call(store: NanaSQLite, name: str, tmp_path: Path) -> None:
    method = getattr(store, name)
    args, kwargs = plausible_args(name, getattr(NanaSQLite, name), tmp_path)
    result = method(*args, **kwargs)
    # Lazy results (generators, context managers) must fail when used, at the latest.
    if isinstance(result, Iterator):
        next(result)
    elif hasattr(result, "__enter__"):
        with result:
            pass


@pytest.fixture(params=["closed store", "sub-table of a closed store", "closed sub-table"])
def closed_store(request: pytest.FixtureRequest, db_path: str) -> Iterator[NanaSQLite]:
    db = NanaSQLite(db_path)
    db["k"] = 1
    db.table("data2")["k"] = 1
    if request.param == "closed store":
        store = db
        db.close()
    elif request.param == "sub-table of a closed store":
        store = db.table("data2")
        store["k"]  # cached: a cache hit must not answer either
        db.close()
    else:
        store = db.table("data2")
        store["k"]
        store.close()
    yield store
    db.close()


def test_the_enumeration_finds_the_store_methods() -> None:
    names = set(public_methods())
    expected = {
        "get",
        "keys",
        "values",
        "items",
        "batch_get",
        "batch_update",
        "increment",
        "table",
        "transaction",
    }
    assert expected <= names
    assert "close" not in names


@pytest.mark.parametrize("name", public_methods())
def test_every_public_method_of_a_closed_store_raises_closed_error(
    closed_store: NanaSQLite, name: str, tmp_path: Path
) -> None:
    with pytest.raises(NanaSQLiteClosedError):
        call(closed_store, name, tmp_path)


def test_closed_error_is_a_connection_error_and_a_library_error(db: NanaSQLite) -> None:
    db.close()
    with pytest.raises(NanaSQLiteClosedError) as info:
        db["k"]
    assert isinstance(info.value, NanaSQLiteConnectionError)
    assert isinstance(info.value, NanaSQLiteError)
    assert not isinstance(info.value, KeyError)


def test_a_closed_store_still_reports_itself(db_path: str) -> None:
    db = NanaSQLite(db_path)
    db.close()
    assert db.closed
    assert "closed" in repr(db)
    db.close()
    assert db.closed


def test_operator_forms_raise_closed_error_too(db: NanaSQLite) -> None:
    db["k"] = 1
    assert db["k"] == 1
    db.close()
    with pytest.raises(NanaSQLiteClosedError):
        db["k"]
    with pytest.raises(NanaSQLiteClosedError):
        db["k"] = 2
    with pytest.raises(NanaSQLiteClosedError):
        del db["k"]
    with pytest.raises(NanaSQLiteClosedError):
        "k" in db  # noqa: B015
    with pytest.raises(NanaSQLiteClosedError):
        len(db)
    with pytest.raises(NanaSQLiteClosedError):
        list(db)
    with pytest.raises(NanaSQLiteClosedError):
        dict(db)
    with pytest.raises(NanaSQLiteClosedError):
        db == {"k": 1}  # noqa: B015
    with pytest.raises(NanaSQLiteClosedError):
        with db:
            pass


def test_non_str_keys_on_a_closed_store_raise_closed_error(db: NanaSQLite) -> None:
    db.close()
    with pytest.raises(NanaSQLiteClosedError):
        db[1]  # type: ignore[index]
    with pytest.raises(NanaSQLiteClosedError):
        db.get(1)  # type: ignore[arg-type]
    with pytest.raises(NanaSQLiteClosedError):
        1 in db  # noqa: B015
    with pytest.raises(NanaSQLiteClosedError):
        db.pop(1, None)  # type: ignore[arg-type]
