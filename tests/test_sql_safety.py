"""The SQL validator: the tokenizer, identifiers, column types, the function policy, its linear running time,
and a battery of injection attempts against every SQL-taking argument of every SQL helper."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from nanasqlite import (
    NanaSQLite,
    NanaSQLiteDatabaseError,
    NanaSQLiteError,
    NanaSQLiteValidationError,
)
from nanasqlite.options import Options
from nanasqlite.sqlsafety import (
    StepMeter,
    make_policy,
    result_key,
    tokenize,
    validate_column_def,
    validate_expression,
    validate_identifier,
)

STRICT = make_policy(Options())
LOOSE = make_policy(Options(strict_sql_validation=False))


def texts(expr: str) -> list[str]:
    return [t.text for t in tokenize(expr)]


# -- the tokenizer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("age>=?", ["age", ">=", "?"]),
        ("a||'x''y'", ["a", "||", "'x''y'"]),
        ('"we""ird" = [br]acket', ['"we""ird"', "=", "[br]", "acket"]),
        ("`q``x` <> x'00ff'", ["`q``x`", "<>", "x'00ff'"]),
        ("0x1F + 1.5e-3 + .5 + 1_000", ["0x1F", "+", "1.5e-3", "+", ".5", "+", "1_000"]),
        ("?1 :name @v $w", ["?1", ":name", "@v", "$w"]),
        ("data ->> '$.a' -> 'b'", ["data", "->>", "'$.a'", "->", "'b'"]),
        ("na\u00efve = 'caf\u00e9'", ["na\u00efve", "=", "'caf\u00e9'"]),
        ("a\t\n\r\fb", ["a", "b"]),
    ],
)
def test_tokens_split_where_sqlite_splits(expr: str, expected: list[str]) -> None:
    assert texts(expr) == expected


@pytest.mark.parametrize(
    "expr",
    [
        "a -- comment",
        "a /* comment */",
        "a; b",
        "'open",
        '"open',
        "[open",
        "`open",
        "x'00",
        "(a",
        "a)",
        ") OR (",
        "12abc",
        "1e5x",
        "0x1fg",
        "a\x00b",
        "a \v b",
        "a ! b",
        "a ^ b",
        "a # b",
        "a \\ b",
        "{a}",
        ":",
        "$a(b)",
        "$a::b",
        ":a(b)",
    ],
)
def test_tokenizer_rejects_what_is_not_one_expression(expr: str) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        tokenize(expr)


# Inputs built to make a careless scanner or regex backtrack, each about 100 kB.
PATHOLOGICAL = {
    "nested parentheses": "(" * 50_000 + ")" * 50_000,
    "unbalanced parentheses": "(" * 100_000,
    "escaped quotes": "'" + "''" * 50_000 + "'",
    "unterminated escaped quotes": "'" + "''" * 50_000,
    "escaped identifier quotes": '"' + 'x""' * 33_333 + '"',
    "unterminated brackets": "[" * 100_000,
    "one long word": "a" * 100_000,
    "alternating operators": "a+" * 50_000 + "a",
    "call chains": "f(" * 50_000 + ")" * 50_000,
    "many parameters": "? " * 50_000,
    "named parameters": ":a " * 33_333,
    "digits": "1" * 100_000,
    "exponents": "1e" * 50_000,
    "dots": "." * 100_000,
    "operators": "<>=!|" * 20_000,
    "dashes": "-" * 100_000,
    "slashes and stars": "/*" * 50_000,
    "quotes of every kind": "'\"`[" * 25_000,
    "blob prefixes": "x'" * 50_000,
    "spaces then garbage": " " * 99_999 + "\v",
    "non-ASCII": "\u00e9" * 100_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_tokenizer_work_is_linear_on_pathological_input(name: str) -> None:
    text = PATHOLOGICAL[name]
    assert len(text) >= 99_999
    meter = StepMeter()
    try:
        tokenize(text, meter=meter)
    except NanaSQLiteValidationError:
        pass
    # Every position is visited a bounded number of times: no quadratic rescans, no backtracking.
    assert 0 < meter.steps <= 3 * len(text) + 10


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_validator_work_is_linear_on_pathological_input(name: str) -> None:
    text = PATHOLOGICAL[name]
    policy = make_policy(Options(max_clause_length=10**6, allowed_sql_functions=("F",)))
    meter = StepMeter()
    try:
        validate_expression(text, "where clause", policy, meter)
    except NanaSQLiteValidationError:
        pass
    assert 0 < meter.steps <= 4 * len(text) + 10


def test_work_grows_linearly_with_input_size() -> None:
    def steps(n: int) -> int:
        meter = StepMeter()
        policy = make_policy(Options(max_clause_length=10**6))
        validate_expression("(" * n + "a = 'x''y'" + ")" * n, "where clause", policy, meter)
        return meter.steps

    small, large = steps(1_000), steps(10_000)
    assert 9 * small <= large <= 11 * small


# -- expressions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "age > ? AND name LIKE 'a%'",
        "id IN (1, 2, 3)",
        "id NOT IN (?, ?)",
        "CAST(age AS TEXT) = '3'",
        "CASE WHEN age > 18 THEN 'adult' ELSE 'minor' END = ?",
        "COUNT(*) DESC",
        "age * -1, name COLLATE NOCASE ASC NULLS LAST",
        '"order" = 1 AND [from] = 2 AND `select` = 3',
        "name = 'DROP TABLE users; --'",
        "name = 'José' OR name = '名前'",
        "coalesce(nick, name) = :name",
        "data ->> '$.a' = 1",
        "(a, b) = (?, ?)",
        "x IS NOT NULL AND y BETWEEN 1 AND 2 AND z GLOB 'a*' ESCAPE '\\'",
        "count(DISTINCT name) > 1",
        "lower(name) = upper(?)",
    ],
)
def test_ordinary_expressions_pass(expr: str) -> None:
    validate_expression(expr, "where clause", STRICT)


@pytest.mark.parametrize(
    "expr",
    [
        "(SELECT 1)",
        "1 IN (VALUES (1))",
        "1 IN (WITH x AS (SELECT 1) SELECT * FROM x)",
        "1 UNION SELECT 1",
        "1 INTERSECT SELECT 1",
        "id IN users",
        "id IN main.users",
        "id IN json_each",
        "1 ORDER BY 1",
        "1 GROUP BY 1",
        "1 LIMIT 1",
        "1 RETURNING *",
        "sElEcT",
        "x = 1 WINDOW w AS ()",
        "count(*) FILTER (WHERE x)",
        "DELETE",
        "REPLACE INTO x",
        "load_extension('x')",
        "\"LOAD_EXTENSION\"('x')",
        "[load_extension]('x')",
        "`Load_Extension`('x')",
        "'load_extension'('x')",
        "fts3_tokenizer('simple')",
    ],
)
def test_structural_attacks_are_rejected_even_in_warn_mode(expr: str) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        validate_expression(expr, "where clause", LOOSE)


def test_never_callable_functions_cannot_be_allowed() -> None:
    policy = make_policy(Options(allowed_sql_functions=("load_extension",)), allowed=["LOAD_EXTENSION"])
    with pytest.raises(NanaSQLiteValidationError, match="LOAD_EXTENSION"):
        validate_expression("load_extension('x')", "where clause", policy)


@pytest.mark.parametrize("expr", ["random() > 0", "end(1)", "over(1)", "x LIKE (?)", "replace(a, 'b', 'c')"])
def test_calls_outside_the_allow_list_fail_in_strict_mode(expr: str) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="not in the allowed list"):
        validate_expression(expr, "where clause", STRICT)


def test_calls_outside_the_allow_list_warn_in_warn_mode() -> None:
    with pytest.warns(UserWarning, match="RANDOM"):
        tokens = validate_expression("random() > 0", "where clause", LOOSE)
    assert [t.text for t in tokens][:2] == ["random", "("]


def test_window_keywords_after_a_call_are_not_calls() -> None:
    policy = make_policy(Options(), allowed=["row_number"])
    validate_expression("row_number() OVER (PARTITION BY a)", "column expression", policy)


def test_allow_lists_are_case_insensitive() -> None:
    validate_expression("instr(name, 'a') > 0", "where clause", make_policy(Options(), allowed=["instr"]))
    store = make_policy(Options(allowed_sql_functions=("Instr",)))
    validate_expression("INSTR(name, 'a') > 0", "where clause", store)


def test_override_allowed_replaces_the_default_list() -> None:
    policy = make_policy(Options(), allowed=["instr"], override_allowed=True)
    validate_expression("instr(a, 'b')", "where clause", policy)
    with pytest.raises(NanaSQLiteValidationError, match="COUNT"):
        validate_expression("count(*)", "where clause", policy)


def test_forbidden_functions_add_up_and_win_over_allowed() -> None:
    store = make_policy(Options(forbidden_sql_functions=("lower",)), allowed=["lower"], forbidden=["upper"])
    for expr in ("lower(a)", "UPPER(a)"):
        with pytest.raises(NanaSQLiteValidationError, match="forbidden"):
            validate_expression(expr, "where clause", store)
    # A call can add to the store's forbid-list but never take from it.
    again = make_policy(Options(forbidden_sql_functions=("lower",)), forbidden=[])
    with pytest.raises(NanaSQLiteValidationError, match="LOWER"):
        validate_expression("lower(a)", "where clause", again)


def test_star_forbids_every_call_but_not_plain_expressions() -> None:
    policy = make_policy(Options(), forbidden=["*"])
    validate_expression("age > ? AND name = 'x'", "where clause", policy)
    with pytest.raises(NanaSQLiteValidationError, match="COUNT"):
        validate_expression("count(*) > 1", "where clause", policy)


def test_length_limit_raises_in_strict_mode_and_warns_otherwise() -> None:
    text = "a = 1 OR " * 20 + "a = 1"
    with pytest.raises(NanaSQLiteValidationError, match="maximum length"):
        validate_expression(text, "where clause", make_policy(Options(max_clause_length=50)))
    with pytest.warns(UserWarning, match="maximum length"):
        validate_expression(text, "where clause", make_policy(Options(max_clause_length=50), strict=False))


@pytest.mark.parametrize("value", [None, 1, b"a = 1", ["a"]])
def test_expressions_must_be_str(value: object) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="must be a str"):
        validate_expression(value, "where clause", STRICT)


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_expressions_are_rejected(value: str) -> None:
    with pytest.raises(NanaSQLiteValidationError, match="empty"):
        validate_expression(value, "where clause", STRICT)


@pytest.mark.parametrize(
    ("expr", "key"),
    [
        ("name", "name"),
        ('"name"', "name"),
        ("COUNT(*)", "COUNT(*)"),
        ("COUNT(*) AS n", "n"),
        ('max(age) as "oldest one"', "oldest one"),
        ("users.name", "users.name"),
        ("  age  ", "age"),
    ],
)
def test_result_keys_follow_1_6(expr: str, key: str) -> None:
    assert result_key(expr) == key


# -- identifiers and column types ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "quoted"), [("users", '"users"'), ('"users"', '"users"'), ("_t1", '"_t1"')])
def test_identifiers_are_quoted(name: str, quoted: str) -> None:
    assert validate_identifier(name) == quoted


@pytest.mark.parametrize(
    "name",
    ["", "1abc", "a b", "a-b", 'a"b', 'users"; DROP TABLE x; --', "a\x00", "t.c", '""', "users\n", None, 3],
)
def test_bad_identifiers_are_rejected(name: object) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        validate_identifier(name, "table name")


@pytest.mark.parametrize(
    ("column_type", "primary_key"),
    [
        ("INTEGER PRIMARY KEY AUTOINCREMENT", True),
        ("TEXT NOT NULL DEFAULT 'x'", False),
        ("VARCHAR(255)", False),
        ("DECIMAL(10, -2)", False),
        ("DOUBLE PRECISION", False),
        ("", False),
        ("INTEGER CHECK (age >= 0 AND age < 200)", False),
        ("TEXT DEFAULT (datetime('now'))", False),
        ("TEXT DEFAULT CURRENT_TIMESTAMP", False),
        ("REAL DEFAULT -1.5", False),
        ("BLOB DEFAULT x'00'", False),
        ("INTEGER REFERENCES users (id) ON DELETE CASCADE ON UPDATE NO ACTION DEFERRABLE", False),
        ("INTEGER REFERENCES users NOT DEFERRABLE INITIALLY IMMEDIATE MATCH simple", False),
        ("INTEGER REFERENCES users NOT NULL", False),
        ("TEXT COLLATE NOCASE UNIQUE ON CONFLICT REPLACE", False),
        ("REAL GENERATED ALWAYS AS (price * qty) STORED", False),
        ("REAL AS (price * 2)", False),
        ("INTEGER CONSTRAINT pk PRIMARY KEY DESC", True),
    ],
)
def test_column_types_follow_sqlite_grammar(column_type: str, primary_key: bool) -> None:
    column = validate_column_def(column_type, "c", STRICT)
    assert column.sql == column_type.strip()
    assert column.primary_key is primary_key


@pytest.mark.parametrize(
    "column_type",
    [
        "TEXT, evil TEXT",
        "TEXT); DROP TABLE users; --",
        "TEXT) --",
        "TEXT DEFAULT 'x') , (y",
        "INTEGER CHECK (load_extension(name))",
        "TEXT DEFAULT (load_extension('x'))",
        "TEXT AS (load_extension('x'))",
        "TEXT DEFAULT (randomblob(1000000000))",
        "INTEGER CHECK (x IN (SELECT 1))",
        "TEXT DEFAULT 'a' 'b'",
        "TEXT DEFAULT name",
        "VARCHAR(abc)",
        "VARCHAR(1, 2, 3)",
        "TEXT SELECT",
        "'TEXT'",
        "TEXT PRIMARY",
        "TEXT REFERENCES users ON DELETE EXPLODE",
        "INTEGER PRIMARY KEY /* x */",
        "TEXT\x00",
        "CHECK ()",
    ],
)
def test_column_types_that_could_carry_sql_are_rejected(column_type: str) -> None:
    with pytest.raises(NanaSQLiteValidationError):
        validate_column_def(column_type, "c", LOOSE)


# -- the injection battery ----------------------------------------------------------------------------------

EXPRESSION_ATTACKS = [
    "1=1; DROP TABLE users",
    "1=1 -- ",
    "1=1 /* x */",
    "id = 1) OR (1=1",
    "1) UNION SELECT sql FROM sqlite_master --",
    "(SELECT sql FROM sqlite_master) IS NOT NULL",
    "id IN sqlite_master",
    "id IN (VALUES (1))",
    "id IN (WITH x AS (SELECT 1) SELECT * FROM x)",
    "load_extension('x')",
    "\"LOAD_EXTENSION\"('x')",
    "[load_extension]('x')",
    "`load_extension` ('x')",
    "fts3_tokenizer('simple')",
    "1 UNION SELECT * FROM data",
    "1 RETURNING *",
    "1 LIMIT 0",
    "1 ORDER BY (SELECT 1)",
    "name = 'x'; DELETE FROM users; --",
    "writefile('/tmp/x', 'y')",
    "randomblob(10) IS NOT NULL",
    "1 = 1\x00; DROP TABLE users",
    "'unterminated",
    "CASE WHEN (SELECT 1) THEN 1 END",
    "id = ?1 OR pragma_table_info('users') IS NULL",
    "ATTACH DATABASE 'x' AS y",
    "",
]
# Those rejected whatever the function policy says (the others call functions outside the allow-list).
STRUCTURAL_ATTACKS = [
    a for a in EXPRESSION_ATTACKS if not any(f in a for f in ("randomblob", "writefile", "pragma_table_info"))
]
IDENTIFIER_ATTACKS = [
    'users"; DROP TABLE users; --',
    "users; DROP TABLE users",
    "users --",
    "users/*",
    "users)",
    "users\x00",
    "main.users",
    "1users",
    "",
    "users WHERE 1",
    "[users]",
    "`users`",
]
COLUMN_TYPE_ATTACKS = [
    "TEXT); DROP TABLE users; --",
    "TEXT, evil TEXT",
    "TEXT CHECK (load_extension(name))",
    "TEXT DEFAULT (load_extension('x'))",
    "TEXT AS (load_extension('x'))",
    "TEXT DEFAULT 'x') --",
    "TEXT DEFAULT (random())",
    "INTEGER REFERENCES users (id)); DROP TABLE users --",
]

Call = Callable[[NanaSQLite, Any], object]

# (name, call, attacks): every argument of every helper that ends up in SQL text.
TARGETS: list[tuple[str, Call, list[Any]]] = [
    ("query.where", lambda db, a: db.query("users", where=a), EXPRESSION_ATTACKS[:-1]),
    ("query.order_by", lambda db, a: db.query("users", order_by=a), EXPRESSION_ATTACKS[:-1]),
    ("query.columns", lambda db, a: db.query("users", columns=["id", a]), EXPRESSION_ATTACKS),
    ("query.table_name", lambda db, a: db.query(a), IDENTIFIER_ATTACKS),
    ("query.limit", lambda db, a: db.query("users", limit=a), ["1; DROP TABLE users", True, -1, 1.5, "1"]),
    (
        "query.warn_mode.where",
        lambda db, a: db.query("users", where=a, strict_sql_validation=False),
        STRUCTURAL_ATTACKS[:-1],
    ),
    (
        "query_with_pagination.group_by",
        lambda db, a: db.query_with_pagination("users", group_by=a),
        EXPRESSION_ATTACKS[:-1],
    ),
    (
        "query_with_pagination.offset",
        lambda db, a: db.query_with_pagination("users", offset=a),
        ["1; DROP TABLE users", False, -5, 2.0],
    ),
    ("count.where", lambda db, a: db.count("users", a), EXPRESSION_ATTACKS[:-1]),
    ("count.table_name", lambda db, a: db.count(a), IDENTIFIER_ATTACKS),
    ("exists.where", lambda db, a: db.exists("users", a), EXPRESSION_ATTACKS),
    ("exists.table_name", lambda db, a: db.exists(a, "1"), IDENTIFIER_ATTACKS),
    ("sql_update.where", lambda db, a: db.sql_update("users", {"name": "x"}, a), EXPRESSION_ATTACKS),
    ("sql_update.table_name", lambda db, a: db.sql_update(a, {"name": "x"}, "1"), IDENTIFIER_ATTACKS),
    ("sql_update.column", lambda db, a: db.sql_update("users", {a: "x"}, "1"), IDENTIFIER_ATTACKS),
    ("sql_delete.where", lambda db, a: db.sql_delete("users", a), EXPRESSION_ATTACKS),
    ("sql_delete.table_name", lambda db, a: db.sql_delete(a, "1"), IDENTIFIER_ATTACKS),
    ("sql_insert.table_name", lambda db, a: db.sql_insert(a, {"name": "x"}), IDENTIFIER_ATTACKS),
    ("sql_insert.column", lambda db, a: db.sql_insert("users", {a: "x"}), IDENTIFIER_ATTACKS),
    ("sql_insert.value", lambda db, a: db.sql_insert("users", {"name": a}), [{"x": 1}, [1], object()]),
    ("upsert.column", lambda db, a: db.upsert("users", {"id": 1, a: "x"}), IDENTIFIER_ATTACKS),
    ("upsert.conflict_columns", lambda db, a: db.upsert("users", {"id": 1}, [a]), IDENTIFIER_ATTACKS),
    (
        "import_from_dict_list.table_name",
        lambda db, a: db.import_from_dict_list(a, [{"name": "x"}]),
        IDENTIFIER_ATTACKS,
    ),
    (
        "import_from_dict_list.column",
        lambda db, a: db.import_from_dict_list("users", [{"name": "x"}, {a: 1}]),
        IDENTIFIER_ATTACKS,
    ),
    ("export_table_to_dict.table_name", lambda db, a: db.export_table_to_dict(a), IDENTIFIER_ATTACKS),
    ("create_table.table_name", lambda db, a: db.create_table(a, {"c": "TEXT"}), IDENTIFIER_ATTACKS),
    ("create_table.column", lambda db, a: db.create_table("t2", {a: "TEXT"}), IDENTIFIER_ATTACKS),
    ("create_table.column_type", lambda db, a: db.create_table("t2", {"c": a}), COLUMN_TYPE_ATTACKS),
    (
        "create_table.primary_key",
        lambda db, a: db.create_table("t2", {"c": "TEXT"}, primary_key=a),
        IDENTIFIER_ATTACKS,
    ),
    ("create_index.index_name", lambda db, a: db.create_index(a, "users", ["name"]), IDENTIFIER_ATTACKS),
    ("create_index.table_name", lambda db, a: db.create_index("ix", a, ["name"]), IDENTIFIER_ATTACKS),
    ("create_index.columns", lambda db, a: db.create_index("ix", "users", [a]), IDENTIFIER_ATTACKS),
    ("drop_table.table_name", lambda db, a: db.drop_table(a), IDENTIFIER_ATTACKS),
    ("drop_index.index_name", lambda db, a: db.drop_index(a), IDENTIFIER_ATTACKS),
    (
        "alter_table_add_column.table_name",
        lambda db, a: db.alter_table_add_column(a, "c", "TEXT"),
        IDENTIFIER_ATTACKS,
    ),
    (
        "alter_table_add_column.column_name",
        lambda db, a: db.alter_table_add_column("users", a, "TEXT"),
        IDENTIFIER_ATTACKS,
    ),
    (
        "alter_table_add_column.column_type",
        lambda db, a: db.alter_table_add_column("users", "c", a),
        COLUMN_TYPE_ATTACKS,
    ),
    (
        "alter_table_add_column.default",
        lambda db, a: db.alter_table_add_column("users", "c", "TEXT", default=a),
        [float("nan"), float("inf"), b"x", ["x"], "x\x00"],
    ),
    ("get_table_schema.table_name", lambda db, a: db.get_table_schema(a), IDENTIFIER_ATTACKS),
    (
        "pragma.name",
        lambda db, a: db.pragma(a),
        ["user_version; DROP TABLE users", "table_info(users)", "wal_checkpoint", "writable_schema", ""],
    ),
    (
        "pragma.value",
        lambda db, a: db.pragma("user_version", a),
        ["1; DROP TABLE users", "'x'", "1 --", "a b", "", [1], float("nan")],
    ),
    ("pragma.read_only_name", lambda db, a: db.pragma("schema_version", a), [1, "1"]),
    ("get_by_path.path", lambda db, a: db.get_by_path("k", a), [3, None, b"$.a"]),
    ("backup.dest_path", lambda db, a: db.backup(a), [":memory:", "", "file::memory:?cache=shared"]),
]


def _fingerprint(path: str) -> tuple[bytes, bytes, list[tuple[Any, ...]]]:
    """The bytes of the database file and its WAL, and a dump of everything in it (schema and rows)."""
    digest = [
        hashlib.sha256(Path(p).read_bytes()).digest() if os.path.exists(p) else b"" for p in (path, path + "-wal")
    ]
    con = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        dump: list[tuple[Any, ...]] = list(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            dump += [(name, *row) for row in con.execute(f'SELECT * FROM "{name}" ORDER BY rowid')]
        dump.append(("user_version", *con.execute("PRAGMA user_version").fetchone()))
    finally:
        con.close()
    return digest[0], digest[1], dump


@pytest.fixture
def victim(db_path: str) -> Iterator[NanaSQLite]:
    db = NanaSQLite(db_path)
    db.create_table("users", {"id": "INTEGER PRIMARY KEY", "name": "TEXT", "age": "INTEGER"})
    db.create_index("ix_users_name", "users", ["name"])
    db.import_from_dict_list("users", [{"name": "alice", "age": 30}, {"name": "bob", "age": 20}])
    db["k"] = {"a": 1}
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    yield db
    db.close()


@pytest.mark.parametrize(("name", "call", "attacks"), TARGETS, ids=[t[0] for t in TARGETS])
def test_injection_attempts_are_rejected_and_change_nothing(
    victim: NanaSQLite, db_path: str, name: str, call: Call, attacks: list[Any]
) -> None:
    before = _fingerprint(db_path)
    for attack in attacks:
        with pytest.raises((NanaSQLiteValidationError, TypeError)) as info:
            call(victim, attack)
        # Validation errors are also ValueErrors; the data never reached SQLite.
        assert isinstance(info.value, (ValueError, TypeError)), (name, attack)
        assert not isinstance(info.value, NanaSQLiteDatabaseError), (name, attack)
    assert _fingerprint(db_path) == before
    assert victim.count("users") == 2 and victim["k"] == {"a": 1}


def test_names_and_paths_are_bound_values(victim: NanaSQLite, db_path: str) -> None:
    before = _fingerprint(db_path)
    for attack in [a for a in IDENTIFIER_ATTACKS + EXPRESSION_ATTACKS if a]:
        assert victim.table_exists(attack) is False
        assert victim.list_indexes(attack) == []
        try:
            found = victim.get_by_path("k", attack)
        except NanaSQLiteError:
            pass  # SQLite refused it as a JSON path
        else:
            assert found is None
    assert _fingerprint(db_path) == before


def test_a_table_name_that_is_no_table_makes_upsert_store_a_key(victim: NanaSQLite) -> None:
    # As in 1.6: upsert(name, dict) writes rows only when ``name`` is an existing table, else it is a key.
    attack = "users; DROP TABLE users"
    assert victim.upsert(attack, {"id": 1}) is None
    assert victim[attack] == {"id": 1}
    assert victim.count("users") == 2


def test_defaults_are_literals_however_they_look(victim: NanaSQLite) -> None:
    attack = "x'; DROP TABLE users; --"
    victim.alter_table_add_column("users", "note", "TEXT", default=attack)
    assert victim.query("users", ["note"], limit=1) == [{"note": attack}]
    assert victim.count("users") == 2


def test_warn_mode_store_still_rejects_structural_attacks(db_path: str) -> None:
    with NanaSQLite(db_path, strict_sql_validation=False) as db:
        db.create_table("users", {"id": "INTEGER PRIMARY KEY"})
        db.sql_insert("users", {"id": 1})
        calls: list[Callable[[str], object]] = [
            lambda a: db.query("users", where=a),
            lambda a: db.count("users", a),
            lambda a: db.sql_delete("users", a),
            lambda a: db.query("users", order_by=a),
        ]
        for attack in STRUCTURAL_ATTACKS[:-1]:
            for call in calls:
                with pytest.raises(NanaSQLiteValidationError):
                    call(attack)
        assert db.count("users") == 1
        with pytest.warns(UserWarning, match="RANDOM"):
            assert db.count("users", "random() IS NOT NULL") == 1
