"""The peer comparison: the workloads of docs/bench/targets.md on nanasqlite (compiled and pure), the 1.6.2 package,
sqlitedict, diskcache, aiosqlite, hand-written APSW + orjson and a plain dict, each in its own subprocess,
interleaved round-robin; medians, spreads and ratios vs 1.6.2 as a table, JSON, Markdown and a chart.

    python benchmarks/compare.py --quick --json out.json --markdown out.md --chart out.png

The same code as ``nanasqlite bench --compare`` (every option of that command works here); the runner lives
in the package (``nanasqlite.bench_runner``) so that installed wheels can run it too.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from nanasqlite.cli import main as cli_main
    except ImportError as exc:
        print(
            f"compare.py: error: nanasqlite is not importable ({exc}); pip install -e . first",
            file=sys.stderr,
        )
        return 1
    return cli_main(["bench", "--compare", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
