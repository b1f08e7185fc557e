"""The peer comparison: the workloads of docs/bench/targets.md on nanasqlite (compiled and pure), the 1.6.2 package,
sqlitedict, diskcache, aiosqlite, hand-written APSW + orjson and a plain dict, each in its own subprocess,
interleaved round-robin; medians, spreads and ratios vs 1.6.2 as a table, JSON, Markdown and a chart.

    python benchmarks/compare.py --quick --json out.json --markdown out.md --chart out.png
    python benchmarks/compare.py --matrix [--quick] --json matrix.json --markdown matrix.md

``--matrix`` runs the payload matrix instead (``nanasqlite.bench_matrix``): every payload shape (small
scalars, float-heavy records, deep documents, embeddings, long texts) on every path, as ratios vs 1.6.2.

The same code as ``nanasqlite bench --compare`` (every option of that command works here); the runner lives
in the package (``nanasqlite.bench_runner``) so that installed wheels can run it too.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from nanasqlite.bench_matrix import main as matrix_main
        from nanasqlite.cli import main as cli_main
    except ImportError as exc:
        print(
            f"compare.py: error: nanasqlite is not importable ({exc}); pip install -e . first",
            file=sys.stderr,
        )
        return 1
    if "--matrix" in args:
        args.remove("--matrix")
        return matrix_main(args)
    return cli_main(["bench", "--compare", *args])


if __name__ == "__main__":
    sys.exit(main())
