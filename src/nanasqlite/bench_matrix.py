"""The payload matrix: every path of ``bench.MATRIX_PATHS`` on every payload shape of ``bench.SHAPES``.

    python benchmarks/compare.py --matrix [--quick] [--json P] [--markdown P]

Peers (ours compiled, ours pure, the 1.6.2 package with orjson, hand-written APSW + orjson) each run in their
own subprocess, the same workers as ``nanasqlite bench --compare`` (``bench_runner._Worker``, with ``bench.py``
as the worker script); every cell is sent to every peer in turn, round after round, so that slow moments of a
shared machine fall on every peer alike. A cell's ratio is the median over rounds of ``peer / 1.6.2`` measured
in the same round; the summary is the geometric mean of those medians over the cells.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .bench import BASELINE, DEFAULT_BASELINE_DIR, MATRIX_PATHS, SHAPES, Workload
from .bench_runner import (
    PEERS,
    _start,
    _table,
    _Worker,
    ensure_baseline,
    machine_info,
    machine_line,
    status,
    summarise,
)

__all__ = ["MATRIX_PEERS", "run_matrix", "render_matrix_text", "render_matrix_markdown", "main"]

#: The peers of the matrix, in the order they run in every round.
MATRIX_PEERS = ("nanasqlite", "nanasqlite-pure", BASELINE, "apsw+orjson")


def matrix_sizes(quick: bool, items: int | None = None) -> dict[str, int]:
    """Items of the filled store per shape; ``items`` caps every one (smoke tests)."""
    out = {}
    for s in SHAPES:
        n = s.quick if quick else s.full
        out[s.name] = max(2, min(n, items)) if items is not None else n
    return out


def _geomean(values: Sequence[float]) -> float | None:
    good = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in good) / len(good)) if good else None


def run_matrix(
    *,
    quick: bool,
    reps: int | None = None,
    items: int | None = None,
    peers: Sequence[str] | None = None,
    shapes: Sequence[str] | None = None,
    paths: Sequence[str] | None = None,
    baseline_dir: str = DEFAULT_BASELINE_DIR,
    timeout: float = 600.0,
    log: Callable[..., None] = status,
) -> dict[str, Any]:
    """Run the matrix; return the report (JSON-able)."""
    reps = reps or 3
    wanted = peers or MATRIX_PEERS
    chosen = [p for p in PEERS if p.name in wanted]
    shape_list = [s for s in SHAPES if shapes is None or s.name in shapes]
    path_list = [p for p in MATRIX_PATHS if paths is None or p.name in paths]
    sizes = matrix_sizes(quick, items)
    info: dict[str, Any] = {}
    workers: list[_Worker] = []
    baseline_problem = ensure_baseline(baseline_dir, log) if BASELINE in wanted else None
    cells = []
    try:
        for spec in chosen:
            worker, problem = None, baseline_problem if spec.name == BASELINE else None
            if problem is None:
                worker, problem = _start(spec, baseline_dir, timeout, log)
            if worker is not None:
                workers.append(worker)
                info[spec.name] = {"label": spec.label, "available": True, "versions": worker.hello["versions"]}
            else:
                info[spec.name] = {"label": spec.label, "available": False, "why": problem}
        for shape in shape_list:
            n = sizes[shape.name]
            params = {"shape": shape.name, "n": n}
            for path in path_list:
                name = "matrix_" + path.name
                rounds: dict[str, list[dict[str, Any]]] = {w.spec.name: [] for w in workers}
                log(f"{shape.name} x {path.name} ...", True)
                for rep in range(reps):
                    log(f"{shape.name} x {path.name}: round {rep + 1}/{reps}")
                    for w in workers:
                        done = rounds[w.spec.name]
                        if done and done[-1].get("na"):
                            done.append(done[-1])
                            continue
                        try:
                            done.append(w.call(name, params))
                        except RuntimeError as exc:
                            done.append({"ok": False, "error": str(exc)})
                w_ = Workload(name, f"{shape.title} / {path.title}", n, n, "-", 1.0)
                row = summarise(rounds, params, w_, None)
                row.update({"shape": shape.name, "path": path.name})
                cells.append(row)
    finally:
        log("")
        for w in workers:
            w.close()
    geomean: dict[str, Any] = {}
    for peer in info:
        ratios = [c["ratios"][peer]["median"] for c in cells if peer in c["ratios"]]
        if ratios:
            geomean[peer] = {
                "geomean": _geomean(ratios),
                "cells": len(ratios),
                "below_1": sum(1 for r in ratios if r < 1.0),
            }
    return {
        "kind": "matrix",
        "machine": machine_info(),
        "quick": quick,
        "reps": reps,
        "baseline": BASELINE,
        "sizes": {s.name: sizes[s.name] for s in shape_list},
        "shapes": [{"name": s.name, "title": s.title} for s in shape_list],
        "paths": [{"name": p.name, "title": p.title, "cap": p.cap} for p in path_list],
        "peers": info,
        "cells": cells,
        "geomean": geomean,
    }


def _ratio(cell: dict[str, Any] | None, peer: str) -> str:
    if cell is None:
        return "-"
    r = cell["ratios"].get(peer)
    if r is None:
        result = cell["results"].get(peer, {})
        return "error" if result.get("status") == "error" else "n/a"
    noise = "~" if r["q1"] <= 1.0 <= r["q3"] else ""
    return f"{r['median']:.2f}{noise}"


def _grid(report: dict[str, Any], peer: str) -> tuple[list[str], list[list[str]]]:
    by = {(c["shape"], c["path"]): c for c in report["cells"]}
    head = ["shape (items)"] + [p["name"] for p in report["paths"]]
    rows = []
    for s in report["shapes"]:
        rows.append(
            [f"{s['name']} ({report['sizes'][s['name']]:,})"]
            + [_ratio(by.get((s["name"], p["name"])), peer) for p in report["paths"]]
        )
    return head, rows


def _peer_lines(report: dict[str, Any], peer: str) -> str:
    label = report["peers"][peer]["label"]
    g = report["geomean"].get(peer)
    if g is None or g["geomean"] is None:
        return f"{label} / 1.6.2"
    return f"{label} / 1.6.2: geometric mean {g['geomean']:.2f}x over {g['cells']} cells, {g['below_1']} below 1"


def _shown(report: dict[str, Any]) -> list[str]:
    return [p for p, i in report["peers"].items() if i["available"] and p != BASELINE and p in report["geomean"]]


def _notes(report: dict[str, Any]) -> list[str]:
    notes = [
        f"{'Quick' if report['quick'] else 'Full'} sizes; {report['reps']} rounds, each peer in its own process, "
        "interleaved round-robin.",
        "Cells: median over rounds of peer / 1.6.2 throughput measured in the same round; above 1 is faster; "
        "'~' marks a cell whose middle half of ratios includes 1.0 (no difference measured).",
        "Paths: "
        + "; ".join(
            f"{p['name']} = {p['title']}" + (f" (first {p['cap']:,} keys)" if p["cap"] else "") for p in report["paths"]
        )
        + ".",
        "Shapes: " + "; ".join(f"{s['name']} = {s['title']}" for s in report["shapes"]) + ".",
    ]
    notes += [f"Not run: {n} ({p['why']})." for n, p in report["peers"].items() if not p["available"]]
    return notes


def render_matrix_text(report: dict[str, Any]) -> str:
    out = [f"machine: {machine_line(report['machine'])}", ""]
    for peer in _shown(report):
        head, rows = _grid(report, peer)
        out += [_peer_lines(report, peer), *_table(head, rows), ""]
    return "\n".join(out + _notes(report))


def render_matrix_markdown(report: dict[str, Any]) -> str:
    out = []
    for peer in _shown(report):
        head, rows = _grid(report, peer)
        out += [f"### {_peer_lines(report, peer)}", ""]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out.append("")
    run = "python benchmarks/compare.py --matrix" + (" --quick" if report["quick"] else "")
    notes = [f"Machine: {machine_line(report['machine'])}.", f"Run: `{run} --reps {report['reps']}`.", *_notes(report)]
    return "\n".join(out) + "\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in names if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(bad)} (choose from {', '.join(allowed)})")
        return names

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compare.py --matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller stores (about a fifth)")
    parser.add_argument("--reps", type=int, default=None, help="rounds per cell (default 3)")
    parser.add_argument("--items", type=int, default=None, help="cap every store at this many items")
    parser.add_argument("--peers", type=_names([p.name for p in PEERS]), default=None)
    parser.add_argument("--shapes", type=_names([s.name for s in SHAPES]), default=None)
    parser.add_argument("--paths", type=_names([p.name for p in MATRIX_PATHS]), default=None)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    parser.add_argument("--baseline-dir", default=DEFAULT_BASELINE_DIR)
    args = parser.parse_args(argv)
    report = run_matrix(
        quick=args.quick,
        reps=args.reps,
        items=args.items,
        peers=args.peers,
        shapes=args.shapes,
        paths=args.paths,
        baseline_dir=args.baseline_dir,
    )
    print(render_matrix_text(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(render_matrix_markdown(report))
    errors = [
        (c["name"], p, r.get("error"))
        for c in report["cells"]
        for p, r in c["results"].items()
        if r.get("status") == "error"
    ]
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0
