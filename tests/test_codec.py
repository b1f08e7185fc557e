"""The codec: the pure ``nanasqlite.codec`` and its compiled twin ``nanasqlite._speedups._codec``.

Behaviour tests run on every implementation; parity tests check that the two agree byte for byte and error for
error. ``NANASQLITE_NO_EXTENSIONS=1`` tests the pure module only; ``NANASQLITE_REQUIRE_EXTENSIONS=1`` turns a
compiled module that cannot be imported into failures instead of skips.
"""

from __future__ import annotations

import collections
import enum
import json
import math
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanasqlite import codec as pure

from .conftest import need_compiled_codec as _need_compiled


def encode_many_of(mod: ModuleType) -> Callable[[list[Any]], list[str]]:
    """The module's encode_many, or its definition for a module without one."""
    fn = getattr(mod, "encode_many", None)
    if fn is not None:
        return fn  # type: ignore[no-any-return]
    return lambda values: [mod.dumps(v) for v in values]


def stdlib_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def nest(depth: int, kind: str = "list") -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


DEEP_MESSAGE = "value nested deeper than 255 levels (or a reference cycle)"


class Color(enum.IntEnum):
    RED = 1
    BIG = 2**63


class Flag(enum.IntFlag):
    A = 1
    B = 2


class MyStr(str):
    pass


class MyInt(int):
    pass


class MyFloat(float):
    def __repr__(self) -> str:
        return "not a float repr"


class MyList(list):  # type: ignore[type-arg]
    pass


class MyDict(dict):  # type: ignore[type-arg]
    pass


Point = collections.namedtuple("Point", "x y")


# --------------------------------------------------------------------------------------------------------
# Behaviour, on every implementation


def test_constants(codec: ModuleType) -> None:
    assert codec.MAX_DEPTH == 255
    assert codec.INT_MIN == -(2**63)
    assert codec.INT_MAX == 2**64 - 1


ROUND_TRIPS = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**63),
    1.5,
    -0.0,
    "",
    "text",
    "é ü 日本 😀 \U0010ffff",
    "\x00 nul \x00",
    [],
    {},
    [1, "a", None, True, 2.5, [], {}],
    {"a": {"b": {"c": [1, 2, {"d": None}]}}, "": 0, "é": "ü"},
    {"name": "User 123", "age": 30, "tags": ["a", "b"], "score": 1.5},
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_round_trip(codec: ModuleType, value: Any) -> None:
    text = codec.dumps(value)
    assert isinstance(text, str)
    assert text == stdlib_dumps(value)
    back = codec.loads(text)
    assert back == value
    assert repr(back) == repr(value)
    assert codec.loads(text.encode("utf-8")) == value


def test_tuples_come_back_as_lists(codec: ModuleType) -> None:
    assert codec.dumps((1, (2, ()), [3])) == "[1,[2,[]],[3]]"
    assert codec.loads(codec.dumps({"t": (1, "a")})) == {"t": [1, "a"]}


def test_compact_and_insertion_order(codec: ModuleType) -> None:
    assert codec.dumps({"b": 1, "a": [1, 2], "c": {}}) == '{"b":1,"a":[1,2],"c":{}}'


def test_documented_example(codec: ModuleType) -> None:
    assert codec.dumps({"name": "Nana", "tags": ("a", "é"), "score": 1.5}) == (
        '{"name":"Nana","tags":["a","é"],"score":1.5}'
    )


def test_empty_containers(codec: ModuleType) -> None:
    assert codec.dumps([]) == "[]"
    assert codec.dumps({}) == "{}"
    assert codec.dumps(()) == "[]"
    assert codec.dumps([[], {}, ()]) == "[[],{},[]]"
    assert codec.dumps({"a": [], "b": {}}) == '{"a":[],"b":{}}'
    assert codec.dumps("") == '""'
    assert codec.dumps({"": ""}) == '{"":""}'


def test_escapes(codec: ModuleType) -> None:
    text = '"\\\n\r\t\b\f\x00\x01\x0b\x1f\x7f\u2028\u2029/é'
    expected = '"\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u0001\\u000b\\u001f\x7f\u2028\u2029/é"'
    assert codec.dumps(text) == expected
    assert codec.dumps({text: text}) == "{" + expected + ":" + expected + "}"
    assert codec.loads(codec.dumps(text)) == text


def test_every_control_character(codec: ModuleType) -> None:
    text = "".join(map(chr, range(0x40)))
    assert codec.dumps(text) == json.dumps(text, ensure_ascii=False)
    assert codec.dumps([text, {text: text}]) == stdlib_dumps([text, {text: text}])


def test_nul_and_astral(codec: ModuleType) -> None:
    assert codec.dumps("\x00") == '"\\u0000"'
    assert codec.dumps("😀\U0010ffff\U00010000") == '"😀\U0010ffff\U00010000"'
    assert codec.dumps({"😀": "\x00"}) == '{"😀":"\\u0000"}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (1.0, "1.0"),
        (-3.0, "-3.0"),
        (2.0**53, "9007199254740992.0"),
        (2.0**53 + 2, "9007199254740994.0"),
        (-(2.0**53), "-9007199254740992.0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1.7976931348623157e308, "-1.7976931348623157e+308"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (123456789.125, "123456789.125"),
    ],
)
def test_floats(codec: ModuleType, value: float, text: str) -> None:
    assert codec.dumps(value) == text
    assert codec.dumps([value]) == f"[{text}]"
    back = codec.loads(text)
    assert back == value and math.copysign(1, back) == math.copysign(1, value)


def _float_sample() -> list[float]:
    import random
    import struct

    rng = random.Random(20240607)
    values: list[float] = []
    for _ in range(3000):
        values.append(round(rng.random() * 10 ** rng.randint(0, 6), rng.randint(0, 17)) * rng.choice((1, -1)))
        values.append(rng.uniform(-1e6, 1e6))
        values.append(float(f"{rng.randint(0, 99999)}.{rng.randint(0, 99999):05d}"))
        values.append(rng.randint(0, 10**15) / 10 ** rng.randint(0, 15))
        values.append(float(f"{rng.randint(1, 10 ** rng.randint(1, 16))}e{rng.randint(-8, 17)}"))
        values.append(rng.randint(1, 2**53) / 2 ** rng.randint(1, 60))
        bits = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if math.isfinite(bits):
            values.append(bits)
    for base in (1e-3, 1e-4, 0.1, 1e14, 2.0**50 / 10, 2.0**53, 1e15, 1e16):
        up = down = base
        for _ in range(50):
            values += [up, -down]
            up, down = math.nextafter(up, math.inf), math.nextafter(down, 0)
    return values


def test_floats_are_repr(codec: ModuleType) -> None:
    values = _float_sample()
    assert codec.dumps(values) == "[" + ",".join(map(repr, values)) + "]"


def test_ints(codec: ModuleType) -> None:
    assert codec.dumps(2**64 - 1) == "18446744073709551615"
    assert codec.dumps(2**63) == "9223372036854775808"
    assert codec.dumps(2**63 - 1) == "9223372036854775807"
    assert codec.dumps(-(2**63)) == "-9223372036854775808"
    assert codec.dumps([0, -1, 10, -10]) == "[0,-1,10,-10]"


def test_subclasses_are_written_as_their_base(codec: ModuleType) -> None:
    assert codec.dumps(Color.RED) == "1"
    assert codec.dumps(Color.BIG) == "9223372036854775808"
    assert codec.dumps({"c": Color.RED, "f": Flag.A | Flag.B}) == '{"c":1,"f":3}'
    assert codec.dumps(MyStr('a"b')) == '"a\\"b"'
    assert codec.dumps({MyStr("k"): MyStr("v")}) == '{"k":"v"}'
    assert codec.dumps(MyInt(-5)) == "-5"
    assert codec.dumps(MyFloat(2.5)) == "2.5"
    assert codec.dumps(MyFloat(3)) == "3.0"
    assert codec.dumps(MyList([1, MyList()])) == "[1,[]]"
    assert codec.dumps(MyDict(a=MyDict())) == '{"a":{}}'
    assert codec.dumps(Point(1, "y")) == '[1,"y"]'
    assert codec.dumps(True) == "true"
    assert codec.dumps([False, True]) == "[false,true]"


def test_ordered_dict_keeps_its_own_order(codec: ModuleType) -> None:
    od = collections.OrderedDict(a=1, b=2, c=3)
    od.move_to_end("a")
    assert codec.dumps(od) == '{"b":2,"c":3,"a":1}'
    assert codec.dumps(collections.OrderedDict()) == "{}"


REJECTED = [
    ({1: 2}, TypeError, "dict keys must be str, not int"),
    ({None: 2}, TypeError, "dict keys must be str, not NoneType"),
    ({("a",): 2}, TypeError, "dict keys must be str, not tuple"),
    ({"a": {b"k": 1}}, TypeError, "dict keys must be str, not bytes"),
    (2**64, ValueError, "int out of the 64-bit range"),
    (-(2**63) - 1, ValueError, "int out of the 64-bit range"),
    ([10**100], ValueError, "int out of the 64-bit range"),
    (float("nan"), ValueError, "NaN and Infinity are not valid JSON"),
    (float("inf"), ValueError, "NaN and Infinity are not valid JSON"),
    ({"a": float("-inf")}, ValueError, "NaN and Infinity are not valid JSON"),
    ("\ud800", ValueError, "strings must not contain lone surrogates"),
    ({"\udfff": 1}, ValueError, "strings must not contain lone surrogates"),
    (["ok", "a\udc80b"], ValueError, "strings must not contain lone surrogates"),
    (b"bytes", TypeError, "values of type 'bytes' cannot be stored as JSON"),
    ({1, 2}, TypeError, "values of type 'set' cannot be stored as JSON"),
    ([object()], TypeError, "values of type 'object' cannot be stored as JSON"),
    ({"a": 1j}, TypeError, "values of type 'complex' cannot be stored as JSON"),
    ({"a": [bytearray()]}, TypeError, "values of type 'bytearray' cannot be stored as JSON"),
    (nest(256), ValueError, DEEP_MESSAGE),
    (nest(256, "dict"), ValueError, DEEP_MESSAGE),
    (Color, TypeError, f"values of type {type(Color).__name__!r} cannot be stored as JSON"),
    # several problems: the first one of the pure module's depth-first check wins, surrogates come last
    (["\ud800", object()], TypeError, "values of type 'object' cannot be stored as JSON"),
    ({"\ud800": float("nan")}, ValueError, "NaN and Infinity are not valid JSON"),
    ([object(), 2**64], TypeError, "values of type 'object' cannot be stored as JSON"),
    ([2**64, object()], ValueError, "int out of the 64-bit range"),
    ({"a": 1, 2: object()}, TypeError, "dict keys must be str, not int"),
    ([nest(255), "\ud800"], ValueError, DEEP_MESSAGE),
]


@pytest.mark.parametrize(("value", "exc", "message"), REJECTED, ids=range(len(REJECTED)))
def test_rejected(codec: ModuleType, value: Any, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        codec.dumps(value)
    assert type(info.value) is exc
    assert str(info.value) == message
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        encode_many_of(codec)([1, value, 2])


def test_datetime_rejected(codec: ModuleType) -> None:
    import datetime
    import decimal

    with pytest.raises(TypeError, match="^values of type 'datetime' cannot be stored as JSON$"):
        codec.dumps({"at": datetime.datetime(2024, 1, 1)})
    with pytest.raises(TypeError, match="^values of type 'Decimal' cannot be stored as JSON$"):
        codec.dumps([decimal.Decimal(1)])


def test_depth_limit(codec: ModuleType) -> None:
    assert codec.dumps(nest(255)) == "[" * 255 + "0" + "]" * 255
    assert codec.dumps(nest(255, "dict")) == '{"k":' * 255 + "0" + "}" * 255
    assert codec.loads(codec.dumps(nest(255))) == nest(255)
    mixed: Any = 0
    for i in range(255):
        mixed = (mixed,) if i % 3 == 0 else [mixed] if i % 3 == 1 else {"k": mixed}
    codec.dumps(mixed)
    for bad in (nest(256), nest(256, "dict"), [mixed], {"k": mixed}, nest(1000)):
        with pytest.raises(ValueError, match="nested deeper than 255 levels"):
            codec.dumps(bad)


def test_cycles_rejected(codec: ModuleType) -> None:
    a: list[Any] = [1]
    a.append(a)
    d: dict[str, Any] = {}
    d["self"] = d
    b: list[Any] = []
    c: dict[str, Any] = {"b": b}
    b.append(c)
    for value in (a, d, b, [a], {"x": d}):
        with pytest.raises(ValueError) as info:
            codec.dumps(value)
        assert str(info.value) == DEEP_MESSAGE


def test_huge_strings(codec: ModuleType) -> None:
    big = "a" * 10_000_000
    assert codec.dumps(big) == '"' + big + '"'
    wide = "é😀" * 2_500_000
    assert codec.dumps([wide]) == '["' + wide + '"]'
    escaped = "\n\x01" * 1_000_000
    assert codec.dumps(escaped) == '"' + "\\n\\u0001" * 1_000_000 + '"'
    mixed = ("x" * 999 + '"') * 10_000
    assert codec.dumps({mixed: mixed}) == stdlib_dumps({mixed: mixed})


@pytest.mark.parametrize("char", ["a", "é", "😀", "\n"])
def test_strings_around_the_copy_limit(codec: ModuleType, char: str) -> None:
    # the compiled tape copies strings of up to 256 UTF-8 bytes and references longer ones; keys and values
    # on both sides of that limit, side by side, render exactly as json does
    width = len(char.encode())
    strings = [char * (n // width) + "x" * (n % width) for n in range(250, 263)]
    value = {s: [s, {"k": s}] for s in strings}
    assert codec.dumps(value) == stdlib_dumps(value)
    assert encode_many_of(codec)(strings) == [stdlib_dumps(s) for s in strings]


def test_encode_many(codec: ModuleType) -> None:
    encode_many = encode_many_of(codec)
    values = [{"name": f"User {i}", "age": i, "tags": ["a", "b"], "score": i / 7} for i in range(50_000)]
    values += [None, [], {}, "", 1e16, -0.0, "é\n", 2**64 - 1, (1, 2)]
    texts = encode_many(values)
    assert texts == [codec.dumps(v) for v in values]
    assert encode_many([]) == []
    a, b = "a" * 100_000, "b" * 100_000
    assert encode_many([a, b]) == ['"' + a + '"', '"' + b + '"']


def test_encode_many_first_bad_value_raises(codec: ModuleType) -> None:
    encode_many = encode_many_of(codec)
    with pytest.raises(TypeError, match="^values of type 'object' cannot be stored as JSON$"):
        encode_many([1, "x" * 1000, object(), 2**64])
    with pytest.raises(ValueError, match="^int out of the 64-bit range$"):
        encode_many([1, 2**64, object()])
    with pytest.raises(ValueError, match="^strings must not contain lone surrogates$"):
        encode_many([["ok"], ["\ud800"], [object()]])


def test_compiled_encode_many_accepts_iterables(compiled: ModuleType) -> None:
    assert compiled.encode_many({"a": i} for i in range(3)) == ['{"a":0}', '{"a":1}', '{"a":2}']
    assert compiled.encode_many((1, "b")) == ["1", '"b"']


LOADS_16 = [
    ('{"a": 1, "b": [1.5, NaN, Infinity, -Infinity]}', {"a": 1, "b": [1.5, math.nan, math.inf, -math.inf]}),
    ('{"a":1,"b":[1.5,NaN,Infinity,-Infinity]}', {"a": 1, "b": [1.5, math.nan, math.inf, -math.inf]}),
    ('  {"a" : [ 1 , 2 ] }\n', {"a": [1, 2]}),
    ('"\\u00e9\\ud83d\\ude00"', "é😀"),
    ('"\\ud800"', "\ud800"),
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("-0.0", -0.0),
    ("1E400", math.inf),
    ("[]", []),
    ("null", None),
]


@pytest.mark.parametrize(("text", "expected"), LOADS_16, ids=range(len(LOADS_16)))
def test_loads_package_16_styles(codec: ModuleType, text: str, expected: Any) -> None:
    for t in (text, text.encode("utf-8")):
        assert repr(codec.loads(t)) == repr(expected)


BAD_JSON = ["", " ", "[1] x", "[1,]", "{'a': 1}", "nul", "[", '"abc', "1 2", "\ufeff1", "[1]\x00", "[1, 2"]


@pytest.mark.parametrize("text", BAD_JSON)
def test_loads_rejects(codec: ModuleType, text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        codec.loads(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.JSONDecoder().decode(text)
    assert str(info.value) == str(expected.value)
    assert info.value.pos == expected.value.pos


def test_loads_rejects_invalid_utf8(codec: ModuleType) -> None:
    with pytest.raises(UnicodeDecodeError):
        codec.loads(b'"\xff"')


# --------------------------------------------------------------------------------------------------------
# Parity between the implementations


def outcome(fn: Callable[[Any], Any], value: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn(value))
    except Exception as exc:  # noqa: BLE001 - any difference, of any exception, is a failure
        return ("error", type(exc), str(exc))


def loads_outcome(fn: Callable[[Any], Any], text: Any) -> tuple[Any, ...]:
    try:
        return ("ok", repr(fn(text)))
    except json.JSONDecodeError as exc:
        return ("error", type(exc), str(exc), exc.pos)
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc), str(exc))


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
TEXT = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(max_codepoint=0x7F), max_size=12),
    st.text(
        st.one_of(st.characters(max_codepoint=0x25), SURROGATES, st.sampled_from('\\"\u2028é😀')),
        max_size=8,
    ),
    st.sampled_from(["", "\x00", "\x7f", "\ud800", "a\udfffb", '"', "\\"]),
)
INTS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**80, -(2**80)]),
    st.integers(),
)
ODD = st.sampled_from(
    [b"b", object(), frozenset(), 1j, Color.RED, Color.BIG, Flag.B]
    + [MyStr("s\n"), MyInt(7), MyInt(2**64), MyFloat(0.5), MyFloat("nan")]
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(), TEXT, ODD)
KEYS = st.one_of(TEXT, TEXT, TEXT, st.integers(-3, 3), st.none(), st.booleans(), st.floats(), st.just(("t",)))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(TEXT, children, max_size=5),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(TEXT, children, max_size=4).map(collections.OrderedDict),
        st.lists(children, max_size=3).map(MyList),
    )


VALUES = st.recursive(SCALARS, _containers, max_leaves=25)

PARITY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PARITY
@given(VALUES)
def test_parity_dumps(value: Any) -> None:
    compiled = _need_compiled()
    assert outcome(compiled.dumps, value) == outcome(pure.dumps, value)


@PARITY
@given(st.lists(VALUES, max_size=8))
def test_parity_encode_many(values: list[Any]) -> None:
    compiled = _need_compiled()
    expected: tuple[Any, ...] = ("ok", [])
    for v in values:
        one = outcome(pure.dumps, v)
        if one[0] == "error":
            expected = one
            break
        expected[1].append(one[1])
    assert outcome(compiled.encode_many, values) == expected


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=4), c, max_size=4)),
    max_leaves=15,
)
JSON_TEXTS = JSON_VALUES.flatmap(
    lambda v: st.sampled_from([json.dumps(v), json.dumps(v, indent=1), json.dumps(v, separators=(",", ":"))])
).flatmap(lambda text: st.sampled_from([text, " " + text, text + "\n", text + "x", text[:-1]]))


@PARITY
@given(
    st.one_of(
        st.text(max_size=20),
        st.text(st.sampled_from('[]{}",:0123456789.eE-+ntrufalsNIiy\\ \n\t'), max_size=20),
        JSON_TEXTS,
    )
)
def test_parity_loads(text: str) -> None:
    compiled = _need_compiled()
    assert loads_outcome(compiled.loads, text) == loads_outcome(pure.loads, text)
    data = text.encode("utf-8", "surrogatepass")
    assert loads_outcome(compiled.loads, data) == loads_outcome(pure.loads, data)


@PARITY
@given(st.binary(max_size=96))
def test_parity_loads_of_random_bytes(data: bytes) -> None:
    """Fuzz: arbitrary bytes (invalid UTF-8 included) decode or fail exactly as in the pure codec."""
    compiled = _need_compiled()
    assert loads_outcome(compiled.loads, data) == loads_outcome(pure.loads, data)


class ItemsDict(dict):  # type: ignore[type-arg]
    """A dict whose items() disagrees with its contents."""

    def items(self):  # type: ignore[override]
        return [("x", 1), ("y", [2.5, "\n"])]


class BadItemsDict(dict):  # type: ignore[type-arg]
    def items(self):  # type: ignore[override]
        return [["x", 1]]


class CheckedItemsDict(dict):  # type: ignore[type-arg]
    def items(self):  # type: ignore[override]
        return [("x", object())]


class SurrogateItemsDict(dict):  # type: ignore[type-arg]
    def items(self):  # type: ignore[override]
        return [("\ud800", MyFloat("inf"))]


class IterList(list):  # type: ignore[type-arg]
    def __iter__(self):  # type: ignore[override]
        return iter([1, "two"])


class LyingInt(int):
    def __int__(self) -> int:
        return 5


class BigIntInt(int):
    def __int__(self) -> int:
        return 2**70


class RaisingInt(int):
    def __int__(self) -> int:
        raise RuntimeError("no int for you")


class LyingFloat(float):
    def __float__(self) -> float:
        return 1.0


class NanFloat(float):
    def __float__(self) -> float:
        return math.nan


ODD_SUBCLASSES = [
    ItemsDict(),
    ItemsDict(a=1),
    [ItemsDict(), ItemsDict(z=0)],
    BadItemsDict(),
    BadItemsDict(a=1),
    [BadItemsDict(a=1), object()],
    [BadItemsDict(a=1), "\ud800"],
    CheckedItemsDict(),
    CheckedItemsDict(a=1),
    SurrogateItemsDict(),
    SurrogateItemsDict(a=1),
    IterList(),
    IterList([5, 6, 7]),
    LyingInt(2**70),
    LyingInt(-(2**70)),
    [LyingInt(3), 2],
    BigIntInt(1),
    RaisingInt(1),
    LyingFloat("nan"),
    [LyingFloat("inf"), "\ud800"],
    [LyingFloat("inf"), object()],
    [LyingFloat("inf"), LyingFloat("nan")],
    NanFloat(1.0),
    MyFloat("-inf"),
    {"k": MyFloat(1e300)},
]


@pytest.mark.parametrize("value", ODD_SUBCLASSES, ids=range(len(ODD_SUBCLASSES)))
def test_parity_odd_subclasses(value: Any) -> None:
    compiled = _need_compiled()
    assert outcome(compiled.dumps, value) == outcome(pure.dumps, value)
    expected = outcome(lambda v: [pure.dumps(x) for x in v], [0, value])
    assert outcome(compiled.encode_many, [0, value]) == expected


# --------------------------------------------------------------------------------------------------------
# The compiled module keeps no references and no memory


def test_compiled_releases_references(compiled: ModuleType) -> None:
    # short strings are copied by the compiled tape, long ones (over 256 UTF-8 bytes) referenced: both kinds
    ascii_s = "".join(["refcount probe ", str(id(compiled))])
    wide_s = "".join(["réfcount probé ", str(id(compiled))])
    bad_s = "".join(["\ud800", str(id(compiled))])
    long_s = "".join(["l" * 300, str(id(compiled))])
    long_wide = "".join(["é" * 200, str(id(compiled))])
    strings = (ascii_s, wide_s, bad_s, long_s, long_wide)
    ok = [ascii_s, {ascii_s: wide_s, wide_s: [ascii_s, 1.5, 2**64 - 1], long_s: long_wide}, (wide_s, long_s)]
    failing = [
        [ascii_s, wide_s, long_s, object()],
        {ascii_s: wide_s, long_wide: long_s, wide_s: 2**64},
        [ascii_s, {wide_s: bad_s}],
        [long_s, {long_wide: bad_s}],
        [wide_s, long_wide, nest(300)],
        {ascii_s: [wide_s, {1: 2}]},
        [ascii_s, LyingFloat("nan"), wide_s],
        [ascii_s, BadItemsDict(a=1), wide_s],
        [long_s, BadItemsDict(a=long_wide), long_wide],
    ]
    before = [sys.getrefcount(s) for s in strings]
    for _ in range(2000):
        compiled.dumps(ok)
        compiled.encode_many([ok, ok, ascii_s])
        for value in failing:
            with pytest.raises((TypeError, ValueError)):
                compiled.dumps(value)
            with pytest.raises((TypeError, ValueError)):
                compiled.encode_many([ok, value, ok])
    for _ in range(3):  # several of encode_many's chunks, then a failure in a later chunk
        assert len(compiled.encode_many([ok] * 1500)) == 1500
        for value in failing:
            with pytest.raises((TypeError, ValueError)):
                compiled.encode_many([ok] * 1500 + [value])
    assert [sys.getrefcount(s) for s in strings] == before


def test_compiled_does_not_leak_memory(compiled: ModuleType) -> None:
    import tracemalloc

    value = {"name": "Usér 123", "age": 30, "tags": ["a", "b"], "score": 1.5, "big": 2**64 - 1}
    bad = [value, "\ud800", object()]
    for _ in range(200):  # warm up caches and free lists
        compiled.dumps(value)
        compiled.encode_many([value, value])
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(5000):
            compiled.dumps(value)
            compiled.encode_many([value, value])
            try:
                compiled.dumps(bad)
            except TypeError:
                pass
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start < 64 * 1024
