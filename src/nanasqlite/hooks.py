"""Ready-made hooks (the names of the 1.6 package): checks, uniqueness, references, pydantic and validkit schemas.

>>> from nanasqlite import NanaSQLite, CheckHook
>>> with NanaSQLite(":memory:") as db:
...     db.add_hook(CheckHook(lambda key, value: value >= 0, "must not be negative"))
...     db["stock"] = 3
...     try:
...         db["stock"] = -1
...     except ValueError as exc:
...         print(exc)
must not be negative

Every hook takes ``key_pattern=`` (a regular expression searched in the key) and ``key_filter=`` (a callable on
the key) to choose the keys it sees. Patterns whose matching time can explode on some keys (nested repeats such as
``(a+)+``, alternations inside repeats) are refused with ``NanaSQLiteValidationError``; with google-re2 installed
(``pip install nanasqlite[re2]``) patterns are matched in linear time by RE2 and every pattern RE2 takes is allowed.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from collections.abc import Callable
from typing import Any

import apsw

from .compat import HAS_VALIDKIT
from .exceptions import NanaSQLiteValidationError
from .storage import database_error, quote_identifier

__all__ = [
    "BaseHook",
    "CheckHook",
    "UniqueHook",
    "ForeignKeyHook",
    "PydanticHook",
    "ValidkitHook",
    "HAS_VALIDKIT",
    "HAS_RE2",
]

#: Whether validkit-py (the optional extra ``validation``) is installed; imported by the first ValidkitHook.

_re2: Any = None
try:  # google-re2, the optional extra [re2]: linear-time matching
    _re2 = importlib.import_module("re2")
except ImportError:
    pass
HAS_RE2 = _re2 is not None

try:
    _sre: Any = importlib.import_module("re._parser")
except ImportError:  # Python 3.10
    _sre = importlib.import_module("sre_parse")

_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")

#: The message of a refused duplicate, as in 1.6.
UNIQUE_MESSAGE = "Unique constraint violation: duplicate value detected"
#: Index names of UniqueHook start with this; a constraint error naming one is a refused duplicate.
UNIQUE_INDEX_PREFIX = "nana_unique_"


def _explosive(items: Any) -> bool:
    """Whether a parsed pattern has a repeat whose body can match one text in several ways: a body of varying
    width (``(a+)+``, ``(a|aa)*``), or one with an alternation or a back reference (``(ab|ab)*``). A
    backtracking engine tries those ways combinatorially on a key that almost matches."""
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            _low, high, body = arg
            if high > 1:
                low_w, high_w = body.getwidth()
                if low_w != high_w or _branchy(body):
                    return True
            if _explosive(body):
                return True
        else:
            for child in _children(name, arg):
                if _explosive(child):
                    return True
    return False


def _branchy(items: Any) -> bool:
    for op, arg in items:
        name = str(op)
        if name in ("BRANCH", "GROUPREF", "GROUPREF_EXISTS"):
            return True
        body = arg[2] if name in _REPEATS else None
        for child in [body] if body is not None else _children(name, arg):
            if _branchy(child):
                return True
    return False


def _children(name: str, arg: Any) -> list[Any]:
    if name == "SUBPATTERN":
        return [arg[-1]]
    if name == "BRANCH":
        return list(arg[1])
    if name in ("ASSERT", "ASSERT_NOT"):
        return [arg[1]]
    if name == "ATOMIC_GROUP":
        return [arg]
    if name == "GROUPREF_EXISTS":
        return [part for part in arg[1:] if part is not None]
    return []


def compile_key_pattern(pattern: str | re.Pattern[str]) -> Any:
    """A compiled pattern with a ``search`` method: RE2 when installed and it takes the pattern, else ``re``
    once the pattern is known not to backtrack explosively."""
    source, flags = (pattern.pattern, pattern.flags) if isinstance(pattern, re.Pattern) else (pattern, 0)
    if not isinstance(source, str):
        raise NanaSQLiteValidationError(f"key_pattern must be a str or re.Pattern, not {type(pattern).__name__}")
    if _re2 is not None and not flags & ~re.UNICODE:
        try:
            return _re2.compile(source)
        except Exception:  # a feature RE2 lacks (back references, look-arounds): checked below like any pattern
            pass
    try:
        parsed = _sre.parse(source, flags)
    except re.error as exc:
        raise NanaSQLiteValidationError(f"invalid key_pattern {source!r}: {exc}") from exc
    if _explosive(parsed):
        raise NanaSQLiteValidationError(
            f"key_pattern {source!r} may take exponential time on some keys (a repeat around a part that can "
            "match in several ways); rewrite it, use key_filter=, or install google-re2 "
            "(pip install nanasqlite[re2]) for linear-time matching"
        )
    return pattern if isinstance(pattern, re.Pattern) else re.compile(source)


class BaseHook:
    """A hook that does nothing: subclass it and override what you need. ``key_pattern`` / ``key_filter``
    choose the keys it applies to (``_should_run``); ``re_fallback`` is accepted for 1.6 and has no effect."""

    def __init__(
        self,
        key_pattern: str | re.Pattern[str] | None = None,
        key_filter: Callable[[str], bool] | None = None,
        re_fallback: bool = False,
    ) -> None:
        if key_filter is not None and not callable(key_filter):
            raise NanaSQLiteValidationError("key_filter must be callable")
        self._key_regex = None if key_pattern is None else compile_key_pattern(key_pattern)
        self._key_filter = key_filter

    def _should_run(self, key: str) -> bool:
        """Whether this hook applies to ``key``."""
        if self._key_regex is not None and self._key_regex.search(key) is None:
            return False
        return self._key_filter is None or bool(self._key_filter(key))

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        return value

    def validate_batch_write(self, db: Any, mapping: dict[str, Any]) -> None:
        """Check a batch as a whole (after ``before_write`` of each value); raise to refuse all of it."""

    def on_write_success(self, db: Any, key: str, value: Any, old_value: Any) -> None:
        pass

    def after_read(self, db: Any, key: str, value: Any) -> Any:
        return value

    def before_delete(self, db: Any, key: str) -> None:
        pass

    def on_delete_success(self, db: Any, key: str, old_value: Any) -> None:
        pass


class CheckHook(BaseHook):
    """Refuse values for which ``check_func(key, value)`` is false, with ``error_msg``."""

    def __init__(
        self, check_func: Callable[[str, Any], bool], error_msg: str = "Check constraint failed", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not callable(check_func):
            raise NanaSQLiteValidationError("check_func must be callable")
        self.check_func = check_func
        self.error_msg = error_msg

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        if self._should_run(key) and not self.check_func(key, value):
            raise NanaSQLiteValidationError(self.error_msg)
        return value


class UniqueHook(BaseHook):
    """No two keys may hold dicts with the same value in ``field`` (``None`` and missing fields are exempt).

    With a field name, SQLite enforces it: a UNIQUE index on the field's JSON value in this table, created when
    the hook is added. It holds across threads, tasks and processes, costs one index update per write, and lives
    in the file (drop it with ``db.drop_index(hook.index_name(db))``). With a callable ``field(key, value)``, or
    on a store whose values SQL cannot read, an in-memory index of this process does it instead. ``use_index``
    is accepted for 1.6: an index is always used.
    """

    def __init__(self, field: str | Callable[[str, Any], Any], use_index: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(field) and (not isinstance(field, str) or not field):
            raise NanaSQLiteValidationError("field must be a non-empty str or a callable(key, value)")
        self.field = field
        self.use_index = use_index
        self._memory_lock = threading.RLock()
        self._claims: dict[tuple[int, str], dict[Any, str]] = {}  # (connection, table) -> {field value: key}

    # -- which way --------------------------------------------------------------------------------------------

    def _in_sql(self, db: Any) -> bool:
        return isinstance(self.field, str) and '"' not in self.field and bool(getattr(db, "_sql_values", True))

    def _stages(self, db: Any) -> bool:
        """Whether the store must report each row written to ``db`` (``_staged_write``): the in-memory index."""
        return not self._in_sql(db)

    def index_name(self, db: Any) -> str:
        """The name of this hook's index on ``db``'s table."""
        import hashlib  # only for UniqueHook: kept off the import of the package

        digest = hashlib.sha1(f"{db._kv.name}\0{self.field}".encode()).hexdigest()[:16]
        return f"{UNIQUE_INDEX_PREFIX}{digest}"

    def _bind(self, db: Any) -> None:
        """Called by the store when the hook is added (and after ``restore``): create the index."""
        if not self._in_sql(db):
            self.invalidate_index()
            return
        if db._conn.readonly:
            return
        path = "$." + '"' + str(self.field).replace("'", "''") + '"'
        expression = f"(CASE WHEN json_valid(value) THEN json_extract(value, '{path}') END)"
        sql = (
            f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_identifier(self.index_name(db))} "
            f"ON {quote_identifier(db._kv.name)} {expression}"
        )
        with db._lock:
            try:
                db._conn.check().execute(sql)
            except apsw.ConstraintError as exc:
                raise NanaSQLiteValidationError(
                    f"UniqueHook({self.field!r}): table {db._kv.name!r} already holds duplicate values of the field"
                ) from exc
            except apsw.Error as exc:
                raise database_error(exc, "create the index of UniqueHook") from exc

    # -- the in-memory index (callable field) -------------------------------------------------------------------

    def invalidate_index(self) -> None:
        """Forget the in-memory index; it is rebuilt from the table on the next write."""
        with self._memory_lock:
            self._claims.clear()

    def _extract(self, key: str, value: Any) -> Any:
        if callable(self.field):
            return self.field(key, value)
        return value.get(self.field) if isinstance(value, dict) else None

    def _claims_of(self, db: Any) -> dict[Any, str]:
        where = (id(db._conn), db._kv.name)
        claims = self._claims.get(where)
        if claims is None:
            claims = {}
            for key, value in db._stored_items():
                if self._should_run(key):
                    found = self._extract(key, value)
                    if found is not None:
                        claims[found] = key
            self._claims[where] = claims
        return claims

    def _taken(self, db: Any, key: str, found: Any) -> bool:
        try:
            holder = self._claims_of(db).get(found)
        except TypeError as exc:
            raise NanaSQLiteValidationError(f"UniqueHook: the field of key {key!r} is not hashable") from exc
        return holder is not None and holder != key

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        if self._in_sql(db) or not self._should_run(key):
            return value  # SQLite's index decides, when the row is written
        found = self._extract(key, value)
        if found is not None:
            with self._memory_lock:
                if self._taken(db, key, found):
                    raise NanaSQLiteValidationError(UNIQUE_MESSAGE)
        return value

    def validate_batch_write(self, db: Any, mapping: dict[str, Any]) -> None:
        if self._in_sql(db):
            return
        seen: dict[Any, str] = {}
        with self._memory_lock:
            for key, value in mapping.items():
                if not self._should_run(key):
                    continue
                found = self._extract(key, value)
                if found is None:
                    continue
                try:
                    twin = seen.setdefault(found, key)
                except TypeError as exc:
                    raise NanaSQLiteValidationError(f"UniqueHook: the field of key {key!r} is not hashable") from exc
                holder = self._claims_of(db).get(found)
                if twin != key or (holder is not None and holder != key and holder not in mapping):
                    raise NanaSQLiteValidationError(UNIQUE_MESSAGE)

    def _staged_write(self, db: Any, key: str, value: Any, old_value: Any) -> None:
        """The row is written (maybe not committed yet: a rollback calls ``invalidate_index``)."""
        if self._in_sql(db) or not self._should_run(key):
            return
        with self._memory_lock:
            where = (id(db._conn), db._kv.name)
            claims = self._claims.get(where)
            if claims is None:
                return  # built from the table when next needed
            self._release(claims, key, old_value)
            found = self._extract(key, value)
            if found is not None:
                claims[found] = key

    def _staged_delete(self, db: Any, key: str, old_value: Any) -> None:
        if self._in_sql(db) or not self._should_run(key):
            return
        with self._memory_lock:
            claims = self._claims.get((id(db._conn), db._kv.name))
            if claims is not None:
                self._release(claims, key, old_value)

    def _release(self, claims: dict[Any, str], key: str, old_value: Any) -> None:
        if old_value is None:
            return
        found = self._extract(key, old_value)
        if found is not None and claims.get(found) == key:
            del claims[found]


class ForeignKeyHook(BaseHook):
    """The key named by ``field`` (a dict field, or ``field(key, value)``) must exist in ``target_db``.

    Checked under this store's lock: when ``target_db`` is a sub-table of the same file (or the same store) no
    thread of this process can delete the target in between; another process can (use SQLite foreign keys for
    that)."""

    def __init__(self, field: str | Callable[[str, Any], Any], target_db: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.field = field
        self.target_db = target_db

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        if not self._should_run(key):
            return value
        if callable(self.field):
            ref = self.field(key, value)
        elif isinstance(value, dict) and self.field in value:
            ref = value[self.field]
        else:
            return value
        if ref is None:
            return value
        target = self.target_db
        sync = getattr(target, "sync_db", None)  # an AsyncNanaSQLite: its sync store answers (on this thread)
        if sync is not None and not hasattr(target, "__contains__"):
            target = sync
        if ref not in target:
            raise NanaSQLiteValidationError("Foreign key constraint violation: referenced key not found")
        return value


class PydanticHook(BaseHook):
    """Store ``model_class`` instances (or anything it validates) as its JSON-mode dump; read them back as
    instances. A value the model refuses raises ``NanaSQLiteValidationError``; a stored value it refuses is
    returned as stored."""

    def __init__(self, model_class: type, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not hasattr(model_class, "model_validate"):
            raise NanaSQLiteValidationError(f"{model_class!r} is not a pydantic model class")
        self.model_class = model_class

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        if not self._should_run(key):
            return value
        try:
            cls: Any = self.model_class
            model: Any = value if isinstance(value, cls) else cls.model_validate(value)
            return model.model_dump(mode="json")
        except (ValueError, TypeError, AttributeError) as exc:
            raise NanaSQLiteValidationError(f"Model validation failed for key {key!r}: {exc}") from exc

    def after_read(self, db: Any, key: str, value: Any) -> Any:
        if not self._should_run(key):
            return value
        try:
            cls: Any = self.model_class
            return cls.model_validate(value)
        except (ValueError, TypeError, AttributeError):
            return value


class ValidkitHook(BaseHook):
    """Validate values against a validkit-py ``schema`` (``pip install nanasqlite[validation]``); with
    ``coerce=True`` store what validkit returns (converted types, defaults filled in)."""

    _is_validkit_hook = True

    def __init__(self, schema: Any, coerce: bool = False, **kwargs: Any) -> None:
        if not HAS_VALIDKIT:
            raise ImportError(
                "The 'validkit-py' library is required for validation. "
                "Install it with: pip install nanasqlite[validation]"
            )
        super().__init__(**kwargs)
        self.schema = schema
        self.coerce = bool(coerce)
        self._validate: Any = importlib.import_module("validkit").validate

    def before_write(self, db: Any, key: str, value: Any) -> Any:
        if not self._should_run(key):
            return value
        try:
            result = self._validate(value, self.schema)
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:
            raise NanaSQLiteValidationError(f"Schema validation failed for key {key!r}: {exc}") from exc
        return result if self.coerce else value


def is_hook(obj: object) -> bool:
    """Whether ``obj`` has at least one method of ``NanaHook``."""
    names = ("before_write", "on_write_success", "after_read", "before_delete", "on_delete_success")
    return not isinstance(obj, type) and any(callable(getattr(obj, n, None)) for n in names)
