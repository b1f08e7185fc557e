"""Bulk check of the compiled parser's float reader against float(): N random float texts, bit for bit.

    python scripts/check_float_parse.py 10000000

Texts (a third each): repr of random doubles (every bit pattern equally likely, so every exponent), random
doubles printed with 1 to 21 significant digits, and random decimal strings of up to 22 digits with
exponents from -350 to 330 (overflow, underflow, subnormals and halfway cases among them). Each chunk is one
JSON array read by the compiled ``loads``; the run fails on the first difference.
"""

from __future__ import annotations

import random
import struct
import sys
import time

from nanasqlite._speedups._codec import loads


def texts(rng: random.Random, n: int) -> list[str]:
    out = []
    getrandbits = rng.getrandbits
    while len(out) < n:
        x = struct.unpack("<d", struct.pack("<Q", getrandbits(64)))[0]
        if x != x or x in (float("inf"), float("-inf")):
            continue
        kind = len(out) % 3
        if kind == 0:
            out.append(repr(x))
        elif kind == 1:
            out.append(f"{x:.{rng.randrange(0, 21)}e}")
        else:
            digits = str(getrandbits(rng.randrange(1, 74)))
            cut = rng.randrange(0, len(digits) + 1)
            whole, frac = digits[:cut] or "0", digits[cut:] or "0"
            whole = whole.lstrip("0") or "0"
            out.append(f"{'-' if getrandbits(1) else ''}{whole}.{frac}e{rng.randrange(-350, 331)}")
    return out


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    rng = random.Random(seed)
    chunk = 100_000
    done = 0
    t0 = time.perf_counter()
    while done < total:
        batch = texts(rng, min(chunk, total - done))
        got = loads("[" + ",".join(batch) + "]")
        for text, value in zip(batch, got, strict=True):
            want = float(text)
            if struct.pack("<d", value) != struct.pack("<d", want):
                print(f"MISMATCH {text!r}: got {value!r}, float() gives {want!r}")
                return 1
        done += len(batch)
    print(f"{done:,} texts, all bit-identical to float() (seed {seed}, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
