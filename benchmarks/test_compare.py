"""The comparison runner end to end at a tiny size, so that it never rots: every peer starts in its own
subprocess (the 1.6.2 package installed with pip when missing), every workload runs, all three reports appear.
Nothing here judges speed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

COMPARE = Path(__file__).with_name("compare.py")


def test_compare_runs_every_peer_and_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    args = [
        "--quick",
        "--items",
        "30",
        "--reps",
        "2",
        "--json",
        "r.json",
        "--markdown",
        "r.md",
        "--chart",
        "r.png",
    ]
    result = subprocess.run(
        [sys.executable, str(COMPARE), *args], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    peers = report["peers"]
    expected = {
        "nanasqlite-pure",
        "nanasqlite-1.6.2",
        "sqlitedict",
        "diskcache",
        "aiosqlite",
        "apsw+orjson",
        "dict",
    }
    assert {name for name, peer in peers.items() if peer["available"]} >= expected, peers
    compiled = importlib.util.find_spec("nanasqlite._speedups._codec") is not None
    assert peers["nanasqlite"]["available"] is compiled, peers["nanasqlite"]
    assert peers["nanasqlite-1.6.2"]["versions"]["nanasqlite"] == "1.6.2"
    assert report["machine"]["cores"] and report["machine"]["sqlite"] and report["machine"]["apsw"]
    rows = {row["name"]: row for row in report["workloads"]}
    assert len(rows) == 10
    for name, row in rows.items():
        statuses = {peer: r["status"] for peer, r in row["results"].items()}
        assert "error" not in statuses.values(), (name, row["results"])
        assert statuses["nanasqlite-1.6.2"] == "ok", name
        ours = report["ours"]
        if statuses[ours] == "ok":
            assert row["ratios"][ours]["median"] > 0 and row["met"] in (True, False)
    assert rows["get_cached"]["results"]["dict"]["status"] == "ok"
    assert rows["batch_write"]["results"]["apsw+orjson"]["status"] == "ok"
    assert rows["async_gets"]["results"]["aiosqlite"]["status"] == "ok"
    markdown = (tmp_path / "r.md").read_text()
    assert "| batch write |" in markdown and "ours vs 1.6.2" in markdown and "Machine:" in markdown
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
