"""Write ``sql_utils.json``: what the 1.6.2 package's ``nanasqlite.sql_utils`` returns for a fixed set of inputs.

Run once with 1.6.2 importable (``PYTHONPATH=/path/to/nanasqlite-1.6.2 python tests/golden/make_sql_utils.py``);
``tests/test_sql_utils.py`` checks that ours returns the same.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import nanasqlite
from nanasqlite import sql_utils

FIXED = [
    "",
    " ",
    "upper(name)",
    "COUNT(*)",
    "SELECT 'COUNT(*)' FROM t",
    'SELECT "LOAD_EXTENSION"(x)',
    "SELECT COUNT(*) -- comment",
    "a /* upper(x) */ b",
    "a /* unterminated upper(x)",
    "'abc''",
    "'abc'''",
    "'it''s' || lower(x)",
    '"a""b"(1)',
    "`tick`(1) [br](2) [x y](3)",
    "[unterminated(1)",
    "é(1) _x(2) 9a(3)",
    "x\n-- c\n y(1)",
    "f (1)",
    "f\t(1)",
    "name = 'x' AND age > 3",
    "a; DROP TABLE t",
    "x = ? OR y = :p OR z = @q OR w = $r",
    "'unterminated",
    '"unterminated',
    "-- only a comment",
    "/* only */",
    "f('(', \")\")",
    "a.b(c.d(e))",
    "ñame(1) naïve(2)",
    "x = '--' AND y(1)",
    'x = "--" AND y(1)',
    "\u3042(1)",
    "a\u00a0(1)",
]

IDENTIFIERS = ["", "data", 'my "table"', '"', 'a""b', "with space", "é", "x;y"]


def generated(count: int) -> list[str]:
    rng = random.Random(16)
    pieces = [
        "'",
        '"',
        "`",
        "[",
        "]",
        "(",
        ")",
        "--",
        "/*",
        "*/",
        "\n",
        " ",
        "''",
        '""',
        "f",
        "abc",
        "_x",
        "1",
        ";",
        "é",
        "\t",
        ",",
        "=",
        "#",
        "%",
        "\\",
        "{",
        "~",
    ]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def main() -> None:
    cases = []
    for sql in FIXED + generated(220):
        cases.append(
            {
                "sql": sql,
                "functions": sql_utils.find_sql_functions(sql),
                "sanitized": sql_utils.sanitize_sql_for_function_scan(sql),
                "safe_chars": sql_utils.fast_validate_sql_chars(sql),
            }
        )
    identifiers = [{"name": name, "quoted": sql_utils.sanitize_identifier(name)} for name in IDENTIFIERS]
    out = {"version": nanasqlite.__version__, "cases": cases, "identifiers": identifiers}
    path = Path(__file__).with_name("sql_utils.json")
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases from nanasqlite {nanasqlite.__version__} -> {path}")


if __name__ == "__main__":
    main()
