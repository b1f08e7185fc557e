"""Validation of the SQL fragments that callers hand to the SQL helpers.

Values always travel as bound parameters, but some things cannot be bound: identifiers, column types, and the
``where`` / ``order_by`` / ``group_by`` / column expressions. Identifiers are checked and always quoted. Every
expression goes through one validator, built on a tokenizer that splits text exactly where SQLite's own
tokenizer does, in a single left-to-right pass (linear time on any input). What it sees is therefore what
SQLite will see, and the rules are checked on tokens, never with regular expressions over the raw text:

* always rejected, in every mode: characters SQLite does not accept, unterminated quotes, comments, ``;``,
  unbalanced parentheses, keywords that start a statement, a subquery or another clause (``SELECT``,
  ``UNION``, ``FROM``, ``LIMIT``, ...), ``IN`` not followed by ``(`` (``x IN other_table`` reads another
  table), and calls of ``load_extension`` / ``fts3_tokenizer``;
* policy, an error in strict mode and a ``UserWarning`` otherwise: calls of functions outside the allow-list
  or on the forbid-list (quoted names such as ``"LOAD_EXTENSION"(`` included), and the length limit.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import messages
from .exceptions import NanaSQLiteTypeError, NanaSQLiteValidationError
from .options import Options

__all__ = [
    "Token",
    "tokenize",
    "StepMeter",
    "Policy",
    "make_policy",
    "validate_expression",
    "validate_identifier",
    "validate_column_def",
    "ColumnDef",
    "result_key",
    "fold",
    "is_identifier",
    "PARAM",
    "Bindings",
    "bindings",
    "bind",
    "non_negative_int",
    "row",
    "check_value",
    "name_list",
    "default_literal",
    "DEFAULT_ALLOWED_FUNCTIONS",
]

# Token kinds.
WORD, QUOTED, STRING, BLOB, NUMBER, PARAM, OP = range(7)

#: The functions an expression may call unless the store or the call says otherwise (as in 1.6).
DEFAULT_ALLOWED_FUNCTIONS = frozenset(
    "COUNT SUM AVG MIN MAX ABS UPPER LOWER LENGTH ROUND COALESCE IFNULL NULLIF STRFTIME DATE TIME DATETIME "
    "JULIANDAY".split()
)
# Loading native code or handing out pointers is never a query's business, whatever the allow-list says.
_NEVER_CALLABLE = frozenset({"LOAD_EXTENSION", "FTS3_TOKENIZER"})
# Words that start a statement, a subquery, a compound or another clause: none belongs inside an expression.
_DENIED_KEYWORDS = frozenset(
    "ALTER ANALYZE ATTACH BEGIN COMMIT CREATE DELETE DETACH DROP EXCEPT EXPLAIN FROM GROUP HAVING INSERT "
    "INTERSECT INTO JOIN LIMIT OFFSET ORDER PRAGMA REINDEX RELEASE RETURNING ROLLBACK SAVEPOINT SELECT SET "
    "TRANSACTION TRUNCATE UNION UPDATE VACUUM VALUES WHERE WINDOW WITH".split()
)
# Reserved words that may precede "(" without being a function call. Words SQLite can fall back to an
# identifier (END, LIKE, MATCH, REPLACE, ...) are not here: before "(" SQLite may call them as functions.
_NOT_A_CALL = frozenset(
    "AND OR NOT IN IS CAST EXISTS CASE WHEN THEN ELSE BETWEEN ESCAPE AS DISTINCT ALL NULL ON".split()
)
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_VALUE_TYPES = (type(None), int, float, str, bytes, bytearray, memoryview)
_MAX_INT64 = 2**63 - 1
#: Bound values: positional (a list) or named (a dict).
Bindings = list[Any] | dict[str, Any]

# Runs of characters; each pattern is a single character class, so a match never backtracks.
_RUN_SPACE = re.compile(r"[ \t\n\f\r]*")
_RUN_ID = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]*")
_RUN_DIGITS = re.compile(r"[0-9_]*")
_RUN_DECIMAL = re.compile(r"[0-9]*")
_RUN_HEX = re.compile(r"[0-9A-Fa-f_]*")
_OPERATORS = ("->>", "->", "||", "<=", ">=", "<>", "!=", "==", "<<", ">>") + tuple("()+-*/%<>=,&|~.")


class Token(NamedTuple):
    kind: int
    text: str
    pos: int


def fold(name: str) -> str:
    """Upper-case the ASCII letters only, as SQLite does when it compares names."""
    return name.translate(_ASCII_UPPER)


def _is_id_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "_$") or ord(ch) >= 0x80


def _reject(what: str, reason: str, pos: int | None = None) -> NanaSQLiteValidationError:
    where = "" if pos is None else f" at position {pos}"
    return NanaSQLiteValidationError(messages.invalid(what, reason + where))


class StepMeter:
    """Counts the work done by the tokenizer and the validator (positions and tokens visited)."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0


def tokenize(text: str, what: str = "SQL expression", meter: StepMeter | None = None) -> list[Token]:
    """Split ``text`` into SQLite tokens in one left-to-right pass. ``meter`` counts the character
    positions visited: at most about twice ``len(text)`` whatever the input, rejected or not.

    Raises ``NanaSQLiteValidationError`` on anything that is not a single SQL expression's tokens:
    comments, ``;``, characters or quotes SQLite would not accept, unbalanced parentheses.

    >>> [t.text for t in tokenize("age >= ? AND name LIKE 'a%'")]
    ['age', '>=', '?', 'AND', 'name', 'LIKE', "'a%'"]
    """
    if "\x00" in text:
        if meter is not None:
            meter.steps += len(text)
        raise _reject(what, "NUL characters are not allowed")
    tokens: list[Token] = []
    append = tokens.append
    n = len(text)
    i = 0
    steps = 0
    depth = 0
    try:
        while i < n:
            steps += 1
            ch = text[i]
            if ch in " \t\n\f\r":
                end = _RUN_SPACE.match(text, i).end()  # type: ignore[union-attr]
                steps += end - i
                i = end
                continue
            start = i
            if ch in "'\"`[":
                kind = STRING if ch == "'" else QUOTED
                close = "]" if ch == "[" else ch
                j = i + 1
                while True:
                    k = text.find(close, j)
                    if k < 0:
                        steps += n - j
                        raise _reject(what, "unterminated quote", start)
                    steps += k - j + 1
                    # A doubled quote is an escaped quote (brackets have no escape).
                    if close != "]" and k + 1 < n and text[k + 1] == close:
                        j = k + 2
                        continue
                    i = k + 1
                    break
                append(Token(kind, text[start:i], start))
                continue
            if ch in "xX" and i + 1 < n and text[i + 1] == "'":
                k = text.find("'", i + 2)
                if k < 0:
                    steps += n - i
                    raise _reject(what, "unterminated blob literal", start)
                steps += k - i
                i = k + 1
                append(Token(BLOB, text[start:i], start))
                continue
            if ch.isascii() and (ch.isalpha() or ch == "_") or ord(ch) >= 0x80:
                i = _RUN_ID.match(text, i + 1).end()  # type: ignore[union-attr]
                steps += i - start
                append(Token(WORD, text[start:i], start))
                continue
            if ch in "0123456789" or (ch == "." and i + 1 < n and text[i + 1] in "0123456789"):
                i = _number_end(text, i)
                steps += i - start
                # SQLite turns "12abc" into one illegal token; so do we, rather than split it differently.
                if i < n and _is_id_char(text[i]):
                    raise _reject(what, "malformed number", start)
                append(Token(NUMBER, text[start:i], start))
                continue
            if ch == "?":
                i = _RUN_DECIMAL.match(text, i + 1).end()  # type: ignore[union-attr]
                steps += i - start
                append(Token(PARAM, text[start:i], start))
                continue
            if ch in ":@$":
                i = _RUN_ID.match(text, i + 1).end()  # type: ignore[union-attr]
                steps += i - start
                # SQLite also reads "$a(...)" and "$a::b" as one variable name; accept only the plain form.
                if i == start + 1 or (i < n and text[i] in "(:"):
                    raise _reject(what, "malformed parameter name", start)
                append(Token(PARAM, text[start:i], start))
                continue
            if text.startswith(("--", "/*"), i):
                raise _reject(what, "comments are not allowed", start)
            if ch == ";":
                raise _reject(what, "';' (a second statement) is not allowed", start)
            for op in _OPERATORS:
                if text.startswith(op, i):
                    break
            else:
                raise _reject(what, f"character {ch!r} is not allowed", start)
            if op == "(":
                depth += 1
            elif op == ")":
                depth -= 1
                if depth < 0:
                    raise _reject(what, "unbalanced ')'", start)
            i += len(op)
            steps += len(op)
            append(Token(OP, op, start))
        if depth:
            raise _reject(what, "unbalanced '('")
    finally:
        if meter is not None:
            meter.steps += steps
    return tokens


def _number_end(text: str, i: int) -> int:
    n = len(text)
    if text.startswith(("0x", "0X"), i) and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
        return _RUN_HEX.match(text, i + 2).end()  # type: ignore[union-attr]
    i = _RUN_DIGITS.match(text, i).end()  # type: ignore[union-attr]
    if i < n and text[i] == ".":
        i = _RUN_DIGITS.match(text, i + 1).end()  # type: ignore[union-attr]
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j] in "0123456789":
            i = _RUN_DIGITS.match(text, j).end()  # type: ignore[union-attr]
    return i


def _unquote(token: Token) -> str:
    text = token.text
    if token.kind in (QUOTED, STRING):
        if text[0] == "[":
            return text[1:-1]
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


# -- policy --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What one call may do: raise or warn, the callable functions, the length limit."""

    strict: bool
    allowed: frozenset[str]
    forbidden: frozenset[str]
    forbid_all: bool
    max_length: int

    def violation(self, message: str) -> None:
        if self.strict:
            raise NanaSQLiteValidationError(message)
        warnings.warn(message, UserWarning, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside this package."""
    frame = sys._getframe(2)  # the caller of ``Policy.violation``
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("nanasqlite."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _names(value: Iterable[str] | None, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, (str, bytes)) or not all(isinstance(v, str) for v in value):
        raise NanaSQLiteValidationError(f"{what} must be a list of str")
    return frozenset(fold(v) for v in value)


def make_policy(
    options: Options,
    strict: bool | None = None,
    allowed: Iterable[str] | None = None,
    forbidden: Iterable[str] | None = None,
    override_allowed: bool = False,
) -> Policy:
    """The policy of one call: the store's options with the call's overrides applied.

    ``allowed`` adds to the store's allow-list (or replaces it with ``override_allowed``); ``forbidden`` adds
    to the store's forbid-list, so one call can never re-enable what the store forbids; ``"*"`` forbids
    every function call.
    """
    if strict is not None and not isinstance(strict, bool):
        raise NanaSQLiteValidationError("strict_sql_validation must be a bool or None")
    base: frozenset[str] = frozenset()
    if not override_allowed:
        base = DEFAULT_ALLOWED_FUNCTIONS | _names(options.allowed_sql_functions, "allowed_sql_functions")
    denied = _names(options.forbidden_sql_functions, "forbidden_sql_functions")
    denied |= _names(forbidden, "forbidden_sql_functions")
    return Policy(
        strict=options.strict_sql_validation if strict is None else strict,
        allowed=(base | _names(allowed, "allowed_sql_functions")) - denied,
        forbidden=denied,
        forbid_all="*" in denied,
        max_length=options.max_clause_length,
    )


# -- expressions ---------------------------------------------------------------------------------------------


def validate_expression(text: object, what: str, policy: Policy, meter: StepMeter | None = None) -> list[Token]:
    """Check one ``where`` / ``order_by`` / ``group_by`` / column expression; return its tokens."""
    if not isinstance(text, str):
        raise NanaSQLiteValidationError(f"{what} must be a str, not {type(text).__name__}")
    if len(text) > policy.max_length:
        policy.violation(messages.too_long(what, policy.max_length))
    tokens = tokenize(text, what, meter)
    if not tokens:
        raise NanaSQLiteValidationError(messages.invalid(what, "it is empty"))
    check_tokens(tokens, what, policy, meter)
    return tokens


def check_tokens(tokens: list[Token], what: str, policy: Policy, meter: StepMeter | None = None) -> None:
    """The keyword and function-call rules, over tokens from ``tokenize``: one visit per token."""
    if meter is not None:
        meter.steps += len(tokens)
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        call = i < last and tokens[i + 1].text == "(" and tokens[i + 1].kind == OP
        if tok.kind == WORD:
            word = fold(tok.text)
            if word in _DENIED_KEYWORDS or (word == "REPLACE" and not call):
                raise _reject(what, f"the keyword {word} is not allowed", tok.pos)
            if word == "IN" and not call:
                raise _reject(what, "IN must be followed by a parenthesised list", tok.pos)
            # OVER and FILTER are keywords only right after a call's ")"; elsewhere SQLite calls them.
            if word in _NOT_A_CALL or (word in ("OVER", "FILTER") and i > 0 and tokens[i - 1].text == ")"):
                continue
        elif tok.kind not in (QUOTED, STRING):
            continue
        if call:
            _check_call(fold(_unquote(tok)), tok.pos, what, policy)


def _check_call(name: str, pos: int, what: str, policy: Policy) -> None:
    if name in _NEVER_CALLABLE:
        raise _reject(what, f"the SQL function {name} can never be called", pos)
    if policy.forbid_all or name in policy.forbidden:
        policy.violation(f"SQL function '{name}' is explicitly forbidden ({what}).")
    elif name not in policy.allowed:
        policy.violation(
            f"SQL function '{name}' is not in the allowed list. "
            f"Use 'allowed_sql_functions' to permit it if you trust this function ({what})."
        )


def result_key(expr: str) -> str:
    """The dict key of a requested column, as in 1.6: its alias, its bare name, or the expression."""
    tokens = tokenize(expr)
    if len(tokens) >= 3 and fold(tokens[-2].text) == "AS" and tokens[-1].kind in (WORD, QUOTED, STRING):
        return _unquote(tokens[-1])
    if len(tokens) == 1 and tokens[0].kind in (WORD, QUOTED):
        return _unquote(tokens[0])
    return expr.strip()


# -- identifiers and column definitions ----------------------------------------------------------------------


def is_identifier(name: str) -> bool:
    """Whether ``name`` is a plain name: letters, digits and ``_``, not starting with a digit."""
    return _IDENTIFIER.fullmatch(name) is not None


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` quoted, after checking it is a plain name (letters, digits, ``_``; not starting
    with a digit). A name already in double quotes is accepted, as in 1.6."""
    if not isinstance(name, str):
        raise NanaSQLiteValidationError(f"{what} must be a str, not {type(name).__name__}")
    inner = name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name
    if not is_identifier(inner):
        raise NanaSQLiteValidationError(messages.invalid_identifier(what, name))
    return f'"{inner}"'


class ColumnDef(NamedTuple):
    sql: str
    primary_key: bool


_CONSTRAINTS = tuple("PRIMARY NOT NULL UNIQUE CHECK DEFAULT COLLATE REFERENCES GENERATED AS".split())
_CONSTRAINT_START = frozenset(("CONSTRAINT",) + _CONSTRAINTS)
_DEFAULT_WORDS = frozenset("NULL TRUE FALSE CURRENT_TIME CURRENT_DATE CURRENT_TIMESTAMP".split())
_CONFLICT = frozenset("ROLLBACK ABORT FAIL IGNORE REPLACE".split())


class _ColumnParser:
    """A recursive-descent reader of SQLite's ``type-name column-constraint*`` grammar, over tokens."""

    def __init__(self, tokens: list[Token], what: str, policy: Policy) -> None:
        self.tokens = tokens
        self.i = 0
        self.what = what
        self.policy = policy
        self.primary_key = False

    def fail(self, reason: str) -> NanaSQLiteValidationError:
        if self.i < len(self.tokens):
            tok = self.tokens[self.i]
            return _reject(self.what, f"{reason}, found {tok.text!r}", tok.pos)
        return _reject(self.what, f"{reason}, found the end")

    def word(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i].kind == WORD:
            return fold(self.tokens[self.i].text)
        return None

    def accept(self, *words: str) -> str | None:
        word = self.word()
        if word is not None and word in words:
            self.i += 1
            return word
        return None

    def expect(self, *words: str) -> str:
        word = self.accept(*words)
        if word is None:
            raise self.fail(f"expected {' or '.join(words)}")
        return word

    def op(self, text: str) -> bool:
        if self.i < len(self.tokens) and self.tokens[self.i].kind == OP and self.tokens[self.i].text == text:
            self.i += 1
            return True
        return False

    def expect_op(self, text: str) -> None:
        if not self.op(text):
            raise self.fail(f"expected {text!r}")

    def name(self) -> None:
        if self.i < len(self.tokens) and self.tokens[self.i].kind in (WORD, QUOTED):
            if self.word() in _DENIED_KEYWORDS:
                raise self.fail("expected a name")
            self.i += 1
        else:
            raise self.fail("expected a name")

    def signed_number(self) -> None:
        if not self.op("+"):
            self.op("-")
        if self.i < len(self.tokens) and self.tokens[self.i].kind == NUMBER:
            self.i += 1
        else:
            raise self.fail("expected a number")

    def expression(self) -> None:
        """A parenthesised expression: checked by the expression rules, with the store's functions."""
        self.expect_op("(")
        start, depth = self.i, 1
        while depth:  # the tokenizer has already checked the parentheses balance
            text = self.tokens[self.i].text if self.tokens[self.i].kind == OP else ""
            depth += (text == "(") - (text == ")")
            self.i += 1
        inner = self.tokens[start : self.i - 1]
        if not inner:
            raise _reject(self.what, "empty parentheses", self.tokens[start - 1].pos)
        check_tokens(inner, self.what, self.policy)

    def conflict(self) -> None:
        if self.accept("ON"):
            self.expect("CONFLICT")
            self.expect(*_CONFLICT)

    def parse(self) -> None:
        typed = False
        while (word := self.word()) is not None and word not in _CONSTRAINT_START:
            if word in _DENIED_KEYWORDS:
                raise self.fail("expected a type name")
            self.i += 1
            typed = True
        if typed and self.op("("):
            self.signed_number()
            if self.op(","):
                self.signed_number()
            self.expect_op(")")
        while self.i < len(self.tokens):
            self.constraint()

    def constraint(self) -> None:
        if self.accept("CONSTRAINT"):
            self.name()
        word = self.expect(*_CONSTRAINTS)
        if word == "PRIMARY":
            self.expect("KEY")
            self.primary_key = True
            self.accept("ASC", "DESC")
            self.conflict()
            self.accept("AUTOINCREMENT")
        elif word == "NOT":
            self.expect("NULL")
            self.conflict()
        elif word in ("NULL", "UNIQUE"):
            self.conflict()
        elif word == "CHECK":
            self.expression()
        elif word == "DEFAULT":
            self.default()
        elif word == "COLLATE":
            self.name()
        elif word == "REFERENCES":
            self.references()
        else:  # [GENERATED ALWAYS] AS (expr) [STORED | VIRTUAL]
            if word == "GENERATED":
                self.expect("ALWAYS")
                self.expect("AS")
            self.expression()
            self.accept("STORED", "VIRTUAL")

    def default(self) -> None:
        tok = self.tokens[self.i] if self.i < len(self.tokens) else None
        if tok is not None and tok.kind == OP and tok.text == "(":
            self.expression()
        elif tok is not None and tok.kind in (STRING, BLOB):
            self.i += 1
        elif self.accept(*_DEFAULT_WORDS) is None:
            self.signed_number()

    def references(self) -> None:
        self.name()
        if self.op("("):
            self.name()
            while self.op(","):
                self.name()
            self.expect_op(")")
        while True:
            if self.accept("ON"):
                self.expect("DELETE", "UPDATE")
                action = self.expect("SET", "CASCADE", "RESTRICT", "NO")
                if action == "SET":
                    self.expect("NULL", "DEFAULT")
                elif action == "NO":
                    self.expect("ACTION")
            elif self.accept("MATCH"):
                self.name()
            elif (
                self.word() == "NOT"
                and self.i + 1 < len(self.tokens)
                and fold(self.tokens[self.i + 1].text) == "DEFERRABLE"
            ):
                self.i += 1
                self.deferrable()
            elif self.word() == "DEFERRABLE":
                self.deferrable()
            else:
                return

    def deferrable(self) -> None:
        self.expect("DEFERRABLE")
        if self.accept("INITIALLY"):
            self.expect("DEFERRED", "IMMEDIATE")


def validate_column_def(column_type: object, column: str, policy: Policy) -> ColumnDef:
    """Check a column's type and constraints (``"TEXT NOT NULL DEFAULT 'x'"``) against SQLite's
    column-definition grammar, so nothing after them can become another clause. Expressions in
    ``CHECK``, ``DEFAULT (...)`` and ``AS (...)`` follow the expression rules, always strictly."""
    what = messages.column_type_what(column)
    if not isinstance(column_type, str):
        raise NanaSQLiteValidationError(messages.column_type_not_str(column, column_type))
    if len(column_type) > policy.max_length:
        raise NanaSQLiteValidationError(messages.too_long(f"column type for {column!r}", policy.max_length))
    tokens = tokenize(column_type, what)
    strict = Policy(True, policy.allowed, policy.forbidden, policy.forbid_all, policy.max_length)
    parser = _ColumnParser(tokens, what, strict)
    parser.parse()
    return ColumnDef(column_type.strip(), parser.primary_key)


# -- values --------------------------------------------------------------------------------------------------


def bindings(parameters: object, what: str = "parameters") -> Bindings:
    """Positional (a list) or named (a dict) bound values; a str is refused, not bound letter by letter."""
    if parameters is None:
        return []
    if isinstance(parameters, Mapping):
        return dict(parameters)
    if isinstance(parameters, (str, bytes, bytearray)) or not isinstance(parameters, Sequence):
        raise NanaSQLiteValidationError(f"{what} must be a sequence or a mapping, not {type(parameters).__name__}")
    return list(parameters)


def bind(values: Bindings, name: str, value: Any) -> str:
    """Add one value of ours to the caller's bindings; return its placeholder."""
    if isinstance(values, dict):
        if name in values:
            raise NanaSQLiteValidationError(f"the parameter name {name!r} is reserved")
        values[name] = value
        return ":" + name
    values.append(value)
    return "?"


def non_negative_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise NanaSQLiteValidationError(messages.not_an_integer(what, value))
    if not 0 <= value <= _MAX_INT64:
        raise NanaSQLiteValidationError(messages.negative(what, value))
    return value


def row(data: object, what: str = "data") -> tuple[list[str], list[Any]]:
    """Quoted column names and values of one row dict."""
    if not isinstance(data, Mapping):
        raise NanaSQLiteValidationError(f"{what} must be a dict, not {type(data).__name__}")
    columns = [validate_identifier(c, "column name") for c in data]
    values = list(data.values())
    for name, value in zip(data, values, strict=True):
        check_value(name, value)
    return columns, values


def check_value(column: str, value: object) -> None:
    if not isinstance(value, _VALUE_TYPES):
        raise NanaSQLiteTypeError(
            f"the value of column {column!r} must be None, int, float, str or bytes, not {type(value).__name__}"
        )


def name_list(value: object, what: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise NanaSQLiteValidationError(f"{what} must be a list of names, not {type(value).__name__}")
    names = list(value)
    if not names:
        raise NanaSQLiteValidationError(f"{what} must not be empty")
    return names


def default_literal(value: object) -> str:
    """The SQL literal of a column default (DDL cannot take bound parameters)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NanaSQLiteValidationError("default must be a finite number")
        return float.__repr__(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise NanaSQLiteValidationError("default must not contain NUL characters")
        if len(value) >= 2 and value[0] == value[-1] == "'":  # 1.6 accepted an already quoted literal
            value = value[1:-1]
        return "'" + value.replace("'", "''") + "'"
    raise NanaSQLiteValidationError(f"default must be a str, bool, int or float, not {type(value).__name__}")
