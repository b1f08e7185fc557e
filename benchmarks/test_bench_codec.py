"""The codec on one stored row: our compiled and pure ``loads``/``dumps`` beside the standard library's and
orjson's, in one run (``pytest benchmarks/test_bench_codec.py --benchmark-group-by=group``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from nanasqlite import codec as pure
from nanasqlite._native import codec as native

from .conftest import value

ROW = value(123)
TEXT = pure.dumps(ROW)


def _orjson() -> Any:
    return pytest.importorskip("orjson", reason="orjson is a peer of the comparison only")


LOADS: dict[str, Callable[[], Callable[[str], Any]]] = {
    "nanasqlite": lambda: native.loads,
    "nanasqlite-pure": lambda: pure.loads,
    "json": lambda: json.JSONDecoder().decode,
    "orjson": lambda: _orjson().loads,
}
DUMPS: dict[str, Callable[[], Callable[[Any], Any]]] = {
    "nanasqlite": lambda: native.dumps,
    "nanasqlite-pure": lambda: pure.dumps,
    "json": lambda: json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode,
    "orjson": lambda: _orjson().dumps,
}


@pytest.mark.parametrize("peer", list(LOADS))
def test_loads_row(benchmark: Any, peer: str) -> None:
    benchmark.group = "loads of one row"
    assert benchmark(LOADS[peer](), TEXT) == ROW


@pytest.mark.parametrize("peer", list(DUMPS))
def test_dumps_row(benchmark: Any, peer: str) -> None:
    benchmark.group = "dumps of one row"
    text = benchmark(DUMPS[peer](), ROW)
    assert json.loads(text) == ROW
