"""Writing floats: both codecs write ``repr(float)`` byte for byte. The compiled one formats most floats
itself without the GIL (``_tape.pxi``'s easy cases, then ``_speedups/_numparse.h``'s shortest round trip)
and declines to David Gay's dtoa when it cannot prove its answer; these tests aim at the edges of both:
17-digit floats, powers of two and ten and their neighbours, the switch to exponent notation, subnormals,
the extremes."""

from __future__ import annotations

import math
import random
import struct
import sys
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def from_bits(u: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", u))[0])


def check(codec: ModuleType, x: float) -> None:
    assert codec.dumps(x) == repr(x), (x.hex(), repr(x))
    assert codec.dumps([x, -x]) == f"[{x!r},{-x!r}]"


def neighbours(x: float) -> list[float]:
    out = [x]
    lo = hi = x
    for _ in range(3):
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
        out += [lo, hi]
    return [v for v in out if math.isfinite(v)]


EDGES = [
    0.1, 0.2, 0.3, 1 / 3, 2 / 3, 0.1 + 0.2, 1e-3, 1e-4, 1e-5, 9.999999999999999e-5, 1e14, 1e15, 1e16, 1e17, 1e22,
    1e23, 1.5e16, 123456789012345680.0, 9007199254740993.0, 5e-324, 1e-323, 2.2250738585072014e-308,
    2.225073858507201e-308, 1.7976931348623157e308, 1e308, 1e-300, 1e300, 6.02214076e23, 6.62607015e-34,
    math.pi, math.e, 2.5e-5, 1234567.125, 0.000123456789, 12345678901234567890.0, 4.35, 0.3e-5, 1e-7,
]  # fmt: skip


@pytest.mark.parametrize("x", EDGES, ids=range(len(EDGES)))
def test_edges(codec: ModuleType, x: float) -> None:
    for v in neighbours(x):
        check(codec, v)


def test_powers_of_ten_and_two_and_their_neighbours(codec: ModuleType) -> None:
    for e in range(-323, 309):
        for v in neighbours(float(f"1e{e}")) + neighbours(float(f"5e{e}")) + neighbours(float(f"9.5e{e}")):
            check(codec, v)
    for e in range(-1074, 1024):
        for v in neighbours(math.ldexp(1.0, e)):
            check(codec, v)


def test_random_bit_patterns(codec: ModuleType) -> None:
    rng = random.Random(99)
    for _ in range(50_000):
        x = from_bits(rng.getrandbits(64))
        if math.isfinite(x):
            check(codec, x)


def test_short_decimals(codec: ModuleType) -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        digits = rng.randrange(1, 18)
        x = float(f"{rng.randrange(10**digits)}e{rng.randrange(-330, 310)}")
        if math.isfinite(x):
            check(codec, x)


def test_embeddings(codec: ModuleType) -> None:
    rng = random.Random(3)
    vec = [rng.gauss(0, 0.1) for _ in range(768)]
    assert codec.dumps(vec) == "[" + ",".join(map(repr, vec)) + "]"
    assert codec.encode_many([vec, vec[:5]]) == [codec.dumps(vec), codec.dumps(vec[:5])]


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_hypothesis_floats(codec: ModuleType, x: float) -> None:
    check(codec, x)


def test_repr_style() -> None:
    assert sys.float_repr_style == "short"
