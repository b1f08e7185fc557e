"""Reading floats: the compiled parser's own float reader (``_speedups/_numparse.h``) gives the very double
that ``float(text)`` gives, bit for bit, or hands the text to ``float``'s reader. Aimed at its edges: 17-20
significant digits, exact halfway cases, the Clinger fast path's limits, subnormals, overflow, long exponents,
leading and trailing zeros. Both codecs are tested (the pure one reads with the standard library)."""

from __future__ import annotations

import json
import random
import struct
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(codec: ModuleType, text: str) -> None:
    got = codec.loads(text)
    want = json.loads(text)
    assert type(got) is type(want), text
    if isinstance(want, list):
        assert [bits(g) for g in got] == [bits(w) for w in want], text
    else:
        assert bits(got) == bits(want), text


EDGES = [
    "0.0", "-0.0", "0e0", "-0e5", "0.000", "1.0", "-1.0", "0.1", "0.2", "0.3", "1e22", "1e23", "-1e22",
    "9007199254740992.0", "9007199254740993.0", "9007199254740993e0", "9007199254740995e-1",
    "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309",
    "2.2250738585072014e-308", "2.2250738585072011e-308", "2.225073858507201e-308", "4.9e-324", "5e-324",
    "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-320", "1e-400", "-1e-400", "1e-342", "1e-343",
    "1.5e-45", "3.4028235e38", "0.1e1", "100000000000000000000e-20", "12345678901234567890e-5",
    "1234567890123456789e-5", "0.12345678901234567", "0.123456789012345678", "0.1234567890123456789",
    "0.00000000000000000000000000001", "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203124",
    "1.00000000000000011102230246251565404236316680908203126",
    "9007199254740993", "4503599627370497.5", "4503599627370496.5", "1e0", "1E+0", "1e-0", "1e00000000000",
    "1e-00000000000000000000000001", "1e99999", "1e-99999", "123.456e-789", "0.5e-307", "7.2057594037927933e16",
    "-1.2345678901234567e-100", "6.02214076e23", "6.62607015e-34", "2.718281828459045", "3.141592653589793",
]  # fmt: skip


@pytest.mark.parametrize("text", EDGES)
def test_edges(codec: ModuleType, text: str) -> None:
    same(codec, text)


def test_every_power_of_ten(codec: ModuleType) -> None:
    for e in range(-345, 311):
        for m in ("1", "9", "5", "123456789", "99999999999999999", "1234567890123456789"):
            same(codec, f"{m}e{e}")


def test_halfway_between_doubles(codec: ModuleType) -> None:
    # Exactly halfway between two neighbouring doubles, and a hair either side: round half to even.
    from decimal import Decimal, getcontext

    getcontext().prec = 800
    rng = random.Random(12)
    for _ in range(1500):
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(63)))[0]
        if x != x or x in (float("inf"),) or x == 0:
            continue
        y = float.fromhex(x.hex())  # x itself
        import math

        nxt = math.nextafter(y, float("inf"))
        if nxt == float("inf"):
            continue
        mid = (Decimal(y) + Decimal(nxt)) / 2
        for text in (f"{mid:e}", f"{mid.next_plus():e}", f"{mid.next_minus():e}"):
            same(codec, text)
        for digits in (17, 18, 19, 20):
            same(codec, f"{Decimal(mid):.{digits - 1}e}")


def test_random_texts(codec: ModuleType) -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if x != x or abs(x) == float("inf"):
            continue
        digits = rng.randrange(1, 22)
        same(codec, f"{x:.{digits}e}")
        same(codec, repr(x))
        same(codec, f"{rng.getrandbits(64)}.{rng.getrandbits(20)}e{rng.randrange(-330, 310)}")


def test_embedding_text(codec: ModuleType) -> None:
    rng = random.Random(3)
    same(codec, json.dumps([rng.gauss(0, 0.1) for _ in range(768)]))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_repr_round_trips(codec: ModuleType, x: float) -> None:
    same(codec, repr(x))
    assert bits(codec.loads(repr(x))) == bits(x)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.booleans(),
    st.text("0123456789", min_size=1, max_size=25),
    st.text("0123456789", min_size=1, max_size=25),
    st.integers(-400, 400),
)
def test_arbitrary_decimal_texts(codec: ModuleType, neg: bool, whole: str, frac: str, exp: int) -> None:
    whole = whole.lstrip("0") or "0"
    same(codec, f"{'-' if neg else ''}{whole}.{frac}e{exp}")
