"""Fault injection: each test names the guarantee it proves (README, "Guarantees")."""

from __future__ import annotations

import json
from typing import Any

import apsw


def checked_rows(path: str) -> dict[str, Any]:
    """The rows of the ``data`` table, decoded, after ``PRAGMA integrity_check`` said ok (opening the file with a
    plain connection also recovers its WAL, as the next opener would)."""
    con = apsw.Connection(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM data")}
    finally:
        con.close()
