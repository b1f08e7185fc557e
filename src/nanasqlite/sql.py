"""The SQL helpers of the store: raw SQL, schema, rows, utilities, backup and restore.

They run on the connection of the key-value table, under the same lock, so relational tables can live beside
the dict data in one file and one transaction. All SQL text other than the key-value table's is built here;
every identifier is validated and quoted, every value is a bound parameter, and every ``where`` /
``order_by`` / ``group_by`` / column expression passes ``sqlsafety.validate_expression``.

Writes made here to a key-value table of the same connection drop the caches of its stores, so the mapping
never answers from stale data: the helpers know the table they write, and ``execute`` drops them whenever it
runs a statement that is not read-only. The caches are dropped under the lock *before* the statement runs (no
other thread can fill them again until it is over): if dropping them fails, nothing is written, whereas a
write committed first could be left behind stale caches.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import apsw

from . import messages, sqlsafety
from ._native import codec
from .exceptions import (
    NanaSQLiteDatabaseError,
    NanaSQLiteTransactionError,
    NanaSQLiteTypeError,
    NanaSQLiteValidationError,
)
from .sqlsafety import Bindings, Policy, fold, validate_identifier
from .storage import KVTable, database_error, quote_identifier

if TYPE_CHECKING:
    from .options import Options
    from .storage import Connection

__all__ = ["SQLMixin", "Params"]

_T = TypeVar("_T")
#: Bound values as callers give them: positional or named.
Params = Sequence[Any] | Mapping[str, Any] | None

_SQLITE_HEADER = b"SQLite format 3\x00"
_SIDECARS = ("-wal", "-shm", "-journal")

_WRITABLE_PRAGMAS = frozenset(
    "foreign_keys journal_mode synchronous cache_size temp_store locking_mode auto_vacuum page_size encoding "
    "user_version wal_autocheckpoint busy_timeout query_only recursive_triggers secure_delete".split()
)
_READABLE_PRAGMAS = _WRITABLE_PRAGMAS | frozenset(
    "schema_version table_info index_list index_info database_list".split()
)
_PRAGMA_TEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _read(con: apsw.Connection, sql: str, bindings: Bindings) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a query; no names when there are no rows."""
    cursor = con.execute(sql, bindings)
    try:
        names = [d[0] for d in cursor.description]
    except apsw.ExecutionCompleteError:
        return [], []
    return names, cursor.fetchall()


# Statements that open or end a transaction behind the store's back (its bookkeeping would roll them back).
_TRANSACTION_CONTROL = re.compile(
    r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b",
    re.IGNORECASE | re.DOTALL,
)


class SQLMixin:
    """The SQL helpers of ``NanaSQLite``: raw SQL, schema, rows, utilities, backup and restore."""

    __slots__ = ()

    if TYPE_CHECKING:
        _conn: Connection
        _lock: Any
        _options: Options
        _kv: KVTable

        def _check(self) -> None: ...
        def __setitem__(self, key: str, value: Any) -> None: ...

    # -- plumbing -------------------------------------------------------------------------------------------

    def _sql(self, fn: Callable[[apsw.Connection], _T], doing: str, writes: str | None = None) -> _T:
        """Run ``fn`` on the connection under the store's lock; APSW errors become NanaSQLiteDatabaseError.

        ``writes``: the quoted name of the table ``fn`` may write; the caches are dropped first if it is the
        key-value table of a store on this connection.
        """
        with self._lock:
            self._check()
            con = self._conn.check()
            if writes is not None:
                self._before_write(writes)
            try:
                return fn(con)
            except apsw.Error as exc:
                raise database_error(exc, doing) from exc

    def _policy(
        self,
        strict: bool | None = None,
        allowed: Iterable[str] | None = None,
        forbidden: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> Policy:
        return sqlsafety.make_policy(self._options, strict, allowed, forbidden, override_allowed)

    def _table_sql(self, table_name: object) -> str:
        """The quoted table name; ``None`` is this store's own table."""
        if table_name is None:
            return quote_identifier(self._kv.name)
        return validate_identifier(table_name, "table name")

    def _before_write(self, table_sql: str) -> None:
        """Before a write to ``table_sql`` (under the lock): drop the caches if it is the key-value table of an
        open store."""
        name = fold(table_sql[1:-1].replace('""', '"'))
        if any(fold(store._kv.name) == name for store in self._conn.live_stores()):
            self._conn.invalidate_caches()

    def _cursor(self, con: apsw.Connection, sql: object, parameters: object) -> apsw.Cursor:
        if not isinstance(sql, str):
            raise NanaSQLiteValidationError(f"sql must be a str, not {type(sql).__name__}")
        bindings = None if parameters is None else sqlsafety.bindings(parameters)
        conn = self._conn

        # Called before each statement runs (also the later statements of a script, run while the caller
        # iterates): anything that may write can have changed a key-value table behind the caches.
        def trace(cursor: apsw.Cursor, statement: str, values: Any) -> bool:
            if _TRANSACTION_CONTROL.match(statement):
                raise NanaSQLiteTransactionError(
                    "execute() does not run BEGIN, COMMIT, ROLLBACK, SAVEPOINT or RELEASE: the store must know "
                    "about transactions, so use db.transaction(), or begin_transaction(), commit() and rollback()"
                )
            if not cursor.is_readonly:
                conn.invalidate_caches()
            return True

        cursor = con.cursor()
        cursor.exec_trace = trace
        return cursor.execute(sql, bindings)

    # -- raw SQL --------------------------------------------------------------------------------------------

    def execute(self, sql: str, parameters: Params = None) -> apsw.Cursor:
        """Run any SQL with bound ``parameters`` and return the APSW cursor."""
        self._check()
        return self._sql(lambda con: self._cursor(con, sql, parameters), "execute")

    def execute_many(self, sql: str, parameters_list: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
        """Run ``sql`` once per parameter set, atomically: if one fails, none is kept."""
        self._check()
        if not isinstance(sql, str):
            raise NanaSQLiteValidationError(f"sql must be a str, not {type(sql).__name__}")
        if isinstance(parameters_list, (str, bytes)) or not isinstance(parameters_list, Iterable):
            raise NanaSQLiteValidationError("parameters_list must be a list of parameter sequences")
        rows = [sqlsafety.bindings(p, "each parameter set") for p in parameters_list]
        self._many(sql, rows, None)

    def _many(self, sql: str, rows: list[Bindings], table_sql: str | None) -> None:
        conn = self._conn
        dropped = table_sql is not None  # else the trace drops the caches before the first statement that may write

        def trace(cursor: apsw.Cursor, statement: str, values: Any) -> bool:
            nonlocal dropped
            if not dropped and not cursor.is_readonly:
                conn.invalidate_caches()
                dropped = True
            return True

        def run(con: apsw.Connection) -> None:
            cursor = con.cursor()
            cursor.exec_trace = trace
            with conn.atomic():
                cursor.executemany(sql, rows).fetchall()

        self._sql(run, "execute_many", writes=table_sql)

    def fetch_one(self, sql: str, parameters: Params = None) -> tuple[Any, ...] | None:
        """The first row of a query, or ``None``."""
        self._check()

        def run(con: apsw.Connection) -> tuple[Any, ...] | None:
            cursor = self._cursor(con, sql, parameters)
            row: tuple[Any, ...] | None = cursor.fetchone()
            cursor.close()  # ends the statement, so no read transaction stays open
            return row

        return self._sql(run, "fetch_one")

    def fetch_all(self, sql: str, parameters: Params = None) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        self._check()
        return self._sql(lambda con: self._cursor(con, sql, parameters).fetchall(), "fetch_all")

    # -- schema ---------------------------------------------------------------------------------------------

    def create_table(
        self,
        table_name: str,
        columns: Mapping[str, str],
        if_not_exists: bool = True,
        primary_key: str | None = None,
    ) -> None:
        """Create a table from ``{column: "TYPE constraints"}``."""
        self._check()
        table = validate_identifier(table_name, "table name")
        if not isinstance(columns, Mapping) or not columns:
            raise NanaSQLiteValidationError("columns must be a non-empty dict of {name: type}")
        policy = self._policy(strict=True)
        defs, declared_pk = [], {}
        for name, column_type in columns.items():
            quoted = validate_identifier(name, "column name")
            column = sqlsafety.validate_column_def(column_type, name, policy)
            defs.append(f"{quoted} {column.sql}".rstrip())
            declared_pk[fold(quoted)] = column.primary_key
        if primary_key is not None:
            pk = validate_identifier(primary_key, "primary key")
            if fold(pk) not in declared_pk:
                raise NanaSQLiteValidationError(f"primary_key {primary_key!r} is not one of the columns")
            if not declared_pk[fold(pk)]:
                defs.append(f"PRIMARY KEY ({pk})")
        guard = "IF NOT EXISTS " if if_not_exists else ""
        sql = f"CREATE TABLE {guard}{table} ({', '.join(defs)})"
        self._sql(lambda con: con.execute(sql).fetchall(), "create_table")

    def create_index(
        self,
        index_name: str,
        table_name: str,
        columns: Sequence[str],
        unique: bool = False,
        if_not_exists: bool = True,
    ) -> None:
        """Create an index on plain columns."""
        self._check()
        index = validate_identifier(index_name, "index name")
        table = validate_identifier(table_name, "table name")
        cols = ", ".join(validate_identifier(c, "column name") for c in sqlsafety.name_list(columns, "columns"))
        guard = "IF NOT EXISTS " if if_not_exists else ""
        sql = f"CREATE {'UNIQUE ' if unique else ''}INDEX {guard}{index} ON {table} ({cols})"
        self._sql(lambda con: con.execute(sql).fetchall(), "create_index")

    def drop_table(self, table_name: str, if_exists: bool = True) -> None:
        self._check()
        table = validate_identifier(table_name, "table name")
        sql = f"DROP TABLE {'IF EXISTS ' if if_exists else ''}{table}"
        self._sql(lambda con: con.execute(sql).fetchall(), "drop_table", writes=table)

    def drop_index(self, index_name: str, if_exists: bool = True) -> None:
        self._check()
        index = validate_identifier(index_name, "index name")
        sql = f"DROP INDEX {'IF EXISTS ' if if_exists else ''}{index}"
        self._sql(lambda con: con.execute(sql).fetchall(), "drop_index")

    def alter_table_add_column(self, table_name: str, column_name: str, column_type: str, default: Any = None) -> None:
        """Add a column; ``default`` (str, bool, int or float) becomes its literal default value."""
        self._check()
        table = validate_identifier(table_name, "table name")
        column = validate_identifier(column_name, "column name")
        definition = sqlsafety.validate_column_def(column_type, column_name, self._policy(strict=True)).sql
        sql = f"ALTER TABLE {table} ADD COLUMN {column} {definition}".rstrip()
        if default is not None:
            sql += f" DEFAULT {sqlsafety.default_literal(default)}"
        self._sql(lambda con: con.execute(sql).fetchall(), "alter_table_add_column")

    def get_table_schema(self, table_name: str | None = None) -> list[dict[str, Any]]:
        """The columns of a table (this store's own by default) as dicts: cid, name, type, notnull,
        default_value, pk."""
        self._check()
        sql = f"PRAGMA table_info({self._table_sql(table_name)})"
        rows = self._sql(lambda con: con.execute(sql).fetchall(), "get_table_schema")
        return [
            {"cid": c, "name": n, "type": t, "notnull": bool(nn), "default_value": d, "pk": bool(pk)}
            for c, n, t, nn, d, pk in rows
        ]

    def list_tables(self) -> list[str]:
        self._check()
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        return self._sql(lambda con: [r[0] for r in con.execute(sql)], "list_tables")

    def table_exists(self, table_name: str) -> bool:
        self._check()
        if not isinstance(table_name, str):
            raise NanaSQLiteValidationError(f"table name must be a str, not {type(table_name).__name__}")
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._sql(lambda con: con.execute(sql, (table_name,)).fetchone() is not None, "table_exists")

    def list_indexes(self, table_name: str | None = None) -> list[dict[str, Any]]:
        """The indexes (of one table, or all) created by SQL: name, table, sql."""
        self._check()
        if table_name is not None and not isinstance(table_name, str):
            raise NanaSQLiteValidationError(f"table name must be a str, not {type(table_name).__name__}")
        sql = "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"
        args: tuple[str, ...] = ()
        if table_name:
            sql, args = sql + " AND tbl_name = ?", (table_name,)
        rows = self._sql(lambda con: con.execute(sql + " ORDER BY name", args).fetchall(), "list_indexes")
        return [{"name": r[0], "table": r[1], "sql": r[2]} for r in rows if not str(r[0]).startswith("sqlite_")]

    # -- rows -----------------------------------------------------------------------------------------------

    def sql_insert(self, table_name: str, data: Mapping[str, Any]) -> int:
        """Insert one row; return its rowid. An empty dict inserts the column defaults."""
        self._check()
        table = validate_identifier(table_name, "table name")
        columns, values = sqlsafety.row(data)
        if columns:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        else:
            sql = f"INSERT INTO {table} DEFAULT VALUES"

        def run(con: apsw.Connection) -> int:
            con.execute(sql, values).fetchall()
            return int(con.last_insert_rowid())

        return self._sql(run, "sql_insert", writes=table)

    def sql_update(self, table_name: str, data: Mapping[str, Any], where: str, parameters: Params = None) -> int:
        """Set the columns of ``data`` in the rows matching ``where``; return how many rows changed."""
        self._check()
        table = validate_identifier(table_name, "table name")
        columns, values = sqlsafety.row(data)
        if not columns:
            raise NanaSQLiteValidationError("data must name at least one column")
        tokens = sqlsafety.validate_expression(where, "where clause", self._policy())
        bindings = sqlsafety.bindings(parameters)
        if isinstance(bindings, dict):
            sets = [
                f"{c} = {sqlsafety.bind(bindings, f'nanasqlite_set_{i}', v)}"
                for i, (c, v) in enumerate(zip(columns, values, strict=True))
            ]
        else:
            # Our SET placeholders come first in the text and take numbers 1..n, so "?NNN" in the caller's
            # where would silently refer to them.
            if any(t.kind == sqlsafety.PARAM and t.text[0] == "?" and len(t.text) > 1 for t in tokens):
                raise NanaSQLiteValidationError(
                    "numbered parameters (?1, ?2, ...) cannot be used in sql_update's where; use ? or :name"
                )
            sets, bindings = [f"{c} = ?" for c in columns], values + bindings
        return self._changes(f"UPDATE {table} SET {', '.join(sets)} WHERE {where}", bindings, table, "sql_update")

    def sql_delete(self, table_name: str, where: str, parameters: Params = None) -> int:
        """Delete the rows matching ``where``; return how many were deleted."""
        self._check()
        table = validate_identifier(table_name, "table name")
        sqlsafety.validate_expression(where, "where clause", self._policy())
        return self._changes(f"DELETE FROM {table} WHERE {where}", sqlsafety.bindings(parameters), table, "sql_delete")

    def _changes(self, sql: str, bindings: Bindings, table: str, doing: str) -> int:
        def run(con: apsw.Connection) -> int:
            con.execute(sql, bindings).fetchall()
            return int(con.changes())

        return self._sql(run, doing, writes=table)

    def upsert(
        self, table_name: str | Any = None, data: Any = None, conflict_columns: Sequence[str] | None = None
    ) -> int | None:
        """Insert or replace a row: ``upsert(table, row_dict)`` when ``table`` names an existing table,
        else ``upsert(key, value)`` stores a key-value pair (as 1.6); ``upsert(row_dict)`` writes this
        store's own table.

        With ``conflict_columns`` a conflicting row is updated in place (``ON CONFLICT ... DO UPDATE``)
        instead of replaced. Returns the rowid of the row written (0 when nothing was written).
        """
        self._check()
        if (
            isinstance(table_name, str)
            and isinstance(data, dict)
            and sqlsafety.is_identifier(table_name)
            and self.table_exists(table_name)
        ):
            return self._upsert_row(validate_identifier(table_name, "table name"), data, conflict_columns)
        if table_name is not None and data is not None:
            self[table_name] = data
            return None
        if isinstance(table_name, dict) and data is None:
            return self._upsert_row(quote_identifier(self._kv.name), table_name, conflict_columns)
        raise NanaSQLiteValidationError("upsert() takes (table_name, data), (key, value) or (data,)")

    def _upsert_row(self, table: str, data: Mapping[str, Any], conflict_columns: Sequence[str] | None) -> int:
        columns, values = sqlsafety.row(data)
        if not columns:
            raise NanaSQLiteValidationError("data must name at least one column")
        keys = []
        if conflict_columns:
            names = sqlsafety.name_list(conflict_columns, "conflict_columns")
            keys = [validate_identifier(c, "conflict column") for c in names]
        updates = [f"{c} = excluded.{c}" for c in columns if fold(c) not in {fold(k) for k in keys}]
        sql = f"INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        if not keys:
            sql = "INSERT OR REPLACE " + sql
        else:
            action = f"UPDATE SET {', '.join(updates)}" if updates else "NOTHING"
            sql = f"INSERT {sql} ON CONFLICT ({', '.join(keys)}) DO {action}"

        def run(con: apsw.Connection) -> int:
            if keys and updates:
                # The update branch does not set last_insert_rowid(): ask for the row's own rowid.
                try:
                    return cast(int, con.execute(sql + " RETURNING rowid", values).fetchall()[0][0])
                except apsw.SQLError as exc:
                    if "rowid" not in str(exc):  # else a WITHOUT ROWID table: there is no rowid to return
                        raise
            before = con.total_changes()
            con.execute(sql, values).fetchall()
            return int(con.last_insert_rowid()) if con.total_changes() != before else 0

        return self._sql(run, "upsert", writes=table)

    def import_from_dict_list(self, table_name: str, data_list: Iterable[Mapping[str, Any]]) -> int:
        """Insert many rows atomically; return how many. Every key of any row is a column; a row without
        it gets NULL there."""
        self._check()
        table = validate_identifier(table_name, "table name")
        if isinstance(data_list, (str, bytes, Mapping)) or not isinstance(data_list, Iterable):
            raise NanaSQLiteValidationError("data_list must be a list of dicts")
        rows = list(data_list)
        if not rows:
            return 0
        for row in rows:
            if not isinstance(row, Mapping):
                raise NanaSQLiteValidationError(f"data_list must hold dicts, not {type(row).__name__}")
        names = list(dict.fromkeys(k for row in rows for k in row))
        columns = [validate_identifier(c, "column name") for c in names]
        params: list[Bindings] = []
        for row in rows:
            values = [row.get(name) for name in names]
            for name, value in zip(names, values, strict=True):
                sqlsafety.check_value(name, value)
            params.append(values)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self._many(sql, params, table)
        return len(rows)

    def export_table_to_dict(self, table_name: str) -> list[dict[str, Any]]:
        """Every row of a table as a dict."""
        if table_name is None:
            raise NanaSQLiteValidationError("table_name is required")
        return self.query_with_pagination(table_name)

    # -- queries --------------------------------------------------------------------------------------------

    def query(
        self,
        table_name: str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        parameters: Params = None,
        order_by: str | None = None,
        limit: int | None = None,
        strict_sql_validation: bool | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> list[dict[str, Any]]:
        """``SELECT`` rows as dicts (this store's own table by default)."""
        return self.query_with_pagination(
            table_name, columns, where, parameters, order_by, limit, None, None,
            strict_sql_validation, allowed_sql_functions, forbidden_sql_functions, override_allowed,
        )  # fmt: skip

    def query_with_pagination(
        self,
        table_name: str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        parameters: Params = None,
        order_by: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        group_by: str | None = None,
        strict_sql_validation: bool | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> list[dict[str, Any]]:
        """``query`` with ``offset`` and ``group_by``."""
        self._check()
        table = self._table_sql(table_name)
        policy = self._policy(strict_sql_validation, allowed_sql_functions, forbidden_sql_functions, override_allowed)
        sql, keys = self._select_list(columns, policy)
        sql += f" FROM {table}"
        for clause, text in (("WHERE", where), ("GROUP BY", group_by), ("ORDER BY", order_by)):
            if text is not None and text != "":
                sqlsafety.validate_expression(text, f"{clause.lower().replace(' ', '_')} clause", policy)
                sql += f" {clause} {text}"
        bindings = sqlsafety.bindings(parameters)
        if limit is not None or offset is not None:
            n = -1 if limit is None else sqlsafety.non_negative_int(limit, "limit")
            sql += f" LIMIT {sqlsafety.bind(bindings, 'nanasqlite_limit', n)}"
            if offset is not None:
                skip = sqlsafety.non_negative_int(offset, "offset")
                sql += f" OFFSET {sqlsafety.bind(bindings, 'nanasqlite_offset', skip)}"
        names, rows = self._sql(lambda con: _read(con, sql, bindings), "query")
        if keys is None or len(keys) != len(names):
            keys = names  # "*" or a list of expressions: SQLite's own names of the result columns
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _select_list(self, columns: Sequence[str] | None, policy: Policy) -> tuple[str, list[str] | None]:
        if columns is None:
            return "SELECT *", None
        columns = sqlsafety.name_list(columns, "columns")
        parts = []
        for column in columns:
            if isinstance(column, str) and sqlsafety.is_identifier(column):
                parts.append(f'"{column}"')
            else:
                sqlsafety.validate_expression(column, "column expression", policy)
                parts.append(column)
        return "SELECT " + ", ".join(parts), [sqlsafety.result_key(c) for c in columns]

    def count(
        self,
        table_name: str | None = None,
        where: str | None = None,
        parameters: Params = None,
        strict_sql_validation: bool | None = None,
        allowed_sql_functions: Iterable[str] | None = None,
        forbidden_sql_functions: Iterable[str] | None = None,
        override_allowed: bool = False,
    ) -> int:
        """The number of rows (matching ``where``)."""
        self._check()
        sql = f"SELECT COUNT(*) FROM {self._table_sql(table_name)}"
        if where is not None and where != "":
            policy = self._policy(
                strict_sql_validation, allowed_sql_functions, forbidden_sql_functions, override_allowed
            )
            sqlsafety.validate_expression(where, "where clause", policy)
            sql += f" WHERE {where}"
        bindings = sqlsafety.bindings(parameters)
        return cast(int, self._sql(lambda con: con.execute(sql, bindings).fetchall()[0][0], "count"))

    def exists(self, table_name: str, where: str, parameters: Params = None) -> bool:
        """Whether any row matches ``where``."""
        self._check()
        table = validate_identifier(table_name, "table name")
        sqlsafety.validate_expression(where, "where clause", self._policy())
        sql = f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {where})"
        bindings = sqlsafety.bindings(parameters)
        return bool(self._sql(lambda con: con.execute(sql, bindings).fetchall()[0][0], "exists"))

    # -- utilities ------------------------------------------------------------------------------------------

    def vacuum(self) -> None:
        """Rebuild the file to reclaim free pages (not possible inside a transaction)."""
        self._check()
        with self._lock:
            if self._conn.depth:
                raise NanaSQLiteTransactionError("vacuum() cannot run inside a transaction")
            self._sql(lambda con: con.execute("VACUUM").fetchall(), "vacuum")

    def pragma(self, pragma_name: str, value: Any = None) -> Any:
        """Read a PRAGMA (``value=None``) or set a writable one. Only an allow-list of names is accepted."""
        self._check()
        if not isinstance(pragma_name, str) or pragma_name.lower() not in _READABLE_PRAGMAS:
            raise NanaSQLiteValidationError(
                f"PRAGMA {pragma_name!r} is not allowed. Allowed: {', '.join(sorted(_READABLE_PRAGMAS))}"
            )
        name = pragma_name.lower()
        if value is None:
            rows = self._sql(lambda con: con.execute(f"PRAGMA {name}").fetchall(), "pragma")
            return rows[0][0] if rows else None
        if name not in _WRITABLE_PRAGMAS:
            raise NanaSQLiteValidationError(f"PRAGMA {name!r} is read-only here")
        if isinstance(value, bool):
            literal = "1" if value else "0"
        elif isinstance(value, int):
            literal = int.__repr__(value)
        elif isinstance(value, float) and math.isfinite(value):
            literal = float.__repr__(value)
        elif isinstance(value, str) and value and set(value) <= _PRAGMA_TEXT:
            literal = f"'{value}'"
        else:
            raise NanaSQLiteValidationError(messages.pragma_value(value))
        self._sql(lambda con: con.execute(f"PRAGMA {name} = {literal}").fetchall(), "pragma")
        return None

    def get_db_size(self) -> int:
        """The size of the database file in bytes (0 for an in-memory database)."""
        self._check()
        filename = self._sql(lambda con: con.db_filename("main"), "get_db_size")
        return os.path.getsize(filename) if filename else 0

    def get_last_insert_rowid(self) -> int:
        self._check()
        return self._sql(lambda con: int(con.last_insert_rowid()), "get_last_insert_rowid")

    def get_by_path(self, key: str, path: str) -> Any:
        """The part of a stored value at a JSON path, or ``None`` when the key or the path is absent.

        ``"a.b[0]"`` means ``"$.a.b[0]"``; strings stay strings (1.6 returned ``"123"`` as ``123``).
        """
        self._check()
        if not isinstance(key, str):
            raise NanaSQLiteTypeError(f"keys must be str, not {type(key).__name__}")
        if not isinstance(path, str):
            raise NanaSQLiteValidationError(f"path must be a str, not {type(path).__name__}")
        if not path.startswith("$"):
            path = "$" + path if path.startswith("[") else "$." + path.lstrip(".")
        # "->" returns the JSON text of the part, which the codec decodes to the stored type; json_extract
        # returns SQL values, which turn a stored "123" into 123 once decoded again.
        text = self._sql(lambda con: self._kv.extract(con, key, path), "get_by_path")
        return None if text is None else codec.loads(text)

    # -- backup and restore ---------------------------------------------------------------------------------

    def backup(
        self,
        dest_path: str | os.PathLike[str] | bytes,
        *,
        verify: bool = True,
        flush: bool = True,
        allow_incomplete: bool = False,
    ) -> None:
        """Copy the committed database to ``dest_path`` while it stays in use (SQLite's online backup).

        The copy is written to a temporary file beside ``dest_path``, integrity checked (``verify``), synced
        and renamed over it, so ``dest_path`` is never left half written. Every write is committed when it
        returns, so ``flush`` and ``allow_incomplete`` (options of 1.6's background writer) change nothing.
        """
        self._check()
        dest = _file_path(dest_path, "dest_path")
        self._refuse_in_transaction("backup")
        conn = self._conn
        with self._lock:
            self._check()
            live = conn.check().db_filename("main")
            _refuse_live_file(dest, live, "dest_path")
            mode = self._sql(lambda con: con.execute("PRAGMA journal_mode").fetchall()[0][0], "backup")
            if mode != "wal":
                # Without WAL a second reader would make our own writers fail with SQLITE_BUSY: copy through
                # the live connection and let them wait on the lock instead.
                _write_copy(dest, conn.check(), verify, live)
                return
        # In WAL mode a separate read connection copies one committed snapshot while writers go on.
        try:
            source = apsw.Connection(live, flags=apsw.SQLITE_OPEN_READONLY)
        except apsw.Error as exc:
            raise database_error(exc, "backup") from exc
        try:
            source.set_busy_timeout(int(self._options.busy_timeout * 1000))
            _write_copy(dest, source, verify, live)
        finally:
            source.close()

    def restore(self, src_path: str | os.PathLike[str] | bytes) -> None:
        """Replace the database with the SQLite file ``src_path``.

        The source is copied and integrity checked before anything is touched: a corrupt or non-SQLite source
        raises ``NanaSQLiteDatabaseError`` and leaves the store as it was. Then the file is replaced (its
        ``-wal``/``-shm`` too), the connection reopened and the caches of every store on it dropped.
        """
        self._check()
        src = _file_path(src_path, "src_path")
        self._refuse_in_transaction("restore")
        conn = self._conn
        with self._lock:
            self._check()
            live = conn.check().db_filename("main")
        if not live:
            raise NanaSQLiteValidationError("restore() needs a database file; this store is in memory")
        _refuse_live_file(src, live, "src_path")
        snapshot = _snapshot(src, live)  # the slow part: other threads keep using the store meanwhile
        with self._lock:
            closed = False
            try:
                self._check()  # closed while the snapshot was taken?
                conn.check()
                conn.invalidate_caches()  # before the file changes (and again by reopen()): see the module's notes
                # Everything committed goes into the file itself, so the old file stays whole without its
                # sidecars until the rename; the sidecars must go before it, or SQLite would replay the old
                # WAL onto the new file.
                conn.apsw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                conn.close_apsw()
                closed = True
                _remove_sidecars(live)
                os.replace(snapshot, live)
                _fsync(os.path.dirname(live), directory=True)
            except BaseException as exc:
                _unlink(snapshot)
                if closed:
                    conn.reopen()
                if isinstance(exc, (apsw.Error, OSError)):
                    raise NanaSQLiteDatabaseError(f"restore failed: {exc}", original_error=exc) from exc
                raise
            conn.reopen()
            for store in conn.live_stores():
                KVTable(conn, store._kv.name)  # the restored file may lack a store's table

    def _refuse_in_transaction(self, what: str) -> None:
        # Another thread's transaction holds the lock, so we simply wait for it; only our own is an error.
        if self._conn.depth and self._conn.owner == threading.get_ident():
            raise NanaSQLiteTransactionError(f"{what}() cannot run inside a transaction; commit it first")


# -- files ---------------------------------------------------------------------------------------------------


def _file_path(path: object, what: str) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise NanaSQLiteValidationError(f"{what} must be a path, not {type(path).__name__}")
    text = os.fsdecode(path)
    if not isinstance(text, str) or text in ("", ":memory:") or text.startswith("file::memory:"):
        raise NanaSQLiteValidationError(f"{what} must be a file path, not {text!r}")
    return os.path.abspath(text)


def _refuse_live_file(path: str, live: str, what: str) -> None:
    if not live:
        return
    for candidate in (live,) + tuple(live + s for s in _SIDECARS):
        same = os.path.realpath(path) == os.path.realpath(candidate)
        if same or (os.path.exists(path) and os.path.exists(candidate) and os.path.samefile(path, candidate)):
            raise NanaSQLiteValidationError(f"{what} must not be the store's own database file {candidate!r}")


def _verify(con: apsw.Connection, label: str) -> None:
    rows = con.execute("PRAGMA integrity_check").fetchall()
    if [str(r[0]).strip().lower() for r in rows] != ["ok"]:
        details = "; ".join(str(r[0]) for r in rows[:5]) or "no result"
        raise NanaSQLiteDatabaseError(f"integrity check of the {label} failed: {details}")


def _write_copy(dest: str, source: apsw.Connection, verify: bool, mode_from: str) -> None:
    """Back ``source`` up into a temporary file beside ``dest``; check, sync and rename it over ``dest``."""
    directory, name = os.path.split(dest)
    tmp = None
    target = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        os.close(fd)
        target = apsw.Connection(tmp)
        with target.backup("main", source, "main") as job:
            job.step(-1)  # one step copies one consistent snapshot; small steps restart on every write
        if verify:
            _verify(target, "backup")
        target.close()
        target = None
        _copy_mode(dest if os.path.exists(dest) else mode_from, tmp)
        _fsync(tmp)
        _remove_sidecars(dest)  # a stale -wal of an old file at dest would be replayed onto the copy
        os.replace(tmp, dest)
        tmp = None
        _fsync(directory, directory=True)
    except (apsw.Error, OSError) as exc:
        raise NanaSQLiteDatabaseError(f"backup failed: {exc}", original_error=exc) from exc
    finally:
        if target is not None:
            target.close()
        if tmp is not None:
            _unlink(tmp)


def _snapshot(src: str, live: str) -> str:
    """A verified copy of the SQLite file ``src`` beside ``live``, ready to be renamed over it."""
    tmp = None
    source = target = None
    try:
        with open(src, "rb") as f:
            if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                raise NanaSQLiteDatabaseError(f"restore source {src!r} is not a SQLite database")
        directory, name = os.path.split(live)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.restore-", suffix=".tmp", dir=directory)
        os.close(fd)
        source = apsw.Connection(src, flags=apsw.SQLITE_OPEN_READONLY)
        target = apsw.Connection(tmp)
        with target.backup("main", source, "main") as job:
            job.step(-1)
        _verify(target, "restore source")
        target.close()
        target = None
        _copy_mode(live, tmp)
        _fsync(tmp)
        done, tmp = tmp, None
        return done
    except (apsw.Error, OSError) as exc:
        raise NanaSQLiteDatabaseError(f"cannot restore from {src!r}: {exc}", original_error=exc) from exc
    finally:
        for con in (target, source):
            if con is not None:
                con.close()
        if tmp is not None:
            _unlink(tmp)


def _copy_mode(src: str, dest: str) -> None:
    try:
        os.chmod(dest, stat.S_IMODE(os.stat(src).st_mode))
    except OSError:
        pass  # the temporary file keeps its private mode


def _fsync(path: str, directory: bool = False) -> None:
    """Flush a file, or a directory's entries after a rename, to disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        if not directory:
            raise
        # Not every platform can open or sync a directory (Windows); the rename is atomic all the same.


def _remove_sidecars(path: str) -> None:
    for suffix in _SIDECARS:
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


def _unlink(path: str) -> None:
    for name in (path,) + tuple(path + s for s in _SIDECARS):
        try:
            os.unlink(name)
        except OSError:
            pass
