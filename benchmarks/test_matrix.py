"""The payload matrix, so that it never rots: every path on every shape at a tiny size, first in this process
through the benchmark fixture (``pytest benchmarks --benchmark-disable`` runs each once), then end to end through
``compare.py --matrix`` with every peer in its own subprocess (the 1.6.2 package installed with pip when
missing). Nothing here judges speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nanasqlite import bench

COMPARE = Path(__file__).with_name("compare.py")
SHAPES = [s.name for s in bench.SHAPES]
PATHS = [p.name for p in bench.MATRIX_PATHS]


def test_shapes_are_deterministic_and_json_values() -> None:
    for shape in SHAPES:
        first = [bench.shape_value(shape, i) for i in range(3)]
        assert first == [bench.shape_value(shape, i) for i in range(3)]
        assert json.loads(json.dumps(first)) == first
    assert len(bench.shape_value("vec768", 1)) == 768
    assert all(isinstance(x, float) for x in bench.shape_value("vec128", 2))
    assert 10_000 <= len(bench.shape_value("text10k", 5)) <= 100_000
    assert any(ord(c) > 127 for c in json.dumps(bench.shape_value("documents", 0), ensure_ascii=False))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Any:
    f = bench.Files(str(tmp_path_factory.mktemp("matrix")))
    yield f
    f.cleanup()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", SHAPES)
def test_matrix_cell(benchmark: Any, files: bench.Files, shape: str, path: str) -> None:
    peer = bench.NanaPeer()
    n = 3 if shape == "text10k" else 12
    reply = benchmark.pedantic(bench.run_workload, args=(peer, files, "matrix_" + path, {"shape": shape, "n": n}))
    assert reply["ok"], reply
    assert reply["items"] == n and reply["seconds"] >= 0


def test_matrix_runs_every_peer_and_writes_json_and_markdown(tmp_path: Path) -> None:
    args = ["--matrix", "--quick", "--items", "4", "--reps", "1", "--json", "m.json", "--markdown", "m.md"]
    result = subprocess.run(
        [sys.executable, str(COMPARE), *args], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["kind"] == "matrix"
    peers = report["peers"]
    assert {n for n, p in peers.items() if p["available"]} >= {"nanasqlite-pure", "nanasqlite-1.6.2", "apsw+orjson"}
    assert peers["nanasqlite-1.6.2"]["versions"]["nanasqlite"] == "1.6.2"
    assert len(report["cells"]) == len(SHAPES) * len(PATHS)
    for cell in report["cells"]:
        statuses = {p: r["status"] for p, r in cell["results"].items()}
        assert "error" not in statuses.values(), (cell["name"], cell["shape"], cell["results"])
        assert statuses["nanasqlite-1.6.2"] == "ok"
        assert cell["ratios"]["nanasqlite-pure"]["median"] > 0
    assert report["geomean"]["nanasqlite-pure"]["cells"] == len(SHAPES) * len(PATHS)
    markdown = (tmp_path / "m.md").read_text()
    assert "| vec768 (4) |" in markdown and "geometric mean" in markdown and "Machine:" in markdown
    assert "geometric mean" in result.stdout
