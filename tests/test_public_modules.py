"""The modules 1.6 users import besides the stores: ``utils``, ``sql_utils``, ``compat`` and the flags."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import nanasqlite
from nanasqlite import compat, hooks, sql_utils
from nanasqlite.utils import ExpirationMode, ExpiringDict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "sql_utils.json").read_text(encoding="utf-8"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- sql_utils: the same answers as 1.6.2 (golden file made by tests/golden/make_sql_utils.py) -------------------


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: repr(c["sql"])[:40])
def test_sql_utils_answer_as_16_did(case: dict[str, Any]) -> None:
    sql = case["sql"]
    assert sql_utils.find_sql_functions(sql) == case["functions"]
    assert sql_utils.sanitize_sql_for_function_scan(sql) == case["sanitized"]
    assert sql_utils.fast_validate_sql_chars(sql) is case["safe_chars"]


def test_sanitize_identifier_answers_as_16_did() -> None:
    for case in GOLDEN["identifiers"]:
        assert sql_utils.sanitize_identifier(case["name"]) == case["quoted"]


def test_the_golden_file_is_from_16_and_covers_the_edge_cases() -> None:
    assert GOLDEN["version"] == "1.6.2"
    assert len(GOLDEN["cases"]) >= 250
    by_sql = {c["sql"]: c for c in GOLDEN["cases"]}
    assert by_sql["'abc''"]["functions"] == []
    assert by_sql['SELECT "LOAD_EXTENSION"(x)']["functions"] == ["LOAD_EXTENSION"]


# -- compat flags ---------------------------------------------------------------------------------------------


def test_flags_are_exported_and_honest() -> None:
    assert nanasqlite.HAS_ORJSON is False  # our codec never uses orjson, installed or not
    assert nanasqlite.HAS_VALIDKIT is compat.HAS_VALIDKIT
    assert isinstance(compat.HAS_VALIDKIT, bool)
    assert compat.HAS_RE2 is hooks.HAS_RE2  # whether hooks match key_pattern with google-re2
    assert hooks.HAS_VALIDKIT is compat.HAS_VALIDKIT
    assert compat.IDENTIFIER_PATTERN.match("a_1") and not compat.IDENTIFIER_PATTERN.match("1a")
    assert {"HAS_ORJSON", "HAS_VALIDKIT"} <= set(nanasqlite.__all__)


def test_validkit_validate_says_how_to_install_when_missing() -> None:
    if compat.HAS_VALIDKIT:
        pytest.skip("validkit-py is installed here")
    with pytest.raises(ImportError, match="validkit-py is not installed"):
        compat.validkit_validate({}, {})


# -- ExpiringDict -------------------------------------------------------------------------------------------------


def test_lazy_keys_expire_by_the_clock() -> None:
    clock = Clock()
    expired: list[tuple[str, Any]] = []
    d = ExpiringDict(10, mode=ExpirationMode.LAZY, on_expire=lambda k, v: expired.append((k, v)), clock=clock)
    d["a"] = 1
    clock.now += 5
    d["b"] = 2
    assert d["a"] == 1 and "a" in d and len(d) == 2
    clock.now += 5  # a is due, b is not
    assert "a" not in d
    with pytest.raises(KeyError):
        d["a"]
    assert list(d) == ["b"] and len(d) == 1
    assert expired == [("a", 1)]
    d["b"] = 3  # setting again restarts its time
    clock.now += 9
    assert d["b"] == 3
    clock.now += 1
    assert d.get("b") is None
    assert expired == [("a", 1), ("b", 3)]
    d.close()


def test_expire_evicts_every_due_key_and_runs_the_callback_outside_the_lock() -> None:
    clock = Clock()
    d: ExpiringDict
    seen: list[str] = []

    def on_expire(key: str, value: Any) -> None:
        seen.append(key)
        d[key + "!"] = value  # the dict is usable from its callback

    d = ExpiringDict(1, mode="lazy", on_expire=on_expire, clock=clock)
    for i in range(5):
        d[f"k{i}"] = i
    clock.now += 1
    assert d.expire() == 5
    assert sorted(seen) == [f"k{i}" for i in range(5)]
    assert sorted(d) == [f"k{i}!" for i in range(5)]
    d.close()


@pytest.mark.parametrize("mode", [ExpirationMode.SCHEDULER, ExpirationMode.TIMER])
def test_background_modes_evict_keys_nobody_touches(mode: ExpirationMode) -> None:
    gone = threading.Event()
    expired: list[tuple[str, Any]] = []

    def on_expire(key: str, value: Any) -> None:
        expired.append((key, value))
        gone.set()

    d = ExpiringDict(0.01, mode=mode, on_expire=on_expire)
    d["a"] = {"x": 1}
    assert gone.wait(10)
    assert expired == [("a", {"x": 1})]
    assert "a" not in d
    d.close()


def test_a_key_set_again_is_not_evicted_by_its_old_deadline() -> None:
    clock = Clock()
    d = ExpiringDict(10, mode="lazy", clock=clock)
    d["a"] = 1
    clock.now += 8
    d["a"] = 2
    clock.now += 3  # past the first deadline, before the second
    assert d.expire() == 0
    assert d["a"] == 2
    del d["a"]
    assert "a" not in d
    d.close()


def test_clear_keeps_the_dict_usable_and_close_stops_its_thread() -> None:
    d = ExpiringDict(60)
    d["a"] = 1
    d.clear()
    assert len(d) == 0
    d["b"] = 2
    assert d["b"] == 2
    thread = d._thread
    d.close()
    assert thread is not None and not thread.is_alive()


def test_bad_expiration_time_is_refused() -> None:
    for bad in (0, -1, "1", True):
        with pytest.raises(ValueError, match="expiration_time"):
            ExpiringDict(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ExpiringDict(1, mode="sometimes")


# -- warn_duplicate_table_instance --------------------------------------------------------------------------------

DUPLICATE = "Table 'x' already has an active NanaSQLite table\\(\\) instance for this database"


def test_a_second_live_table_instance_warns_with_16s_words(db_path: str) -> None:
    with nanasqlite.NanaSQLite(db_path) as db:
        db.table("data")  # the parent's own table is not a table() instance
        first = db.table("x")
        with pytest.warns(UserWarning, match=DUPLICATE) as record:
            second = db.table("x")
        assert record[0].filename == __file__  # it points at the caller
        first["k"] = 1
        assert second["k"] == 1


def test_no_warning_when_silenced_closed_or_gone(db_path: str) -> None:
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with nanasqlite.NanaSQLite(db_path) as db:
            first = db.table("x")
            db.table("x", warn_duplicate_table_instance=False)
            first.close()
            again = db.table("x")
            del again
            gc.collect()
            db.table("x")
            db.table("y")
        with nanasqlite.NanaSQLite(db_path, warn_duplicate_table_instance=False) as quiet:
            quiet.table("x")
            quiet.table("x")
        with nanasqlite.NanaSQLite(db_path) as one, nanasqlite.NanaSQLite(db_path) as two:
            kept = one.table("x")  # another connection has its own caches to keep coherent: no warning
            two.table("x")
            kept.close()


async def test_the_async_facade_warns_too(db_path: str) -> None:
    async with nanasqlite.AsyncNanaSQLite(db_path) as db:
        first = await db.table("x")
        with pytest.warns(UserWarning, match=DUPLICATE):
            await db.table("x")
        await first.aset("k", 1)
        quiet = nanasqlite.AsyncNanaSQLite(db_path, warn_duplicate_table_instance=False)
        async with quiet:
            await quiet.table("x")
            await quiet.table("x")
