"""How benchmark reports read: the spread explained, noise marked, the comparison one command away, the targets
in the repository's docs, and a missing peer naming what installs it. Nothing here judges speed: the reports
are built from fixed numbers, or from runs so small that only their shape is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from nanasqlite import bench, bench_runner

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / bench_runner.TARGETS_DOC


def result(median: float, q1: float, q3: float) -> dict[str, Any]:
    return {"status": "ok", "median": median, "q1": q1, "q3": q3, "min": q1, "max": q3, "samples": [q1, q3]}


MACHINE = {
    "cpu": "cpu",
    "cores": 2,
    "usable_cores": 2,
    "os": "os",
    "python": "CPython 3",
    "sqlite": "3",
    "apsw": "3",
    "date": "today",
}


def own_report(native: bool) -> dict[str, Any]:
    steady, noisy = bench.BY_NAME["set"], bench.BY_NAME["get_cold"]
    rows = [
        {"name": w.name, "title": w.title, "unit": "items/s", "items": 100, "calls": 100, "results": {"nanasqlite": r}}
        for w, r in ((steady, result(1000.0, 950.0, 1050.0)), (noisy, result(1000.0, 700.0, 1300.0)))
    ]
    versions = {"nanasqlite": "1.7.0", "native": str(native)}
    return {
        "kind": "own",
        "machine": MACHINE,
        "quick": True,
        "reps": 5,
        "file": None,
        "peers": {"nanasqlite": {"label": "nanasqlite", "available": True, "versions": versions}},
        "workloads": rows,
    }


def test_our_own_table_explains_the_spread_marks_noise_and_says_how_to_compare() -> None:
    text = bench_runner.render_text(own_report(native=True))
    lines = text.splitlines()
    steady = next(line for line in lines if line.startswith("single autocommit set"))
    noisy = next(line for line in lines if line.startswith("cold get db[k]"))
    assert " 5% " in steady and not steady.endswith("noisy")
    assert noisy.endswith("noisy") and "30%" in noisy
    assert any(line.startswith("spread: half the interquartile range of the 5 repetitions") for line in lines)
    assert any(line.startswith("noise: a spread above 10%") for line in lines)
    hint = "nanasqlite bench --quick --compare --peers nanasqlite,nanasqlite-1.6.2,apsw+orjson,dict"
    assert sum(hint in line for line in lines) == 1
    # The pure build compares the pure peer: the compiled one would not start without the extensions.
    assert "--peers nanasqlite-pure,nanasqlite-1.6.2," in bench_runner.render_text(own_report(native=False))


def compare_report() -> dict[str, Any]:
    w = bench.BY_NAME["get_cold"]
    row = {
        "name": w.name,
        "title": w.title,
        "unit": "items/s",
        "items": 100,
        "params": {"n": 100},
        "target": w.target,
        "results": {
            "nanasqlite": result(1050.0, 1000.0, 1100.0),
            "nanasqlite-1.6.2": result(1000.0, 800.0, 1200.0),
        },
        "ratios": {"nanasqlite": result(1.05, 0.95, 1.2)},
        "met": False,
    }
    peers = {
        "nanasqlite": {"label": "ours (compiled)", "available": True, "versions": {"native": "True"}},
        "nanasqlite-1.6.2": {"label": "1.6.2", "available": True, "versions": {}},
        "sqlitedict": {"label": "sqlitedict", "available": False, "why": "sqlitedict is not installed: ..."},
    }
    return {
        "kind": "compare",
        "machine": MACHINE,
        "quick": True,
        "reps": 5,
        "baseline": "nanasqlite-1.6.2",
        "ours": "nanasqlite",
        "peers": peers,
        "workloads": [row],
    }


def test_the_comparison_marks_noisy_cells_and_ratios_within_noise() -> None:
    report = compare_report()
    text = bench_runner.render_text(report)
    row = next(line for line in text.splitlines() if line.startswith("cold get db[k]"))
    assert "1.05k ±5% " in row and "1k ±20%*" in row  # the 1.6.2 cell is noisy, ours is not
    assert "1.05x (noise)" in row  # the per-round ratios' middle half includes 1.0
    assert "docs/bench/targets.md" in text and "not run: sqlitedict (sqlitedict is not installed" in text
    markdown = bench_runner.render_markdown(report)
    assert "| 1.05k ±5% | 1k ±20%* | 1.05x (noise) |" in markdown
    assert "docs/bench/targets.md" in markdown and "DESIGN" not in markdown
    report["workloads"][0]["ratios"]["nanasqlite"] = result(1.5, 1.3, 1.7)
    assert "| 1.50x |" in bench_runner.render_markdown(report)


def test_the_targets_the_comparison_judges_are_the_docs() -> None:
    text = TARGETS.read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].startswith("| workload |") and set(table[1]) == {"|", "-"}
    rows = table[2:]
    expected = [
        f"| {w.title} | `{w.name}` | {w.full:,} / {w.quick:,} | {w.target} | {w.rule()} |" for w in bench.WORKLOADS
    ]
    assert rows == expected


def test_a_missing_peer_says_what_installs_it(tmp_path: Path) -> None:
    # A module that fails to import exactly as an absent one does, first on the workers' path.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "sqlitedict.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'sqlitedict'\", name='sqlitedict')\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    args = [
        "--peers",
        "sqlitedict,dict",
        "--workloads",
        "get_cached",
        "--items",
        "5",
        "--reps",
        "1",
        "--json",
        "r.json",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "nanasqlite", "bench", "--compare", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    why = "sqlitedict is not installed: pip install sqlitedict, or every peer with pip install 'nanasqlite[bench]'"
    assert f"not run: sqlitedict ({why})" in " ".join(done.stdout.split())  # the legend wraps long lines
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["peers"]["sqlitedict"] == {"label": "sqlitedict", "available": False, "why": why}
    assert report["workloads"][0]["results"]["dict"]["status"] == "ok"
