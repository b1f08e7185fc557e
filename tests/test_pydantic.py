"""Pydantic models: ``set_model`` / ``get_model`` in the 1.6 storage format."""

from __future__ import annotations

import datetime
import enum
import json
from pathlib import Path

import apsw
import pydantic
import pytest

from nanasqlite import NanaSQLite, NanaSQLiteValidationError

from .conftest import run_nana16


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    city: str
    zip: str | None = None


class User(pydantic.BaseModel):
    name: str
    age: int
    tags: list[str] = []
    address: Address | None = None


class Event(pydantic.BaseModel):
    when: datetime.datetime
    color: Color
    ratio: float


class Outer:
    class Inner(pydantic.BaseModel):
        value: int


def raw(path: str, key: str) -> str:
    con = apsw.Connection(path)
    try:
        return str(con.execute("SELECT value FROM data WHERE key = ?", (key,)).fetchone()[0])
    finally:
        con.close()


def test_set_model_stores_the_class_name_and_the_fields(db: NanaSQLite, db_path: str) -> None:
    user = User(name="Nana", age=20, tags=["a"], address=Address(city="東京"))
    db.set_model("u", user)
    assert json.loads(raw(db_path, "u")) == {
        "__pydantic_model__": f"{__name__}.User",
        "__pydantic_data__": {
            "name": "Nana",
            "age": 20,
            "tags": ["a"],
            "address": {"city": "東京", "zip": None},
        },
    }
    assert db["u"]["__pydantic_data__"]["name"] == "Nana"


def test_get_model_rebuilds_the_model(db: NanaSQLite, db_path: str) -> None:
    user = User(name="Nana", age=20, address=Address(city="Tokyo", zip="100"))
    db.set_model("u", user)
    assert db.get_model("u", User) == user
    with NanaSQLite(db_path) as again:
        restored = again.get_model("u", User)
    assert isinstance(restored, User)
    assert restored == user
    assert isinstance(restored.address, Address)


def test_get_model_finds_an_imported_class_by_its_stored_name(db: NanaSQLite) -> None:
    db.set_model("u", User(name="a", age=1))
    db.set_model("inner", Outer.Inner(value=3))
    assert db.get_model("u") == User(name="a", age=1)
    assert db.get_model("inner") == Outer.Inner(value=3)


def test_get_model_refuses_a_class_name_that_is_not_imported(db: NanaSQLite) -> None:
    db["m"] = {"__pydantic_model__": "not_a_module_anywhere.Model", "__pydantic_data__": {"a": 1}}
    with pytest.raises(NanaSQLiteValidationError):
        db.get_model("m")
    db["m"] = {"__pydantic_model__": "json.JSONDecoder", "__pydantic_data__": {}}  # imported, not a model
    with pytest.raises(NanaSQLiteValidationError):
        db.get_model("m")


def test_get_model_converts_a_plain_dict_with_a_class(db: NanaSQLite) -> None:
    db["plain"] = {"name": "x", "age": 3}
    assert db.get_model("plain", User) == User(name="x", age=3)
    with pytest.raises(ValueError):
        db.get_model("plain")


def test_get_model_with_invalid_data_raises_value_error(db: NanaSQLite) -> None:
    db["bad"] = {"name": "x", "age": "not a number"}
    with pytest.raises(ValueError):
        db.get_model("bad", User)


def test_get_model_of_a_missing_key_raises_key_error(db: NanaSQLite) -> None:
    with pytest.raises(KeyError):
        db.get_model("missing", User)


def test_set_model_refuses_other_objects(db: NanaSQLite) -> None:
    for not_a_model in ({"name": "x"}, "text", User):
        with pytest.raises(TypeError):
            db.set_model("x", not_a_model)
    assert "x" not in db


def test_fields_are_stored_in_json_mode(db: NanaSQLite, db_path: str) -> None:
    event = Event(when=datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc), color=Color.RED, ratio=0.5)
    db.set_model("e", event)
    data = json.loads(raw(db_path, "e"))["__pydantic_data__"]
    assert data == {"when": "2024-05-01T12:30:00Z", "color": "red", "ratio": 0.5}
    assert db.get_model("e", Event) == event


def test_set_model_overwrites_and_sub_tables_work(db: NanaSQLite) -> None:
    users = db.table("users")
    users.set_model("u", User(name="a", age=1))
    users.set_model("u", User(name="b", age=2))
    assert users.get_model("u", User) == User(name="b", age=2)
    assert "u" not in db


MODEL_16 = """
import json, sys
from pydantic import BaseModel
class Address(BaseModel):
    city: str
    zip: str | None = None
class User(BaseModel):
    name: str
    age: int
    tags: list[str] = []
    address: Address | None = None
from nanasqlite import NanaSQLite
db = NanaSQLite("models.db")
mode = sys.stdin.read().strip()
if mode == "write":
    db.set_model("from16", User(name="Old", age=16, tags=["x"], address=Address(city="Kyoto")))
else:
    print(json.dumps(db.get_model("fromus", User).model_dump()))
db.close()
"""


def test_models_written_by_1_6_are_read_and_ours_are_read_by_1_6(tmp_path: Path, nana16: Path) -> None:
    path = str(tmp_path / "models.db")
    run_nana16(nana16, MODEL_16, tmp_path, "write")
    with NanaSQLite(path) as db:
        stored = db["from16"]
        assert stored["__pydantic_model__"] == "__main__.User"
        assert db.get_model("from16", User) == User(name="Old", age=16, tags=["x"], address=Address(city="Kyoto"))
        db.set_model("fromus", User(name="New", age=17, address=Address(city="Nara", zip="630")))
    out = run_nana16(nana16, MODEL_16, tmp_path, "read")
    assert json.loads(out) == {
        "name": "New",
        "age": 17,
        "tags": [],
        "address": {"city": "Nara", "zip": "630"},
    }
