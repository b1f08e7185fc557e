"""Reading JSON: both codecs return exactly what the standard library's decoder returns, error for error.

The compiled ``loads`` parses nearly every text itself (``_speedups/_parse.pxi``) and hands the rest to the
standard library; these tests aim at the edges between the two: numbers at the 64-bit and length limits,
escapes and surrogates, invalid UTF-8, nesting around the depth limit, and the table of shared dict keys.
"""

from __future__ import annotations

import json
import sysconfig
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanasqlite import codec as pure

from .conftest import need_compiled_codec
from .test_codec import loads_outcome

_decode = json.JSONDecoder().decode


def stdlib_outcome(text: str | bytes) -> tuple[Any, ...]:
    return loads_outcome(lambda t: _decode(t if isinstance(t, str) else t.decode("utf-8")), text)


def nested(depth: int, open_: str, close: str, inner: str = "0") -> str:
    return open_ * depth + inner + close * depth


NUMBERS = [
    "0", "-0", "-0.0", "0.5", "1e5", "1E+5", "1e-5", "-1.5e-300", "1e400", "-1e400", "1e-400", "5e-324",
    "1.7976931348623157e308", "2.2250738585072014e-308", "123456789.123456789e-3",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "9999999999999999999", "-9999999999999999999",
    "10000000000000000000", "12345678901234567890123", "-12345678901234567890123",
    "0.1000000000000000055511151231257827021181583404541015625", "1" * 62 + ".5", "1" * 63 + ".5",
    "01", "-01", "1.", ".5", "-", "--1", "+1", "1e", "1e+", "1E-", "0x10", "1_000", "1.5.2", "1ee5",
    "\u0661", "-Infinity", "Infinity", "NaN", "-NaN", "[NaN, Infinity, -Infinity]",
]  # fmt: skip
STRINGS = [
    '""', '"a"', '"a\\u0000b"', '"\\ud83d\\ude00"', '"\\uD83D\\uDE00"', '"\\ud83d"', '"\\ude00"',
    '"\\ud83d\\u0041"', '"\\ud83dx"', '"\\ud83d\\ud83d\\ude00"', '"\\u12"', '"\\u12g4"', '"\\uZZZZ"',
    '"\\x41"', '"\\\'"', '"a\nb"', '"a\x1fb"', '"\x7f"', '"\\/"', '"\\b\\f\\n\\r\\t\\"\\\\"', '"é"', '"😀"',
    '"\u2028\u2029"', '"\x00"', '"abc', '"abc\\"', '"\\', '"\\u00e9"', '"\\u00E9x\\u4e2d\\u6587"',
    '"' + "x" * 300 + '\\n"', '"' + "é" * 100 + '\\t"', '"\\ud800"', '"a\udfffb"',
]  # fmt: skip
CONTAINERS = [
    "[]", "{}", "[ ]", "{ }", "[1,2]", "[1,2,]", "[,1]", "[1 2]", '{"a":1,}', '{"a" 1}', "{1:2}",
    '{"a":1 "b":2}', '{"a":1,"a":2}', '{"b":1,"a":2,"b":3}', '{"":0}', '{"a\\nb":1,"a\\nb":2}',
    '{"é":1,"\\u00e9":2}', '[{"id":1,"n":"a"},{"id":2,"n":"b"},{"n":"c","id":3}]',
    ' {"a" : [ 1 , { "b" : null } ] , "c" : true } ', '{"a":[1,{"b":false}],"c":[[[]]]}', "[", "{",
    '{"a"', '{"a":', '{"a":1', "[1", "[[1]", "[1]]", "{}}", '{"a":1}x', "[1]\x00",
    nested(255, "[", "]"), nested(256, "[", "]"), nested(257, "[", "]"), nested(1000, "[", "]"),
    nested(256, '{"k":', "}"), nested(257, '{"k":', "}"), "[" * 3000, nested(300, "[", "]", "[1,2,"),
]  # fmt: skip
LITERALS = [
    "true", "false", "null", "tru", "truex", "nulls", "nul", "True", "None", "[true,false,null]",
    " 1 ", "\t\n\r1\r\n", "\x0c1", "\u00a01", "1 2", "", " ", "\ufeff1", "'a'",
]  # fmt: skip
EDGES = NUMBERS + STRINGS + CONTAINERS + LITERALS


@pytest.mark.parametrize("text", EDGES, ids=range(len(EDGES)))
def test_loads_edges_as_the_standard_library(codec: Any, text: str) -> None:
    assert loads_outcome(codec.loads, text) == stdlib_outcome(text)
    data = text.encode("utf-8", "surrogatepass")
    assert loads_outcome(codec.loads, data) == stdlib_outcome(data)


@pytest.mark.parametrize(
    "data",
    [b'"\xff"', b'"\xed\xa0\x80"', b'"\xc3"', b'"a\xc3\xa9\xe4"', b'{"\xff":1}', b"[1,\xff]", b"\xef\xbb\xbf1"],
)
def test_loads_invalid_utf8_as_the_standard_library(codec: Any, data: bytes) -> None:
    assert loads_outcome(codec.loads, data) == stdlib_outcome(data)


def test_parsed_values_have_exact_types(codec: Any) -> None:
    value = codec.loads('{"i":-7,"u":18446744073709551615,"f":2.0,"e":1e2,"b":true,"n":null,"s":"x","l":[]}')
    assert [type(v) for v in value.values()] == [int, int, float, float, bool, type(None), str, list]
    assert all(type(k) is str for k in value)


def test_many_distinct_keys(codec: Any) -> None:
    # More keys than the compiled table of shared keys has slots, so slots are taken over again and again;
    # the same keys in another order, keys of the length limit and one over, non-ASCII and escaped keys.
    keys = [f"k{i}" for i in range(5000)] + ["x" * 64, "x" * 65, "é", "", "a\nb"]
    forward = json.dumps({k: i for i, k in enumerate(keys)})
    backward = json.dumps({k: i for i, k in enumerate(reversed(keys))}, ensure_ascii=False)
    for _ in range(2):
        for text in (forward, backward):
            got = codec.loads(text)
            assert list(got.items()) == list(_decode(text).items())
            assert all(type(k) is str for k in got)


def test_shared_keys_are_equal_strs_across_values(compiled: Any) -> None:
    rows = [compiled.loads(json.dumps({"name": i, "tags": [{"name": "x"}]})) for i in range(3)]
    assert [list(r) for r in rows] == [["name", "tags"]] * 3
    assert rows[0]["tags"][0] == {"name": "x"}
    # A key is one shared object, which is what saves the cache's memory; a free-threaded build has no table.
    shared = not sysconfig.get_config_var("Py_GIL_DISABLED")
    assert (len({id(next(iter(r))) for r in rows}) == 1) == shared


TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from('\\"\u2028\x00\x1f\x7f'), max_size=8)
NUMS = st.one_of(
    st.integers(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**19, -(10**19), 0.0, -0.0]),
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMS, TEXT),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(TEXT, c, max_size=4)),
    max_leaves=20,
)
DUMPED = st.tuples(VALUES, st.booleans(), st.sampled_from([None, 1])).map(
    lambda v: json.dumps(v[0], ensure_ascii=v[1], indent=v[2])
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A JSON text with a few characters inserted, deleted or replaced: mostly invalid, near-valid texts."""
    text = draw(DUMPED)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(list('[]{}",:\\u0123456789.eE+-ntrufalsNI \n\t\x00é😀')))
        if edit == "insert":
            text = text[:i] + char + text[i:]
        elif edit == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + char + text[i + 1 :]
    return text


PARITY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PARITY
@given(st.one_of(DUMPED, mutated()))
def test_parity_loads_of_generated_json(text: str) -> None:
    compiled = need_compiled_codec()
    assert loads_outcome(compiled.loads, text) == loads_outcome(pure.loads, text)
    data = text.encode("utf-8", "surrogatepass")
    assert loads_outcome(compiled.loads, data) == loads_outcome(pure.loads, data)


def test_compiled_loads_keeps_no_references_or_memory(compiled: Any) -> None:
    texts = [
        '{"name":"Usér","age":30,"tags":["a","b"],"score":1.5,"big":18446744073709551615}',
        '{"k\\u00e9y":"v\\ud83d\\ude00","n":[1e400,-0.0,"' + "x" * 300 + '"]}',
        '[NaN, 123456789012345678901234567890, "\\ud800"]',  # given up: the standard library decides
        '{"a":[1,2,}',  # an error
        nested(300, "[", "]"),
    ]

    def run(n: int) -> None:
        for _ in range(n):
            for text in texts:
                try:
                    compiled.loads(text)
                except ValueError:
                    pass

    run(200)  # fills the shared-key table and free lists
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        run(3000)
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start < 64 * 1024
