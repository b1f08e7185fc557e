"""SQL text helpers that 1.6 exposed as ``nanasqlite.sql_utils``; same functions, same results.

The store itself validates clauses with ``sqlsafety`` (a full SQLite tokenizer); these remain for programs that
call them directly.

>>> find_sql_functions("upper(name) || '(x)' ")
['upper']
>>> sanitize_identifier("my table")
'"my table"'
"""

from __future__ import annotations

import re

__all__ = ["find_sql_functions", "sanitize_sql_for_function_scan", "fast_validate_sql_chars", "sanitize_identifier"]

_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD_REST = re.compile(r"\w*")
_SPACE = re.compile(r"\s+")
_CLOSERS = {"'": "'", '"': '"', "`": "`"}


def _quoted_end(sql: str, start: int, quote: str, settle: bool = False) -> int:
    """The index after the quote that closes the one at ``start`` (a doubled quote is part of the text), or -1.

    ``settle``: when no quote closes it, a doubled quote seen on the way closes it instead (its first half), as
    a backtracking regular expression reads ``'(?:''|[^'])*'``."""
    i = start + 1
    pair = -1
    while True:
        j = sql.find(quote, i)
        if j < 0:
            return pair + 1 if settle and pair >= 0 else -1
        if sql.startswith(quote, j + 1):
            pair = j
            i = j + 2
            continue
        return j + 1


def _tokens(sql: str) -> list[str]:
    """Whole quoted texts, bracketed names and words as one token each, any other character alone; comments
    are dropped. An unterminated quote, bracket or comment opener is a one-character token."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        space = _SPACE.match(sql, i)
        if space:
            i = space.end()
            continue
        ch = sql[i]
        end = -1
        if sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            if close >= 0:
                i = close + 2
                continue
        elif ch in _CLOSERS:
            end = _quoted_end(sql, i, ch, settle=True)
        elif ch == "[":
            close = sql.find("]", i + 1)
            end = -1 if close < 0 else close + 1
        elif ch in _WORD_START:
            end = _WORD_REST.match(sql, i + 1).end()  # type: ignore[union-attr]
        if end < 0:
            end = i + 1
        out.append(sql[i:end])
        i = end
    return out


def find_sql_functions(sql: str) -> list[str]:
    """The names called in ``sql`` (a word, quoted name or bracketed name followed by ``(``), in order."""
    tokens = _tokens(sql)
    names: list[str] = []
    for token, after in zip(tokens, tokens[1:], strict=False):
        if after != "(":
            continue
        first = token[0]
        if first in _CLOSERS:  # a lone unterminated quote too, as 1.6 (its name is "")
            names.append(token[1:-1].replace(first * 2, first))
        elif first == "[":
            names.append(token[1:-1])
        elif first in _WORD_START:
            names.append(token)
    return names


def sanitize_sql_for_function_scan(sql: str) -> str:
    """``sql`` of the same length with the text of single-quoted literals and comments blanked out and the
    double quotes around identifiers replaced by spaces (their content kept, so ``"LOAD_EXTENSION"(x)`` still
    shows a call). Newlines that end line comments are kept.

    >>> sanitize_sql_for_function_scan("SELECT 'COUNT(*)' FROM t -- c")
    'SELECT            FROM t     '
    """
    if not sql:
        return sql
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        two = sql[i : i + 2]
        if two == "--":
            newline = sql.find("\n", i)
            stop = n if newline < 0 else newline
            out.append(" " * (stop - i))
            i = stop
        elif two == "/*":
            close = sql.find("*/", i + 2)
            stop = n if close < 0 else close + 2
            out.append(" " * (stop - i))
            i = stop
        elif ch == "'":
            stop = _quoted_end(sql, i, "'")
            stop = n if stop < 0 else stop
            out.append(" " * (stop - i))
            i = stop
        elif ch == '"':
            out.append(" ")
            i += 1
            while i < n:
                if sql.startswith('""', i):
                    out.append("  ")
                    i += 2
                elif sql[i] == '"':
                    out.append(" ")
                    i += 1
                    break
                else:
                    out.append(sql[i])
                    i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ ,.()'=<>!+-*/\"|?:@$`[]")


def fast_validate_sql_chars(expr: str) -> bool:
    """Whether ``expr`` uses only letters, digits, spaces and the punctuation of simple expressions
    (``_ , . ( ) ' " = < > ! + - * / | ? : @ $ ` [ ]``)."""
    return _SAFE_CHARS.issuperset(expr)


def sanitize_identifier(identifier: str) -> str:
    """``identifier`` in double quotes, inner double quotes doubled; an empty name is returned as is."""
    if not identifier:
        return identifier
    return '"' + identifier.replace('"', '""') + '"'
