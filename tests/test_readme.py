"""The README's quickstart, run as written: what it prints is what its comments say it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from nanasqlite import NanaSQLite

README = Path(__file__).resolve().parent.parent / "README.md"


def quickstart() -> str:
    section = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_quickstart_prints_what_its_comments_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # it writes "app.db" in the working directory
    source = quickstart()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "README quickstart", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed == ["Nana", "{'item:1': {'n': 1}, 'item:2': {'n': 2}}"]
    prints = [line for line in source.splitlines() if line.strip().startswith("print(")]
    assert len(prints) == len(printed)
    for line, shown in zip(prints, printed, strict=True):
        assert line.split("# ", 1)[1].startswith(shown), (line, shown)  # the comment shows the output
    with NanaSQLite(str(tmp_path / "app.db")) as db:
        assert db["user:1"] == {"name": "Nana", "tags": ["admin"], "last_seen": "today"}
        assert db["visits"] == 1 and len(db) == 100_002
