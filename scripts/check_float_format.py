"""Bulk check of the compiled float writer against repr(): N random doubles, byte for byte.

    python scripts/check_float_format.py 10000000

Doubles (half each): every bit pattern equally likely (so every exponent, subnormals included), and
"everyday" floats (Gaussian embeddings, uniform values, prices with 2 decimals, values scaled by 10**-30 to
10**30). Each chunk is one list written by the compiled ``dumps``; the run fails on the first difference.
"""

from __future__ import annotations

import math
import random
import struct
import sys
import time

from nanasqlite._speedups._codec import dumps


def doubles(rng: random.Random, n: int) -> list[float]:
    out: list[float] = []
    while len(out) < n:
        if len(out) % 2 == 0:
            x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if not math.isfinite(x):
                continue
        else:
            kind = rng.randrange(4)
            if kind == 0:
                x = rng.gauss(0.0, 0.1)
            elif kind == 1:
                x = rng.uniform(-180.0, 180.0)
            elif kind == 2:
                x = round(rng.uniform(0.0, 10_000.0), 2)
            else:
                x = rng.random() * 10.0 ** rng.randrange(-30, 31)
        out.append(x)
    return out


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    rng = random.Random(seed)
    done = 0
    t0 = time.perf_counter()
    while done < total:
        batch = doubles(rng, min(100_000, total - done))
        got = dumps(batch)
        want = "[" + ",".join(map(repr, batch)) + "]"
        if got != want:
            for x in batch:
                if dumps(x) != repr(x):
                    print(f"MISMATCH {x.hex()}: dumps gives {dumps(x)}, repr gives {x!r}")
                    return 1
            print("MISMATCH in a list but not alone")
            return 1
        done += len(batch)
    print(f"{done:,} doubles, all written as repr() writes them (seed {seed}, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
