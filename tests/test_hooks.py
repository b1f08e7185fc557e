"""Hooks and validation: every hook on every read, write and delete path, sync and async, with transactions,
batches, sub-tables and several processes."""

from __future__ import annotations

import logging
import multiprocessing
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest

import nanasqlite
from nanasqlite import (
    HAS_VALIDKIT,
    AsyncNanaSQLite,
    BaseHook,
    CheckHook,
    ForeignKeyHook,
    NanaHook,
    NanaSQLite,
    NanaSQLiteValidationError,
    PydanticHook,
    UniqueHook,
    ValidkitHook,
)

from .conftest import file_data

UNIQUE = "Unique constraint violation: duplicate value detected"


class Recorder(BaseHook):
    """Records every success call, and what the file held at that moment."""

    def __init__(self, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.events: list[tuple[Any, ...]] = []

    def on_write_success(self, db: Any, key: str, value: Any, old_value: Any) -> None:
        self.events.append(("write", key, value, old_value))

    def on_delete_success(self, db: Any, key: str, old_value: Any) -> None:
        self.events.append(("delete", key, old_value))


class Wrap(BaseHook):
    """after_read wraps the value: a value wrapped twice would show a read applied to the hook's own output."""

    def after_read(self, db: Any, key: str, value: Any) -> Any:
        return ("read", value)


class Lower(BaseHook):
    def before_write(self, db: Any, key: str, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def positive(key: str, value: Any) -> bool:
    return not isinstance(value, int) or value > 0


@pytest.fixture
def checked(db_path: str) -> Iterator[NanaSQLite]:
    store = NanaSQLite(db_path, hooks=[CheckHook(positive, "must be positive")])
    yield store
    store.close()


# -- the API ---------------------------------------------------------------------------------------------------


def test_the_1_6_names_are_exported() -> None:
    from nanasqlite.hooks import BaseHook as Base
    from nanasqlite.protocols import NanaHook as Protocol

    assert Base is BaseHook and Protocol is NanaHook
    for name in ("NanaHook", "CheckHook", "UniqueHook", "ForeignKeyHook", "PydanticHook", "ValidkitHook"):
        assert name in nanasqlite.__all__
    assert HAS_VALIDKIT is True  # the [test] extra pulls validkit-py
    assert isinstance(Recorder(), NanaHook)


def test_a_store_without_hooks_stays_the_plain_class(db: NanaSQLite) -> None:
    assert type(db) is NanaSQLite
    db.add_hook(CheckHook(positive))
    assert isinstance(db, NanaSQLite) and type(db) is not NanaSQLite
    assert repr(db).startswith("NanaSQLite(")


def test_a_subclass_keeps_its_own_methods_when_hooked(db_path: str) -> None:
    class Mine(NanaSQLite):
        def hello(self) -> str:
            return "hi"

    with Mine(db_path) as db:
        db.add_hook(CheckHook(positive, "must be positive"))
        db.add_hook(Wrap())
        assert isinstance(db, Mine) and db.hello() == "hi"
        db["k"] = 1
        assert db["k"] == ("read", 1) and db.get("k") == ("read", 1)
        with pytest.raises(NanaSQLiteValidationError):
            db["j"] = -1
        assert type(db.table("bare", hooks=None)) is Mine


def test_add_hook_refuses_what_is_not_a_hook(db: NanaSQLite) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="not a hook"):
        db.add_hook(object())
    with pytest.raises(NanaSQLiteValidationError, match="hooks must be a list"):
        NanaSQLite(":memory:", hooks=CheckHook(positive))  # type: ignore[arg-type]
    assert type(db) is NanaSQLite


def test_a_plain_object_with_some_hook_methods_is_a_hook(db: NanaSQLite) -> None:
    class Upper:
        def before_write(self, db: Any, key: str, value: Any) -> Any:
            return value.upper()

    db.add_hook(Upper())
    db["k"] = "abc"
    assert file_data(db._db_path) == {"k": "ABC"}


# -- before_write on every write path ---------------------------------------------------------------------------

WRITES: dict[str, Callable[[NanaSQLite], Any]] = {
    "setitem": lambda db: db.__setitem__("bad", -1),
    "update": lambda db: db.update({"ok": 1, "bad": -1}),
    "update_kwargs": lambda db: db.update(ok=1, bad=-1),
    "setdefault": lambda db: db.setdefault("bad", -1),
    "batch_update": lambda db: db.batch_update({"ok": 1, "bad": -1, "ok2": 2}),
    "patch": lambda db: db.patch("bad", {"n": 1}, create=True),
    "increment": lambda db: db.increment("bad", -5, default=0),
}


@pytest.mark.parametrize("path", list(WRITES))
def test_a_refused_value_raises_the_hooks_message_and_writes_nothing(path: str, db_path: str) -> None:
    def check(key: str, value: Any) -> bool:
        if isinstance(value, dict):
            return False  # patch
        return positive(key, value)

    with NanaSQLite(db_path, hooks=[CheckHook(check, "must be positive")]) as db:
        with pytest.raises(NanaSQLiteValidationError, match="must be positive") as info:
            WRITES[path](db)
        assert isinstance(info.value, ValueError)
        assert "bad" not in db and "ok" not in db
    assert file_data(db_path) == {}


def test_set_model_passes_before_write(db_path: str) -> None:
    class Item(pydantic.BaseModel):
        n: int

    seen: list[Any] = []
    with NanaSQLite(db_path, hooks=[CheckHook(lambda k, v: seen.append(v) or False, "refused")]) as db:
        with pytest.raises(NanaSQLiteValidationError, match="refused"):
            db.set_model("m", Item(n=1))
    assert seen and file_data(db_path) == {}


def test_before_write_changes_what_every_path_stores(db_path: str) -> None:
    with NanaSQLite(db_path, hooks=[Lower()]) as db:
        db["a"] = "A"
        db.update({"b": "B"})
        db.batch_update({"c": "C"})
        assert db.setdefault("d", "D") == "d"
        assert db.batch_update_partial({"e": "E", "f": {1, 2}}).keys() == {"f"}
        assert db["a"] == "a"
    assert file_data(db_path) == {"a": "a", "b": "b", "c": "c", "d": "d", "e": "e"}


def test_patch_and_increment_store_what_before_write_returns(db_path: str) -> None:
    class Stamp(BaseHook):
        def before_write(self, db: Any, key: str, value: Any) -> Any:
            return {**value, "checked": True} if isinstance(value, dict) else value * 10

    with NanaSQLite(db_path, hooks=[Stamp()]) as db:
        assert db.patch("p", {"a": 1}, create=True) == {"a": 1, "checked": True}
        assert db.increment("n", 1, default=0) == 10
    assert file_data(db_path) == {"p": {"a": 1, "checked": True}, "n": 10}


def test_a_batch_is_validated_whole_before_anything_is_written(checked: NanaSQLite) -> None:
    batch = {f"k{i}": i + 1 for i in range(500)}
    batch["k250"] = -1
    with pytest.raises(NanaSQLiteValidationError, match="must be positive"):
        checked.batch_update(batch)
    assert len(checked) == 0
    del batch["k250"]
    checked.batch_update(batch)
    assert len(checked) == 499


def test_batch_update_partial_reports_each_refused_key(checked: NanaSQLite) -> None:
    failed = checked.batch_update_partial({"a": 1, "b": -1, "c": 2, "d": {1}, 5: 1})  # type: ignore[dict-item]
    assert set(failed) == {"b", "d", 5}
    assert failed["b"] == "Value for key 'b' failed schema validation: must be positive"
    assert checked.to_dict() == {"a": 1, "c": 2}


def test_hooks_run_in_order(db: NanaSQLite) -> None:
    db.add_hook(Lower())
    db.add_hook(CheckHook(lambda k, v: v == v.lower(), "not lower"))
    db["k"] = "MiXed"
    assert db["k"] == "mixed"


# -- success hooks: once per key, after COMMIT ------------------------------------------------------------------


def test_success_hooks_fire_once_per_key_with_the_old_value(db: NanaSQLite) -> None:
    rec = Recorder()
    db.add_hook(rec)
    db["a"] = 1
    db["a"] = 2
    db.update({"a": 3, "b": 1})
    db.batch_update({"c": 1})
    db.setdefault("d", 1)
    db.setdefault("d", 2)  # exists: no write
    db.patch("p", {"x": 1}, create=True)
    db.increment("a", 1)
    assert set(db.batch_update_partial({"e": 1, "f": {1}})) == {"f"}
    assert rec.events == [
        ("write", "a", 1, None),
        ("write", "a", 2, 1),
        ("write", "a", 3, 2),
        ("write", "b", 1, None),
        ("write", "c", 1, None),
        ("write", "d", 1, None),
        ("write", "p", {"x": 1}, None),
        ("write", "a", 4, 3),
        ("write", "e", 1, None),
    ]
    rec.events.clear()
    del db["a"]
    assert db.pop("b") == 1
    assert db.pop("missing", None) is None
    assert db.popitem() == ("c", 1)
    db.batch_delete(["d", "nope", "e"])
    with pytest.raises(KeyError):
        del db["a"]
    assert rec.events == [
        ("delete", "a", 4),
        ("delete", "b", 1),
        ("delete", "c", 1),
        ("delete", "d", 1),
        ("delete", "e", 1),
    ]


def test_success_hooks_wait_for_commit_and_never_see_a_rollback(db: NanaSQLite) -> None:
    rec = Recorder()
    db.add_hook(rec)
    db["gone"] = 0
    rec.events.clear()
    with db.transaction():
        db["a"] = 1
        db.batch_update({"b": 2})
        del db["gone"]
        assert rec.events == []  # not committed yet
    assert rec.events == [("write", "a", 1, None), ("write", "b", 2, None), ("delete", "gone", 0)]
    rec.events.clear()
    with pytest.raises(RuntimeError), db.transaction():
        db["x"] = 1
        db.batch_update({"y": 2})
        db.pop("a")
        raise RuntimeError
    db.begin_transaction()
    db["z"] = 1
    db.rollback()
    assert rec.events == [] and "x" not in db and "a" in db


def test_a_savepoint_rolled_back_drops_only_its_own_success_calls(db: NanaSQLite) -> None:
    rec = Recorder()
    db.add_hook(rec)
    with db.transaction():
        db["kept"] = 1
        with pytest.raises(RuntimeError), db.transaction():
            db["undone"] = 1
            raise RuntimeError
        with db.transaction():
            db["inner"] = 1
        assert rec.events == []
    assert [e[1] for e in rec.events] == ["kept", "inner"]


def test_a_failing_success_hook_is_logged_and_the_write_stands(db: NanaSQLite, caplog: Any) -> None:
    class Boom(BaseHook):
        def on_write_success(self, db: Any, key: str, value: Any, old_value: Any) -> None:
            raise RuntimeError("boom")

    db.add_hook(Boom())
    with caplog.at_level(logging.ERROR, logger="nanasqlite"):
        db["k"] = 1
        with db.transaction():
            db["t"] = 1
    assert db["k"] == 1 and db["t"] == 1
    assert sum("on_write_success" in r.getMessage() for r in caplog.records) == 2


def test_before_delete_can_refuse_every_delete_path(db: NanaSQLite) -> None:
    class Keep(BaseHook):
        def before_delete(self, db: Any, key: str) -> None:
            if key.startswith("keep"):
                raise NanaSQLiteValidationError(f"{key} is protected")

    db.update({"keep1": 1, "keep2": 2, "other": 3})
    db.add_hook(Keep())
    for delete in (
        lambda: db.__delitem__("keep1"),
        lambda: db.pop("keep1"),
        lambda: db.popitem(),
        lambda: db.batch_delete(["other", "keep2"]),
    ):
        with pytest.raises(NanaSQLiteValidationError, match="is protected"):
            delete()
    assert db.to_dict() == {"keep1": 1, "keep2": 2, "other": 3}
    del db["other"]
    assert "other" not in db


# -- after_read on every read path ------------------------------------------------------------------------------


def test_after_read_runs_on_every_read_path_and_the_cache_keeps_the_stored_form(db_path: str) -> None:
    with NanaSQLite(db_path) as plain:
        plain.update({"a": 1, "b": 2, "p": 3})
    with NanaSQLite(db_path, hooks=[Wrap()]) as db:
        for _ in range(2):  # cold, then cached: never wrapped twice
            assert db["a"] == ("read", 1)
            assert db.get("a") == ("read", 1)
            assert db.get("zz", "dflt") == "dflt"
            assert db.batch_get(["a", "b", "zz"]) == {"a": ("read", 1), "b": ("read", 2)}
            assert db.values() == [("read", 1), ("read", 2), ("read", 3)]
            assert db.items()[0] == ("a", ("read", 1))
            assert db.to_dict()["b"] == ("read", 2)
            assert db.copy()["b"] == ("read", 2)
            assert list(db.iter_items(batch_size=2))[2] == ("p", ("read", 3))
            assert db.setdefault("a", 9) == ("read", 1)
            assert db.get_fresh("b") == ("read", 2)
        assert db.pop("p") == ("read", 3)
        db["c"] = 4
        assert db["c"] == ("read", 4)
        assert db.popitem() == ("a", ("read", 1))
    assert file_data(db_path) == {"b": 2, "c": 4}


def test_pydantic_hook_stores_dicts_and_reads_models(db_path: str) -> None:
    class User(pydantic.BaseModel):
        name: str
        age: int

    with NanaSQLite(db_path, hooks=[PydanticHook(User, key_pattern=r"^user:")]) as db:
        db["user:1"] = User(name="Nana", age=20)
        db["user:2"] = {"name": "Mio", "age": "21"}  # validated and converted
        db["other"] = {"anything": True}
        with pytest.raises(NanaSQLiteValidationError, match="Model validation failed"):
            db["user:3"] = {"name": "x"}
        for _ in range(2):
            assert db["user:1"] == User(name="Nana", age=20)
            assert db.batch_get(["user:2"]) == {"user:2": User(name="Mio", age=21)}
        assert db["other"] == {"anything": True}
        assert type(db._cache.lookup("user:1")) is not User  # the cache keeps the stored form
    assert file_data(db_path) == {
        "user:1": {"name": "Nana", "age": 20},
        "user:2": {"name": "Mio", "age": 21},
        "other": {"anything": True},
    }


def test_validator_and_coerce_use_validkit(db_path: str) -> None:
    from validkit import v

    schema = {"name": v.str(), "age": v.int().coerce()}
    with NanaSQLite(db_path, validator=schema, coerce=True) as db:
        db["u"] = {"name": "Nana", "age": "20"}
        assert db["u"] == {"name": "Nana", "age": 20}
        with pytest.raises(NanaSQLiteValidationError, match="Schema validation failed"):
            db["bad"] = {"name": 1, "age": 2}
        with pytest.raises(NanaSQLiteValidationError, match="Schema validation failed"):
            db.batch_update({"ok": {"name": "a", "age": 1}, "bad": {"age": 1}})
    with NanaSQLite(db_path, validator=schema) as db:  # without coerce the value is stored as given
        db["raw"] = {"name": "x", "age": 5}
    assert file_data(db_path) == {"u": {"name": "Nana", "age": 20}, "raw": {"name": "x", "age": 5}}
    hook = ValidkitHook(schema)
    assert hook.coerce is False and hook.schema is schema


# -- key selection ------------------------------------------------------------------------------------------------


def test_key_pattern_and_key_filter_choose_the_keys(db: NanaSQLite) -> None:
    db.add_hook(CheckHook(lambda k, v: False, "users only", key_pattern=r"^user_\d+$"))
    db.add_hook(CheckHook(lambda k, v: False, "tmp", key_filter=lambda k: k.startswith("tmp")))
    db.add_hook(CheckHook(lambda k, v: False, "compiled", key_pattern=re.compile("^X", re.IGNORECASE)))
    db["config"] = 1
    for key, message in (("user_12", "users only"), ("tmp1", "tmp"), ("xy", "compiled")):
        with pytest.raises(NanaSQLiteValidationError, match=message):
            db[key] = 1
    assert db.keys() == ["config"]


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)*b", r"(\w+\s?)+$", "(x+x+)+y", "(ab|ab)*c", r"((a)\2)*"])
def test_patterns_with_explosive_backtracking_are_refused(pattern: str) -> None:
    if nanasqlite.hooks.HAS_RE2:
        pytest.skip("RE2 matches every pattern it compiles in linear time")
    with pytest.raises(NanaSQLiteValidationError, match="exponential"):
        BaseHook(key_pattern=pattern)
    with pytest.raises(NanaSQLiteValidationError, match="exponential"):
        CheckHook(positive, key_pattern=re.compile(pattern))


@pytest.mark.parametrize("pattern", [r"^user_\d+$", "[a-z]+:[0-9]{1,8}", "(ab)+", "^(foo|bar):", r"a{1,5}b", "(?:x)?y"])
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert BaseHook(key_pattern=pattern)._key_regex is not None


def test_an_invalid_pattern_is_a_validation_error() -> None:
    with pytest.raises(NanaSQLiteValidationError):
        BaseHook(key_pattern="(unclosed")


# -- UniqueHook ---------------------------------------------------------------------------------------------------


@pytest.fixture(params=["field", "callable"])
def unique(request: pytest.FixtureRequest, db_path: str) -> Iterator[NanaSQLite]:
    field: Any = "email"
    if request.param == "callable":

        def field(key: str, value: Any) -> Any:
            return value.get("email") if isinstance(value, dict) else None

    store = NanaSQLite(db_path, hooks=[UniqueHook(field)])
    yield store
    store.close()


def test_unique_refuses_a_duplicate_and_allows_rewrites_and_freed_values(unique: NanaSQLite) -> None:
    unique["a"] = {"email": "x@n"}
    unique["a"] = {"email": "x@n", "name": "same key, same value"}
    unique["n1"] = {"email": None}
    unique["n2"] = {"other": 1}
    unique["n3"] = {"email": None}
    with pytest.raises(NanaSQLiteValidationError, match=UNIQUE):
        unique["b"] = {"email": "x@n"}
    with pytest.raises(NanaSQLiteValidationError, match=UNIQUE):
        unique.patch("b", {"email": "x@n"}, create=True)
    assert "b" not in unique
    del unique["a"]
    unique["b"] = {"email": "x@n"}
    unique.pop("b")
    unique.batch_update({"c": {"email": "x@n"}})
    unique.batch_delete(["c"])
    unique["d"] = {"email": "x@n"}
    assert unique.keys() == ["d", "n1", "n2", "n3"]


def test_unique_batches_are_all_or_nothing(unique: NanaSQLite) -> None:
    unique["a"] = {"email": "taken"}
    with pytest.raises(NanaSQLiteValidationError, match=UNIQUE):
        unique.batch_update({"b": {"email": "new"}, "c": {"email": "new"}})
    with pytest.raises(NanaSQLiteValidationError, match=UNIQUE):
        unique.batch_update({"d": {"email": "fresh"}, "e": {"email": "taken"}})
    assert unique.keys() == ["a"]
    failed = unique.batch_update_partial({"b": {"email": "new"}, "c": {"email": "new"}, "e": {"email": "taken"}})
    assert set(failed) == {"c", "e"} and UNIQUE in failed["c"]
    assert unique.keys() == ["a", "b"]


def test_unique_in_a_transaction_sees_its_own_writes_and_a_rollback_frees(unique: NanaSQLite) -> None:
    unique.begin_transaction()
    unique["a"] = {"email": "x"}
    with pytest.raises(NanaSQLiteValidationError, match=UNIQUE):
        unique["b"] = {"email": "x"}
    unique.rollback()
    unique["b"] = {"email": "x"}
    assert unique.keys() == ["b"]


def test_unique_holds_between_threads(unique: NanaSQLite) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(i: int) -> None:
        barrier.wait()
        try:
            unique[f"k{i}"] = {"email": "same"}
            outcomes.append("ok")
        except NanaSQLiteValidationError:
            outcomes.append("dup")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["dup"] * 7 + ["ok"]
    assert len(unique) == 1


def _race(path: str, me: int, rounds: int, barrier: Any, results: Any) -> None:
    with NanaSQLite(path, hooks=[UniqueHook("email")], busy_timeout=30.0) as db:
        for r in range(rounds):
            barrier.wait()
            try:
                db[f"p{me}-{r}"] = {"email": f"e{r}"}
                results.put((r, me, "ok"))
            except NanaSQLiteValidationError:
                results.put((r, me, "dup"))


def test_unique_holds_between_processes(db_path: str) -> None:
    NanaSQLite(db_path).close()  # the file exists before the processes race to add the index
    ctx = multiprocessing.get_context("spawn")
    rounds = 15
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(db_path, me, rounds, barrier, results)) for me in range(3)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in range(3 * rounds)]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    stored = file_data(db_path)
    for r in range(rounds):
        winners = [me for rr, me, what in got if rr == r and what == "ok"]
        assert len(winners) == 1, (r, got)
        holders = [k for k, v in stored.items() if v == {"email": f"e{r}"}]
        assert holders == [f"p{winners[0]}-{r}"]


def test_unique_index_refuses_existing_duplicates(db_path: str) -> None:
    with NanaSQLite(db_path) as db:
        db.update({"a": {"email": "x"}, "b": {"email": "x"}})
        with pytest.raises(NanaSQLiteValidationError, match="already holds duplicate"):
            db.add_hook(UniqueHook("email"))
        assert type(db) is NanaSQLite
        db["c"] = {"email": "x"}


def test_unique_is_enforced_by_the_file_for_stores_without_the_hook(db_path: str) -> None:
    with NanaSQLite(db_path, hooks=[UniqueHook("email")]) as db:
        db["a"] = {"email": "x"}
        name = UniqueHook("email").index_name(db)
    with NanaSQLite(db_path) as plain:
        with pytest.raises(nanasqlite.NanaSQLiteDatabaseError):
            plain["b"] = {"email": "x"}
        plain.drop_index(name)
        plain["b"] = {"email": "x"}


# -- ForeignKeyHook -----------------------------------------------------------------------------------------------


def test_foreign_key_needs_the_referenced_key(db: NanaSQLite) -> None:
    users = db.table("users")
    posts = db.table("posts", hooks=[ForeignKeyHook("author", users)])
    users["nana"] = {"name": "Nana"}
    posts["p1"] = {"author": "nana"}
    posts["p2"] = {"author": None}
    with pytest.raises(NanaSQLiteValidationError, match="Foreign key constraint violation"):
        posts["p3"] = {"author": "ghost"}
    with pytest.raises(NanaSQLiteValidationError, match="Foreign key constraint violation"):
        posts.batch_update({"p4": {"author": "nana"}, "p5": {"author": "ghost"}})
    posts.add_hook(ForeignKeyHook(lambda k, v: v.get("editor"), users))
    with pytest.raises(NanaSQLiteValidationError):
        posts["p6"] = {"author": "nana", "editor": "ghost"}
    assert posts.keys() == ["p1", "p2"]


# -- sub-tables ---------------------------------------------------------------------------------------------------


def test_sub_tables_inherit_the_hooks_unless_told_otherwise(db_path: str) -> None:
    from validkit import v

    with NanaSQLite(db_path, hooks=[CheckHook(positive, "must be positive")], validator={"n": v.int()}) as db:
        child = db.table("child")
        with pytest.raises(NanaSQLiteValidationError, match="must be positive"):
            child["k"] = -1
        with pytest.raises(NanaSQLiteValidationError, match="Schema validation failed"):
            child["k"] = {"n": "x"}
        schema_only = db.table("schema_only", hooks=None)  # as in 1.6: the validator is still the parent's
        schema_only["k"] = {"n": -1}
        with pytest.raises(NanaSQLiteValidationError, match="Schema validation failed"):
            schema_only["k"] = {"n": "x"}
        free = db.table("free", hooks=None, validator=None)
        assert type(free) is NanaSQLite
        free["k"] = -1
        other = db.table("other", validator={"s": v.str()})
        other["k"] = {"s": "text"}
        with pytest.raises(NanaSQLiteValidationError, match="must be positive"):
            other["j"] = -1
        plain_parent = db.table("p2", hooks=[])
        assert type(plain_parent.table("p3", hooks=[Wrap()])) is not NanaSQLite
    assert file_data(db_path, "free") == {"k": -1}


def test_a_unique_hook_on_a_sub_table_is_its_own(db: NanaSQLite) -> None:
    a = db.table("a", hooks=[UniqueHook("email")])
    b = db.table("b", hooks=[UniqueHook("email")])
    a["k"] = {"email": "x"}
    b["k"] = {"email": "x"}
    with pytest.raises(NanaSQLiteValidationError):
        b["j"] = {"email": "x"}


def test_restore_keeps_the_unique_index(tmp_path: Any, db_path: str) -> None:
    source = str(tmp_path / "source.db")
    with NanaSQLite(source) as src:
        src["a"] = {"email": "x"}
    with NanaSQLite(db_path, hooks=[UniqueHook("email")]) as db:
        db.restore(source)
        with pytest.raises(NanaSQLiteValidationError, match=UNIQUE):
            db["b"] = {"email": "x"}


# -- async --------------------------------------------------------------------------------------------------------


async def test_async_runs_every_hook(db_path: str) -> None:
    rec = Recorder()
    async with AsyncNanaSQLite(db_path, hooks=[CheckHook(positive, "must be positive"), rec]) as db:
        await db.aset("a", 1)
        with pytest.raises(NanaSQLiteValidationError, match="must be positive"):
            await db.aset("b", -1)
        with pytest.raises(NanaSQLiteValidationError, match="must be positive"):
            await db.batch_update({"c": 1, "d": -1})
        assert await db.batch_update_partial({"e": 2, "f": -2}) == {
            "f": "Value for key 'f' failed schema validation: must be positive"
        }
        await db.aupdate({"g": 3})
        assert await db.aincrement("a", 1) == 2
        await db.adelete("g")
        assert rec.events == [
            ("write", "a", 1, None),
            ("write", "e", 2, None),
            ("write", "g", 3, None),
            ("write", "a", 2, 1),
            ("delete", "g", 3),
        ]
        rec.events.clear()
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.aset("t", 1)
                raise RuntimeError
        async with db.transaction():
            await db.aset("u", 1)
            assert rec.events == []
        assert rec.events == [("write", "u", 1, None)]
        assert await db.to_dict() == {"a": 2, "e": 2, "u": 1}


async def test_async_after_read_on_the_loop_and_on_the_readers(db_path: str) -> None:
    with NanaSQLite(db_path) as plain:
        plain.update({f"k{i}": i for i in range(5)})
    async with AsyncNanaSQLite(db_path) as db:
        assert await db.aget("k1") == 1  # cached before the hook arrives
        await db.add_hook(Wrap())
        for _ in range(2):
            assert await db.aget("k1") == ("read", 1)
            assert await db.aget("k2") == ("read", 2)
            assert await db.abatch_get(["k3", "k4", "zz"]) == {"k3": ("read", 3), "k4": ("read", 4)}
            assert (await db.aitems())[0] == ("k0", ("read", 0))
            assert (await db.avalues())[1] == ("read", 1)
            assert [item async for item in db.aiter_items(batch_size=2)][4] == ("k4", ("read", 4))
        assert await db.apop("k0") == ("read", 0)
        child = await db.table("child")
        await child.aset("c", 1)
        assert await child.aget("c") == ("read", 1)
        bare = await db.table("bare", hooks=None)
        await bare.aset("c", 1)
        assert await bare.aget("c") == 1


async def test_async_unique_between_concurrent_tasks(db_path: str) -> None:
    import asyncio

    async with AsyncNanaSQLite(db_path, hooks=[UniqueHook("email")]) as db:
        results = await asyncio.gather(
            *(db.aset(f"k{i}", {"email": "same"}) for i in range(50)), return_exceptions=True
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, NanaSQLiteValidationError) for r in results if r is not None)
        assert await db.alen() == 1


async def test_async_validator_keyword(db_path: str) -> None:
    from validkit import v

    async with AsyncNanaSQLite(db_path, validator={"n": v.int().coerce()}, coerce=True) as db:
        await db.aset("k", {"n": "7"})
        assert await db.aget("k") == {"n": 7}
        with pytest.raises(NanaSQLiteValidationError, match="Schema validation failed"):
            await db.aset("j", {"n": "seven"})


# -- the README -----------------------------------------------------------------------------------------------


def test_the_readme_example_runs_as_written(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import io
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Hooks and validation", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(match.group(1), "README hooks", "exec"), {})
    assert out.getvalue().splitlines() == ["1.5", "committed k None -> 1", "1"]
    assert file_data(str(tmp_path / "hooks.db"), "people") == {"u:1": {"name": "Nana", "age": 20}}


def test_unique_hook_on_an_encrypted_store_holds_without_reading_ciphertext(tmp_path: Any) -> None:
    # The values in the file are ciphertext, which SQL cannot index: the hook keeps its index in memory.
    db = NanaSQLite(str(tmp_path / "enc.db"), encryption_key=b"k" * 32)
    hook = UniqueHook("email")
    db.add_hook(hook)
    db["a"] = {"email": "x@example.com"}
    with pytest.raises(NanaSQLiteValidationError):
        db["b"] = {"email": "x@example.com"}
    with pytest.raises(NanaSQLiteValidationError):
        db.batch_update({"c": {"email": "y@example.com"}, "d": {"email": "x@example.com"}})
    assert "b" not in db and "c" not in db
    assert all("nana_unique" not in str(index) for index in db.list_indexes("data"))
    db["a"] = {"email": "x@example.com"}  # its own value again
    del db["a"]
    db["b"] = {"email": "x@example.com"}  # freed by the delete
    assert db["b"] == {"email": "x@example.com"}
    db.close()
