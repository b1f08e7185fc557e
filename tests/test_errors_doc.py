"""docs/errors.md: every example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

import nanasqlite

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_doc_has_one_example_per_error() -> None:
    sections = re.findall(r"^## (\w+)$", DOC.read_text(encoding="utf-8"), re.M)
    family = [
        name
        for name in nanasqlite.__all__
        if name.startswith("NanaSQLite") and name not in ("NanaSQLite", "NanaSQLiteError")
    ]
    assert sorted(sections) == sorted(family)
    assert len(BLOCKS) == len(sections)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_example_runs_and_prints_what_it_says(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        exec(compile(block, "docs/errors.md", "exec"), {})
    printed = out.getvalue().splitlines()
    comments = [line.split("# ", 1)[1] for line in block.splitlines() if line.strip().startswith("print(")]
    assert len(printed) == len(comments)
    for shown, comment in zip(printed, comments, strict=True):
        assert shown.startswith(comment.removesuffix(" ...")), (shown, comment)
