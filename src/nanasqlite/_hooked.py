"""The store with hooks: a subclass the store switches to when its first hook is added (or ``hooks=`` /
``validator=`` is given), so that a store without hooks runs the plain code and pays nothing for them.

Where hooks run:

* ``before_write`` on every write path, under the store's lock, before anything is written: a batch runs it on
  every value (then each hook's ``validate_batch_write`` on the whole) before the batch kernel sees any, so one
  refusal writes nothing and the kernel's GIL-free phase is the plain one.
* ``on_write_success`` / ``on_delete_success`` once per key after COMMIT (``Connection.defer``); never for a
  write that is rolled back. Inside no transaction that is right after the write. Their errors are logged.
* ``after_read`` on every value returned to the caller. The cache keeps the stored form; when a hook has an
  ``after_read``, the store answers cache hits through ``_miss`` (its hot dict stays empty), as the LRU and TTL
  policies do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, cast

import apsw

from ._unstorable import refused_key, utf8_problem
from .cache import ABSENT
from .core import _NO_DEFAULT, NanaSQLite, _check_key
from .exceptions import NanaSQLiteDatabaseError, NanaSQLiteValidationError
from .hooks import UNIQUE_INDEX_PREFIX, UNIQUE_MESSAGE, BaseHook, ValidkitHook, is_hook
from .protocols import NanaHook
from .storage import encode_value

__all__ = ["HookedStore", "add_hooks", "child_hooks", "make_hooks"]

_log = logging.getLogger("nanasqlite.hooks")
_MISSING: Any = object()


def _has(hook: Any, name: str) -> bool:
    """Whether ``hook`` does something in ``name``: not a pass-through inherited from BaseHook or NanaHook."""
    method = getattr(type(hook), name, None)
    if method is None:
        return callable(getattr(hook, name, None))  # set on the instance
    return method is not getattr(BaseHook, name, None) and method is not getattr(NanaHook, name, None)


def _unique_error(exc: NanaSQLiteDatabaseError) -> NanaSQLiteValidationError | None:
    """The refusal of a duplicate when ``exc`` is the UNIQUE index of a UniqueHook failing."""
    if isinstance(exc.original_error, apsw.ConstraintError) and UNIQUE_INDEX_PREFIX in str(exc.original_error):
        return NanaSQLiteValidationError(UNIQUE_MESSAGE)
    return None


class HookedStore(NanaSQLite):
    """``NanaSQLite`` with hooks; see the module doc. Instances come from ``add_hooks``, never from the
    constructor (``type(db).__name__`` stays ``NanaSQLite``)."""

    _plain: type[NanaSQLite] = NanaSQLite
    _write_hooks: tuple[Any, ...] = ()
    _batch_hooks: tuple[Any, ...] = ()
    _delete_hooks: tuple[Any, ...] = ()
    _write_success: tuple[Any, ...] = ()
    _delete_success: tuple[Any, ...] = ()
    _staged: tuple[Any, ...] = ()

    # -- set-up -------------------------------------------------------------------------------------------

    def _sort_hooks(self) -> None:
        hooks = self._hooks
        self._write_hooks = tuple(h for h in hooks if _has(h, "before_write"))
        self._batch_hooks = tuple(h for h in hooks if callable(getattr(h, "validate_batch_write", None)))
        self._delete_hooks = tuple(h for h in hooks if _has(h, "before_delete"))
        self._write_success = tuple(h for h in hooks if _has(h, "on_write_success"))
        self._delete_success = tuple(h for h in hooks if _has(h, "on_delete_success"))
        # Hooks that keep an index of their own in memory (UniqueHook without SQL) hear of each row written.
        self._staged = tuple(h for h in hooks if callable(getattr(h, "_stages", None)) and h._stages(self))
        self._read_hooks = tuple(h for h in hooks if _has(h, "after_read"))
        # Cache hits must pass through after_read: the hot dict the compiled front and the async facade read
        # stays empty, and the class answers hits itself (ReadHookedStore).
        self._hot = {} if self._read_hooks else self._cache.hot
        self.__class__ = _hooked_class(self._plain, bool(self._read_hooks))

    def _bind_all(self) -> None:
        for hook in self._hooks:
            bind = getattr(hook, "_bind", None)
            if callable(bind):
                bind(self)

    # -- hook runners -------------------------------------------------------------------------------------

    def _read(self, key: str, value: Any) -> Any:
        for hook in self._read_hooks:
            value = hook.after_read(self, key, value)
        return value

    def _before(self, key: str, value: Any) -> Any:
        for hook in self._write_hooks:
            value = hook.before_write(self, key, value)
        return value

    def _stored_items(self) -> list[tuple[str, Any]]:
        """Every pair as stored (no after_read)."""
        return NanaSQLite.items(self)

    def _stored_many(self, keys: list[str]) -> dict[str, Any]:
        """The stored values of those ``keys`` that exist, read from the file (the caller holds the lock)."""
        return self._kv.get_many(list(dict.fromkeys(keys)), self._decode)

    def _old(self, key: str) -> Any:
        value = self._resolve(key)
        return None if value is ABSENT else value

    def _after(self, fire: partial[None], on_rollback: Any = None) -> None:
        """Run ``fire`` once what was just written is committed: now, or at the COMMIT of the open transaction."""
        conn = self._conn
        if conn.depth:
            conn.defer(fire, on_rollback)
        else:
            fire()

    def _wrote(self, pairs: Mapping[str, Any], olds: Mapping[str, Any]) -> None:
        """Pairs were written (committed unless a transaction is open)."""
        for hook in self._staged:
            for key, value in pairs.items():
                hook._staged_write(self, key, value, olds.get(key))
            if self._conn.depth:
                self._conn.defer(None, hook.invalidate_index)
        if self._write_success:
            self._after(partial(self._fire_writes, dict(pairs), dict(olds)))

    def _fire_writes(self, pairs: dict[str, Any], olds: dict[str, Any]) -> None:
        for key, value in pairs.items():
            for hook in self._write_success:
                try:
                    hook.on_write_success(self, key, value, olds.get(key))
                except Exception:
                    _log.exception("on_write_success of %r failed for key %r", hook, key)

    def _deleted(self, olds: Mapping[str, Any]) -> None:
        for hook in self._staged:
            for key, old in olds.items():
                hook._staged_delete(self, key, old)
            if self._conn.depth:
                self._conn.defer(None, hook.invalidate_index)
        if self._delete_success:
            self._after(partial(self._fire_deletes, dict(olds)))

    def _fire_deletes(self, olds: dict[str, Any]) -> None:
        for key, old in olds.items():
            for hook in self._delete_success:
                try:
                    hook.on_delete_success(self, key, old)
                except Exception:
                    _log.exception("on_delete_success of %r failed for key %r", hook, key)

    def _needs_old(self) -> bool:
        return bool(self._write_success or self._staged)

    # -- reads --------------------------------------------------------------------------------------------

    def _miss(self, key: str) -> Any:
        value = super()._miss(key)
        return self._read(key, value) if self._read_hooks else value

    def _miss_get(self, key: str, default: Any) -> Any:
        value = super()._miss_get(key, _MISSING)
        if value is _MISSING:
            return default
        return self._read(key, value) if self._read_hooks else value

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        pairs = super().items()
        if not self._read_hooks:
            return pairs
        return [(key, self._read(key, value)) for key, value in pairs]

    def iter_items(self, batch_size: int = 1000) -> Iterator[tuple[str, Any]]:
        for key, value in super().iter_items(batch_size):
            yield key, self._read(key, value)

    def _batch_get(self, keys: Iterable[str], snapshot: bool) -> dict[str, Any]:
        found = super()._batch_get(keys, snapshot)
        if not self._read_hooks:
            return found
        return {key: self._read(key, value) for key, value in found.items()}

    def get_fresh(self, key: str, default: Any = None) -> Any:
        value = super().get_fresh(key, _MISSING)
        return default if value is _MISSING else self._read(key, value)

    # -- writes -------------------------------------------------------------------------------------------

    def _put(self, key: str, value: Any) -> Any:
        """Write one pair through the hooks; return the value stored. Caller holds the lock."""
        old = self._old(key) if self._needs_old() else None
        value = self._before(key, value)
        try:
            NanaSQLite.__setitem__(self, key, value)
        except NanaSQLiteDatabaseError as exc:
            raise _unique_error(exc) or exc from None
        self._wrote({key: value}, {key: old})
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._check()
        _check_key(key)
        with self._lock:
            self._check()
            self._put(key, value)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._check()
        _check_key(key)
        with self._lock:
            self._check()
            value = self._resolve(key)
            if value is ABSENT:
                value = self._put(key, default)
        return self._read(key, value)

    def batch_update(self, mapping: Mapping[str, Any]) -> None:
        self._check()
        if not isinstance(mapping, Mapping) or not mapping:
            super().batch_update(mapping)  # refuses what is not a mapping; nothing to do for an empty one
            return
        keys = list(mapping.keys())
        for key in keys:
            _check_key(key)
        with self._lock:
            self._check()
            olds = self._stored_many(keys) if self._needs_old() else {}
            stored = {key: self._before(key, mapping[key]) for key in keys}  # every value, before any is written
            for hook in self._batch_hooks:
                hook.validate_batch_write(self, stored)
            self._write_batch(stored, olds)

    def _write_batch(self, stored: dict[str, Any], olds: dict[str, Any]) -> None:
        try:
            NanaSQLite.batch_update(self, stored)
        except NanaSQLiteDatabaseError as exc:
            raise _unique_error(exc) or exc from None
        self._wrote(stored, olds)

    def batch_update_partial(self, mapping: Mapping[str, Any]) -> dict[str, str]:
        self._check()
        good: dict[str, Any] = {}
        failed: dict[str, str] = {}
        with self._lock:
            self._check()
            for key, value in mapping.items():
                try:
                    _check_key(key)
                    if utf8_problem(key):
                        raise refused_key(key)
                except (TypeError, ValueError) as exc:
                    failed[key] = str(exc)
                    continue
                try:
                    value = self._before(key, value)
                except (TypeError, ValueError) as exc:
                    failed[key] = f"Value for key {key!r} failed schema validation: {exc}"
                    continue
                try:
                    encode_value(key, value)
                except (TypeError, ValueError) as exc:
                    failed[key] = str(exc)
                else:
                    good[key] = value
            if failed:
                self._refused(failed)
            if not good:
                return failed
            olds = self._stored_many(list(good)) if self._needs_old() else {}
            try:
                for hook in self._batch_hooks:
                    hook.validate_batch_write(self, good)
                self._write_batch(good, olds)
            except NanaSQLiteValidationError:
                # A refusal of the batch as a whole (values duplicated between its keys): each pair on its own,
                # in one transaction, so that only the pairs refused that way are left out.
                with self.transaction():
                    for key, value in good.items():
                        try:
                            for hook in self._batch_hooks:
                                hook.validate_batch_write(self, {key: value})
                            self._write_batch({key: value}, {key: olds.get(key)})
                        except (TypeError, ValueError) as exc:
                            failed[key] = f"Value for key {key!r} failed schema validation: {exc}"
        return failed

    @contextmanager
    def _read_modify_write(self, key: str) -> Iterator[list[Any]]:
        """``patch`` and ``increment``: the new value passes ``before_write`` before it is written."""
        try:
            with super()._read_modify_write(key) as slot:
                old = None if slot[0] is ABSENT else slot[0]
                yield slot
                slot[0] = self._before(key, slot[0])
        except NanaSQLiteDatabaseError as exc:
            raise _unique_error(exc) or exc from None
        self._wrote({key: slot[0]}, {key: old})

    # -- deletes ------------------------------------------------------------------------------------------

    def __delitem__(self, key: str) -> None:
        self._check()
        if not isinstance(key, str):
            raise KeyError(key)
        with self._lock:
            self._check()
            old = self._resolve(key)
            if old is ABSENT:
                raise KeyError(key)
            for hook in self._delete_hooks:
                hook.before_delete(self, key)
            super().__delitem__(key)
            self._deleted({key: old})

    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        self._check()
        if not isinstance(key, str):
            return super().pop(key, default)
        with self._lock:
            self._check()
            if self._delete_hooks and self._resolve(key) is not ABSENT:
                for hook in self._delete_hooks:
                    hook.before_delete(self, key)
            value = super().pop(key, _MISSING)
            if value is _MISSING:
                if default is _NO_DEFAULT:
                    raise KeyError(key)
                return default
            self._deleted({key: value})
        return self._read(key, value)

    def popitem(self) -> tuple[str, Any]:
        self._check()
        with self._lock:
            self._check()
            if self._delete_hooks:
                row = self._kv.first()
                if row is not None:
                    for hook in self._delete_hooks:
                        hook.before_delete(self, row[0])
            key, value = super().popitem()
            self._deleted({key: value})
        return key, self._read(key, value)

    def batch_delete(self, keys: Iterable[str]) -> None:
        self._check()
        keys = list(keys)
        if not keys or not all(isinstance(key, str) for key in keys):
            super().batch_delete(keys)  # nothing to do, or the kernel's refusal of a key
            return
        with self._lock:
            self._check()
            olds = self._stored_many(keys) if (self._delete_hooks or self._delete_success or self._staged) else {}
            for key in olds:
                for hook in self._delete_hooks:
                    hook.before_delete(self, key)
            super().batch_delete(keys)
            self._deleted(olds)

    def clear(self) -> None:
        """Delete every key of this table, without hooks (as in 1.6)."""
        super().clear()
        for hook in self._staged:
            hook.invalidate_index()

    # -- the rest -----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        text = super().__repr__()
        return self._plain.__name__ + text[len(type(self).__name__) :]

    def restore(self, src_path: Any) -> None:
        super().restore(src_path)
        for store in self._conn.live_stores():
            if isinstance(store, HookedStore):
                store._bind_all()


class ReadHookedStore(HookedStore):
    """A hooked store with an ``after_read`` hook: cache hits are read from the policy's hot dict here (the
    store's own ``_hot`` is empty) and passed through the hooks."""

    def __getitem__(self, key: str) -> Any:
        value = self._cache.hot.get(key, _MISSING)
        if value is _MISSING:
            return self._miss(key)
        return self._read(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._cache.hot.get(key, _MISSING)
        if value is _MISSING:
            return self._miss_get(key, default)
        return self._read(key, value)


_CLASSES: dict[tuple[type[NanaSQLite], bool], type[HookedStore]] = {
    (NanaSQLite, False): HookedStore,
    (NanaSQLite, True): ReadHookedStore,
}


def _hooked_class(cls: type[NanaSQLite], reads: bool = False) -> type[HookedStore]:
    """The hooked twin of a store class (a program's own subclass of NanaSQLite keeps its methods)."""
    cls = _plain_class(cls)
    made = _CLASSES.get((cls, reads))
    if made is None:
        base = ReadHookedStore if reads else HookedStore
        made = cast("type[HookedStore]", type(cls.__name__, (base, cls), {"_plain": cls}))
        _CLASSES[(cls, reads)] = made
    return made


def _plain_class(cls: type[NanaSQLite]) -> type[NanaSQLite]:
    return cls._plain if issubclass(cls, HookedStore) else cls


def make_hooks(hooks: Iterable[Any] | None, validator: Any, coerce: bool) -> list[Any]:
    """The hooks of ``hooks=`` and ``validator=`` / ``coerce=`` (a ValidkitHook last, as in 1.6)."""
    if hooks is None:
        found: list[Any] = []
    elif isinstance(hooks, (str, bytes, Mapping)) or not isinstance(hooks, Iterable):
        raise NanaSQLiteValidationError(f"hooks must be a list of hooks, not {type(hooks).__name__}")
    else:
        found = list(hooks)
    if validator is not None:
        found.append(ValidkitHook(validator, coerce))
    return found


def add_hooks(store: NanaSQLite, hooks: list[Any]) -> None:
    """Add hooks to ``store``, switching it to the hooked class."""
    for hook in hooks:
        if not is_hook(hook):
            raise NanaSQLiteValidationError(
                f"{hook!r} is not a hook: it has none of before_write, on_write_success, after_read, "
                "before_delete, on_delete_success"
            )
    if not hooks:
        return
    store._check()
    with store._lock:
        store._check()
        before: type[NanaSQLite] = type(store)
        previous = (store._hooks, store._hot)
        store.__class__ = _hooked_class(before)
        assert isinstance(store, HookedStore)
        store._hooks = [*store._hooks, *hooks]
        try:
            store._sort_hooks()
            for hook in hooks:
                bind = getattr(hook, "_bind", None)
                if callable(bind):
                    bind(store)
        except BaseException:
            store._hooks, store._hot = previous
            cast(Any, store).__class__ = before  # mypy narrowed it to HookedStore above
            if isinstance(store, HookedStore):
                store._sort_hooks()
            raise


def child_hooks(parent: NanaSQLite, child: NanaSQLite, validator: Any, coerce: Any, hooks: Any, unset: Any) -> None:
    """The hooks of a sub-table: the parent's unless ``hooks=`` / ``validator=`` / ``coerce=`` say otherwise
    (1.6's rules: ``hooks=None`` means none; a validator or coerce given replaces the parent's ValidkitHook)."""
    child.__class__ = _plain_class(type(child))
    inherited = list(parent._hooks)
    if hooks is unset and validator is unset and coerce is unset:
        add_hooks(child, inherited)
        return
    validkit = next((h for h in inherited if getattr(h, "_is_validkit_hook", False)), None)
    if hooks is unset:
        chosen = [h for h in inherited if h is not validkit]
    else:
        chosen = make_hooks(hooks, None, False)
    schema = getattr(validkit, "schema", None) if validator is unset else validator
    flag = getattr(validkit, "coerce", False) if coerce is unset else bool(coerce)
    if schema is not None:
        chosen.append(ValidkitHook(schema, flag))
    add_hooks(child, chosen)
