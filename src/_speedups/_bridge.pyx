# cython: freethreading_compatible=True, autotestdict=False
"""Compiled twin of ``nanasqlite._bridge``: whole batches on APSW's own SQLite, with the GIL released once.

APSW releases and re-takes the GIL around every ``sqlite3_step``; with another thread running Python each
hand-off costs microseconds, so a batch written row by row through APSW crawls. This module is also a SQLite
loadable extension (``_bridge.h``): ``attach`` loads it into an APSW connection, which hands it the
``sqlite3_api_routines`` table of APSW's embedded SQLite. A batch then runs in three phases:

1. with the GIL: validate keys and values and flatten the values onto a tape (``_tape.pxi``);
2. one ``with nogil:`` block holding the connection's mutex: render the JSON, begin, bind, step, commit;
3. with the GIL: build the results (the texts written, or the rows read).

``gate`` (every batch function takes one, default None) is an object with ``release()`` and ``acquire()``
that the caller holds: it is released for phase 2 and acquired again after it. The async facade passes its
worker threads' turn (``nanasqlite._turn``), so that another worker runs Python meanwhile; a ``Turn`` of this
module is left and waited for inside the GIL-free block, so the caller asks for the GIL only once it holds
the turn again.

No Python object is touched in phase 2: keys are UTF-8 pointers into str objects that a list owned by the call
keeps alive, and the tape holds its own references. SQLite errors are raised as APSW's exception classes, so
callers treat both twins alike.
"""

cimport cython
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uintptr_t
from libc.stdlib cimport calloc
from libc.string cimport memset

from collections import deque as _deque
from queue import Empty as _Empty

import apsw as _apsw

include "_tape.pxi"
include "_parse.pxi"

cdef extern from "Python.h":
    const char *_utf8 "PyUnicode_AsUTF8AndSize"(object, Py_ssize_t *) except NULL

cdef extern from "_bridge.h" nogil:
    ctypedef struct sqlite3
    ctypedef struct sqlite3_stmt
    ctypedef struct sqlite3_mutex
    int SQLITE_OK, SQLITE_ROW, SQLITE_DONE, SQLITE_MISUSE
    ctypedef void (*sqlite3_destructor_type)(void *)
    sqlite3_destructor_type SQLITE_STATIC

    ctypedef struct nb_status:
        int code
        char msg[512]

    ctypedef struct nb_arena:
        char *data
        size_t used
        size_t *off
        long long *len
        size_t n

    int nb_ready()
    const char *nb_libversion()
    int nb_begin(sqlite3 *db, int *own, nb_status *st)
    int nb_end(sqlite3 *db, int own, int ok, nb_status *st)
    int nb_fail(sqlite3 *db, nb_status *st, int rc)
    void nb_nomem(nb_status *st)
    void nb_arena_free(nb_arena *a)
    int nb_arena_push_column(nb_arena *a, sqlite3_stmt *stmt, int col)

    ctypedef struct nb_ref:
        const char *p
        long long n
        size_t i
    void nb_ref_sort(nb_ref *r, size_t n)
    ctypedef struct nb_buf:
        char *data
        size_t cap
        long long len
    int nb_point(sqlite3 *db, sqlite3_stmt **stmt, const char *sql, const char *key, int klen, nb_buf *out,
                 nb_status *st)
    size_t nb_row_keys(const nb_arena *a, nb_ref *out)
    void nb_match(nb_ref *keys, size_t n, nb_ref *rows, size_t m, long long *row_of)

    sqlite3_mutex *sqlite3_db_mutex(sqlite3 *)
    void sqlite3_mutex_enter(sqlite3_mutex *)
    void sqlite3_mutex_leave(sqlite3_mutex *)
    int sqlite3_prepare_v2(sqlite3 *, const char *, int, sqlite3_stmt **, const char **)
    int sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, sqlite3_destructor_type)
    int sqlite3_bind_blob(sqlite3_stmt *, int, const void *, int, sqlite3_destructor_type)
    int sqlite3_column_type(sqlite3_stmt *, int)
    int SQLITE_BLOB
    int nb_arena_push(nb_arena *a, const void *p, long long n)
    int sqlite3_step(sqlite3_stmt *)
    int sqlite3_reset(sqlite3_stmt *)
    int sqlite3_clear_bindings(sqlite3_stmt *)
    int sqlite3_finalize(sqlite3_stmt *)

cdef extern from "pythread.h" nogil:
    unsigned long PyThread_get_thread_ident()

cdef extern from "_turn.h" nogil:
    ctypedef struct nb_turn:
        long long patience_ns
    int nb_turn_init(nb_turn *t, long long patience_ns)
    void nb_turn_destroy(nb_turn *t)
    int nb_turn_enter(nb_turn *t, unsigned long me)
    int nb_turn_leave(nb_turn *t, unsigned long me)
    int nb_turn_held_by(nb_turn *t, unsigned long me)
    int nb_turn_waiting(nb_turn *t)

    ctypedef struct nb_box:
        long long count
    int nb_box_init(nb_box *b)
    void nb_box_destroy(nb_box *b)
    void nb_box_post(nb_box *b)
    void nb_box_wait(nb_box *b)
    int nb_box_try(nb_box *b)

__all__ = ["KERNEL", "Turn", "Mailbox", "PointRead", "attach", "put_many", "write_texts", "delete_many", "get_many", "scan"]

#: Which implementation this is (the pure twin says "apsw").
KERNEL = "native"

_ENTRY_POINT = "sqlite3_nanabridge_init"


def attach(connection):
    """Load the kernel into an APSW connection; return True when batches on it can run here.

    Extension loading is switched off again afterwards. False means the caller should use the pure twin
    (an APSW built without extension loading, or a SQLite that refuses the module).
    """
    try:
        connection.enable_load_extension(True)
        try:
            connection.load_extension(__file__, _ENTRY_POINT)
        finally:
            connection.enable_load_extension(False)
    except (_apsw.Error, AttributeError):
        return False
    return bool(nb_ready())


@cython.auto_pickle(False)
cdef class PointRead:
    """A cold point read: ``read(key)`` runs the connection's ``SELECT value ... WHERE key = ?`` through one
    statement this object keeps prepared, and parses the value. ``absent`` is returned for a missing key, None for
    a stored SQL NULL; ``fallback(text)`` decodes what the parser leaves to the standard library (and raises its
    ``ValueError`` for a text that is not JSON). No cursor, no row tuple and no str of the text are made.

    SQLite's step runs without the GIL, like APSW's. The value is copied out and the statement reset before the
    GIL is taken back, so no read transaction stays open and the parse cannot outlive SQLite's buffer. Call
    ``close()`` before the connection closes (``storage.Connection`` does); the statement holds the connection
    object, so a forgotten one is finalized by the garbage collector first.
    """

    cdef sqlite3 *db
    cdef sqlite3_stmt *stmt
    cdef nb_buf buf
    cdef bint busy
    cdef bint closed
    cdef object connection  # keeps the sqlite3 object alive while the statement lives
    cdef bytes sql
    cdef object absent
    cdef object fallback

    def __cinit__(self):
        self.stmt = NULL
        memset(&self.buf, 0, sizeof(nb_buf))

    def __init__(self, connection, str sql, absent, fallback):
        self.db = _db(connection)
        self.connection = connection
        self.sql = _sql(sql)
        self.absent = absent
        self.fallback = fallback

    def __dealloc__(self):
        if self.stmt != NULL:
            sqlite3_finalize(self.stmt)
        free(self.buf.data)

    def read(self, str key):
        cdef Py_ssize_t klen
        cdef const char *k = _utf8(key, &klen)  # UnicodeEncodeError for a key with lone surrogates
        cdef const char *csql = self.sql
        cdef nb_status st
        cdef nb_buf spare
        cdef nb_buf *b = &self.buf
        cdef int found
        cdef bint bail = True
        if self.closed:
            raise _apsw.ConnectionClosedError("the statement is closed")
        if self.busy:  # used again while parsing (a finalizer, another thread): not with the shared buffer
            memset(&spare, 0, sizeof(nb_buf))
            b = &spare
        st.code = SQLITE_OK
        st.msg[0] = 0
        self.busy = True
        try:
            with nogil:
                found = nb_point(self.db, &self.stmt, csql, k, <int>klen, b, &st)
            if found < 0:
                _raise(&st)
            if found == 0:
                return self.absent
            if b.len < 0:
                return None
            value = parse_json(b.data, <Py_ssize_t>b.len, &bail)
            if bail:
                return self.fallback(PyUnicode_DecodeUTF8(b.data, <Py_ssize_t>b.len, "replace"))
            return value
        finally:
            if b == &self.buf:
                self.busy = False
            else:
                free(spare.data)

    def close(self):
        """Finalize the statement; later reads raise. Idempotent."""
        self.closed = True
        if self.stmt != NULL:
            sqlite3_finalize(self.stmt)
            self.stmt = NULL


def libversion():
    """The version of the SQLite the kernel is bound to (APSW's own)."""
    if not nb_ready():
        raise RuntimeError("the kernel is not attached to any connection yet")
    return nb_libversion().decode()


cdef sqlite3 *_db(connection) except NULL:
    if not nb_ready():
        raise RuntimeError("attach() the kernel to a connection first")
    cdef uintptr_t p = connection.sqlite3_pointer()
    if p == 0:
        raise _apsw.ConnectionClosedError("the connection is closed")
    return <sqlite3 *>p


cdef _raise(nb_status *st):
    cls = type(_apsw.exception_for(st.code))
    raise cls(st.msg.decode("utf-8", "replace"))


@cython.auto_pickle(False)
cdef class Turn:
    """A first-come, first-served lock for the store's worker threads (see ``nanasqlite._turn``), in C so that
    the batch kernel can wait for it without the GIL.

    ``patience``: seconds a waiter waits before it goes on without the turn (None: no limit); the turn only
    shapes scheduling, so a holder stuck in a slow read must not stop the others. ``enabled=False`` makes
    every method do nothing."""

    cdef nb_turn t
    cdef readonly bint enabled
    cdef readonly object patience

    def __cinit__(self):
        if nb_turn_init(&self.t, -1) != 0:
            raise OSError("cannot create the turn's mutex")

    def __init__(self, bint enabled=True, patience=None):
        if patience is not None and patience < 0:
            raise ValueError("patience must be None or >= 0")
        self.t.patience_ns = -1 if patience is None else <long long>(patience * 1e9)
        self.enabled = enabled
        self.patience = patience

    def __dealloc__(self):
        nb_turn_destroy(&self.t)

    def acquire(self):
        """Wait (without the GIL) until every thread that came earlier had the turn, then hold it: True. Out of
        patience, go on without it: False."""
        cdef unsigned long me = PyThread_get_thread_ident()
        cdef int got
        if not self.enabled:
            return False
        with nogil:
            got = nb_turn_enter(&self.t, me)
        return bool(got)

    def release(self):
        """Hand the turn to the thread that has waited longest."""
        if self.enabled and nb_turn_leave(&self.t, PyThread_get_thread_ident()) != 0:
            raise RuntimeError("the turn is released by a thread that does not hold it")

    def pass_on(self):
        """Let the threads waiting for the turn have it first; the caller, which holds it, waits for it again."""
        cdef unsigned long me = PyThread_get_thread_ident()
        if self.enabled and nb_turn_waiting(&self.t) and nb_turn_held_by(&self.t, me):
            with nogil:
                nb_turn_leave(&self.t, me)
                nb_turn_enter(&self.t, me)

    def mine(self):
        """This turn when the calling thread holds it, else None: the gate to hand to the batch functions."""
        return self if self.enabled and nb_turn_held_by(&self.t, PyThread_get_thread_ident()) else None

    @property
    def waiting(self):
        """How many threads wait for the turn."""
        return nb_turn_waiting(&self.t)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        if self.mine() is not None:  # not when it went on without the turn
            self.release()


@cython.auto_pickle(False)
cdef class Mailbox:
    """A first-in, first-out queue for the store's worker threads whose ``take`` waits for an item, and then for
    the turn, without the GIL: a worker woken by new work asks for the GIL only once it holds the turn, so it
    never competes for it with the worker running Python (the event loop would be the one to lose those
    hand-offs; see ``nanasqlite._turn``)."""

    cdef nb_box box
    cdef object items

    def __cinit__(self):
        if nb_box_init(&self.box) != 0:
            raise OSError("cannot create the mailbox's mutex")
        self.items = _deque()

    def __dealloc__(self):
        nb_box_destroy(&self.box)

    def put(self, item):
        """Add ``item`` at the end."""
        self.items.append(item)
        nb_box_post(&self.box)  # after the append: whoever consumes the post finds the item

    def take(self, turn=None):
        """The first item, waiting for one. With a ``turn`` (a ``Turn`` of this module): left while waiting
        when the caller holds it, and waited for before the item is returned, so the caller holds it then
        (unless it ran out of patience, as ``Turn.acquire``)."""
        cdef nb_turn *t = _turn_of(turn)
        cdef unsigned long me = PyThread_get_thread_ident()
        cdef bint held
        if turn is not None and type(turn) is not Turn:
            raise TypeError(f"turn must be a Turn of this module or None, not {type(turn).__name__}")
        held = t != NULL and nb_turn_held_by(t, me)
        with nogil:
            if held:
                nb_turn_leave(t, me)
            nb_box_wait(&self.box)
            if t != NULL:
                nb_turn_enter(t, me)
        return self.items.popleft()

    def take_nowait(self):
        """The first item; ``queue.Empty`` when there is none."""
        if not nb_box_try(&self.box):
            raise _Empty
        return self.items.popleft()


cdef nb_turn *_turn_of(gate):
    """The C turn behind ``gate`` when the GIL-free phase can leave and wait for it by itself, else NULL."""
    if type(gate) is Turn and (<Turn>gate).enabled:
        return &(<Turn>gate).t
    return NULL


cdef inline int _leave(gate, nb_turn *turn, unsigned long me) except -1:
    """Release a generic gate now; check that a C turn (left inside the GIL-free block) is the caller's."""
    if turn != NULL:
        if not nb_turn_held_by(turn, me):
            raise RuntimeError("the turn is released by a thread that does not hold it")
    elif gate is not None:
        gate.release()
    return 0


cdef inline int _enter(gate, nb_turn *turn) except -1:
    # Nothing can fail between _leave and here (the GIL-free block raises nothing), so the caller's gate is
    # always taken back before any error of the batch is raised.
    if turn == NULL and gate is not None:
        gate.acquire()
    return 0


cdef inline void _turn_leave(nb_turn *turn, unsigned long me) noexcept nogil:
    if turn != NULL:
        nb_turn_leave(turn, me)


cdef inline void _turn_enter(nb_turn *turn, unsigned long me) noexcept nogil:
    if turn != NULL:
        nb_turn_enter(turn, me)  # out of patience the caller goes on without it, as Turn.acquire does


cdef inline bytes _sql(str sql):
    return sql.encode("utf-8")


cdef class _Keys:
    """UTF-8 pointers of a list of str keys, valid while this object (which owns the list) lives."""
    cdef list keys
    cdef const char **ptr
    cdef int *size
    cdef Py_ssize_t n

    def __cinit__(self, keys):
        self.keys = list(keys)
        self.n = len(self.keys)
        self.ptr = <const char **>malloc(<size_t>(self.n + 1) * sizeof(char *))
        self.size = <int *>malloc(<size_t>(self.n + 1) * sizeof(int))
        if self.ptr == NULL or self.size == NULL:
            raise MemoryError()
        cdef Py_ssize_t i, length
        for i in range(self.n):
            key = self.keys[i]
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            self.ptr[i] = _utf8(key, &length)
            if length > 0x7FFFFFFF:
                raise ValueError(f"key of {length} bytes is too long for SQLite")
            self.size[i] = <int>length
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()

    def __dealloc__(self):
        free(self.ptr)
        free(self.size)


cdef void _write_batch(sqlite3 *db, const char *sql, const char **keys, int *key_sizes, Py_ssize_t n,
                       const char *values, Py_ssize_t *offsets, nb_status *st) noexcept nogil:
    """Run ``sql`` once per key, all or nothing, holding the connection's mutex: parameter 1 is the key and,
    when ``values`` is not NULL, parameter 2 is value i, ``values[offsets[i]:offsets[i + 1]]``."""
    cdef sqlite3_mutex *mutex = sqlite3_db_mutex(db)
    cdef sqlite3_stmt *stmt = NULL
    cdef Py_ssize_t i
    cdef int rc = SQLITE_OK, own = 0
    sqlite3_mutex_enter(mutex)
    if nb_begin(db, &own, st) == SQLITE_OK:
        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)
        if rc != SQLITE_OK:
            nb_fail(db, st, rc)
        else:
            for i in range(n):
                sqlite3_bind_text(stmt, 1, keys[i], key_sizes[i], SQLITE_STATIC)
                if values != NULL:
                    sqlite3_bind_text(stmt, 2, values + offsets[i], <int>(offsets[i + 1] - offsets[i]),
                                      SQLITE_STATIC)
                rc = sqlite3_step(stmt)
                sqlite3_reset(stmt)
                if rc != SQLITE_DONE:
                    nb_fail(db, st, rc)
                    break
                rc = SQLITE_OK
            sqlite3_finalize(stmt)
        nb_end(db, own, rc == SQLITE_OK, st)
    sqlite3_mutex_leave(mutex)


def put_many(connection, str sql, keys, values, bint texts=True, *, gate=None):
    """Run ``sql`` (an INSERT with parameters key, value) for every pair, all or nothing; return the texts
    written, or None when ``texts`` is false (building them is the GIL-bound part of the last phase).

    A value that cannot be stored raises ``TypeError``/``ValueError`` naming its key before anything is
    written.
    """
    cdef _Keys k = _Keys(keys)
    cdef list vals = list(values)
    if len(vals) != k.n:
        raise ValueError("keys and values differ in length")
    cdef sqlite3 *db = _db(connection)
    cdef bytes sql_b = _sql(sql)
    cdef const char *csql = sql_b
    cdef Tape t
    cdef TapeBuf arena
    cdef Py_ssize_t *offsets = NULL
    cdef Py_ssize_t i, n = k.n
    cdef nb_status st
    cdef list out
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    st.code = SQLITE_OK
    st.msg[0] = 0
    tape_init(&t)
    tapebuf_init(&arena)
    try:
        for i in range(n):
            try:
                tape_push(&t, vals[i])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"cannot store key {k.keys[i]!r}: {exc}") from None
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        offsets = <Py_ssize_t *>malloc(<size_t>(n + 1) * sizeof(Py_ssize_t))
        if offsets == NULL:
            raise MemoryError()
        _leave(gate, turn, me)
        with nogil:
            _turn_leave(turn, me)
            if tape_render_all(&t, &arena, offsets) != TAPE_OK:
                nb_nomem(&st)
            else:
                _write_batch(db, csql, k.ptr, k.size, n, arena.data, offsets, &st)
            _turn_enter(turn, me)
        _enter(gate, turn)
        if st.code != SQLITE_OK:
            _raise(&st)
        if not texts:
            return None
        out = PyList_New(n)
        for i in range(n):
            text = tape_text(arena.data + offsets[i], offsets[i + 1] - offsets[i], NULL)
            Py_INCREF(text)
            PyList_SET_ITEM(out, i, text)
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        return out
    finally:
        free(offsets)
        tape_free(&t)
        tapebuf_free(&arena)


cdef void _write_texts(sqlite3 *db, const char *put_sql, const char **keys, int *key_sizes,
                       const char **texts, int *text_sizes, Py_ssize_t n, const char *delete_sql,
                       const char **gone, int *gone_sizes, Py_ssize_t m, nb_status *st) noexcept nogil:
    """Upsert every (key, text) pair and delete every key of ``gone`` in one transaction (a savepoint inside
    the caller's), all or nothing, holding the connection's mutex."""
    cdef sqlite3_mutex *mutex = sqlite3_db_mutex(db)
    cdef sqlite3_stmt *stmt = NULL
    cdef Py_ssize_t i
    cdef int rc = SQLITE_OK, own = 0
    sqlite3_mutex_enter(mutex)
    if nb_begin(db, &own, st) == SQLITE_OK:
        if n:
            rc = sqlite3_prepare_v2(db, put_sql, -1, &stmt, NULL)
            if rc != SQLITE_OK:
                nb_fail(db, st, rc)
            else:
                for i in range(n):
                    sqlite3_bind_text(stmt, 1, keys[i], key_sizes[i], SQLITE_STATIC)
                    sqlite3_bind_text(stmt, 2, texts[i], text_sizes[i], SQLITE_STATIC)
                    rc = sqlite3_step(stmt)
                    sqlite3_reset(stmt)
                    if rc != SQLITE_DONE:
                        nb_fail(db, st, rc)
                        break
                    rc = SQLITE_OK
                sqlite3_finalize(stmt)
        if rc == SQLITE_OK and m:
            rc = sqlite3_prepare_v2(db, delete_sql, -1, &stmt, NULL)
            if rc != SQLITE_OK:
                nb_fail(db, st, rc)
            else:
                for i in range(m):
                    sqlite3_bind_text(stmt, 1, gone[i], gone_sizes[i], SQLITE_STATIC)
                    rc = sqlite3_step(stmt)
                    sqlite3_reset(stmt)
                    if rc != SQLITE_DONE:
                        nb_fail(db, st, rc)
                        break
                    rc = SQLITE_OK
                sqlite3_finalize(stmt)
        nb_end(db, own, rc == SQLITE_OK, st)
    sqlite3_mutex_leave(mutex)


def write_texts(connection, str put_sql, keys, texts, str delete_sql, deleted, *, gate=None):
    """Run ``put_sql`` (an INSERT with parameters key, text) for every pair of ``keys`` and ``texts`` (str:
    JSON already encoded, stored as given) and ``delete_sql`` (a DELETE with parameter key) for every key of
    ``deleted``, all in one transaction, all or nothing, with the GIL released once. The write-back flusher
    writes its chunks through this."""
    cdef _Keys k = _Keys(keys)
    cdef _Keys v = _Keys(texts)
    cdef _Keys d = _Keys(deleted)
    if v.n != k.n:
        raise ValueError("keys and texts differ in length")
    cdef sqlite3 *db = _db(connection)
    cdef bytes put_b = _sql(put_sql)
    cdef bytes del_b = _sql(delete_sql)
    cdef const char *cput = put_b
    cdef const char *cdel = del_b
    cdef nb_status st
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    st.code = SQLITE_OK
    st.msg[0] = 0
    _leave(gate, turn, me)
    with nogil:
        _turn_leave(turn, me)
        _write_texts(db, cput, k.ptr, k.size, v.ptr, v.size, k.n, cdel, d.ptr, d.size, d.n, &st)
        _turn_enter(turn, me)
    _enter(gate, turn)
    if st.code != SQLITE_OK:
        _raise(&st)


def delete_many(connection, str sql, keys, *, gate=None):
    """Run ``sql`` (a DELETE with parameter key) for every key, all or nothing."""
    cdef _Keys k = _Keys(keys)
    cdef sqlite3 *db = _db(connection)
    cdef bytes sql_b = _sql(sql)
    cdef const char *csql = sql_b
    cdef nb_status st
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    st.code = SQLITE_OK
    st.msg[0] = 0
    _leave(gate, turn, me)
    with nogil:
        _turn_leave(turn, me)
        _write_batch(db, csql, k.ptr, k.size, k.n, NULL, NULL, &st)
        _turn_enter(turn, me)
    _enter(gate, turn)
    if st.code != SQLITE_OK:
        _raise(&st)


cdef object _text(nb_arena *a, size_t i):
    if a.len[i] < 0:
        return None
    return tape_text(a.data + a.off[i], <Py_ssize_t>a.len[i], "replace")


cdef void _collect_rows(sqlite3 *db, sqlite3_stmt *stmt, nb_arena *a, nb_status *st) noexcept nogil:
    """Step ``stmt`` to its end, appending columns 0 and 1 of every row to ``a``."""
    cdef int rc
    while True:
        rc = sqlite3_step(stmt)
        if rc != SQLITE_ROW:
            if rc != SQLITE_DONE:
                nb_fail(db, st, rc)
            return
        if nb_arena_push_column(a, stmt, 0) != 0 or nb_arena_push_column(a, stmt, 1) != 0:
            nb_nomem(st)
            return


cdef enum:
    # Keys per "IN (...)" statement: one statement per chunk opens its cursors once, where a statement per key
    # pays that for every key (2x slower). Far below every SQLite's bound-parameter limit (999 before 3.32).
    _IN_CHUNK = 256


cdef bytes _in_sql(str prefix, Py_ssize_t n):
    return (prefix + ",".join(["?"] * n) + ")").encode("utf-8")


cdef long long *_lookup(connection, str sql, _Keys k, gate, nb_arena *a, nb_arena *blob) except NULL:
    """The rows of ``k``'s keys by ``sql`` (a SELECT of key, value ending in ``key IN (``), a chunk of keys per
    statement, without the GIL: column pairs go to ``a`` (with ``blob``, the typed form of ``_collect_typed``).
    Returns, malloc'ed for the caller to free, the row of each key in ``a`` (-1: not found). The keys are asked
    for in sorted order, so that SQLite walks the index in order (10k shuffled keys ran 1.7x faster so)."""
    cdef sqlite3 *db = _db(connection)
    cdef Py_ssize_t n = k.n
    cdef Py_ssize_t full = n if n < _IN_CHUNK else _IN_CHUNK
    cdef Py_ssize_t tail = n % _IN_CHUNK if n > _IN_CHUNK else 0
    cdef bytes full_b = _in_sql(sql, full)
    cdef bytes tail_b = _in_sql(sql, tail if tail else full)
    cdef const char *full_sql = full_b
    cdef const char *tail_sql = tail_b
    cdef Py_ssize_t start, i, size
    cdef nb_status st
    cdef sqlite3_stmt *stmt = NULL
    cdef sqlite3_mutex *mutex = sqlite3_db_mutex(db)
    cdef int rc = SQLITE_OK
    cdef size_t rows = 0
    cdef nb_ref *order = NULL
    cdef nb_ref *found = NULL
    cdef long long *row_of = NULL
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    st.code = SQLITE_OK
    st.msg[0] = 0
    try:
        order = <nb_ref *>malloc(<size_t>(n if n else 1) * sizeof(nb_ref))
        row_of = <long long *>malloc(<size_t>(n if n else 1) * sizeof(long long))
        if order == NULL or row_of == NULL:
            raise MemoryError()
        for i in range(n):
            order[i].p = k.ptr[i]
            order[i].n = k.size[i]
            order[i].i = <size_t>i
        _leave(gate, turn, me)
        with nogil:
            _turn_leave(turn, me)
            nb_ref_sort(order, <size_t>n)
            sqlite3_mutex_enter(mutex)
            start = 0
            while start < n and st.code == SQLITE_OK:
                size = n - start if n - start < _IN_CHUNK else _IN_CHUNK
                rc = sqlite3_prepare_v2(db, full_sql if size == full else tail_sql, -1, &stmt, NULL)
                if rc != SQLITE_OK:
                    nb_fail(db, &st, rc)
                    break
                for i in range(size):
                    sqlite3_bind_text(stmt, <int>(i + 1), order[start + i].p, <int>order[start + i].n,
                                      SQLITE_STATIC)
                if blob == NULL:
                    _collect_rows(db, stmt, a, &st)
                else:
                    _collect_typed(db, stmt, a, blob, &st)
                sqlite3_finalize(stmt)
                start += size
            sqlite3_mutex_leave(mutex)
            if st.code == SQLITE_OK:
                rows = a.n // 2
                found = <nb_ref *>malloc((rows if rows else 1) * sizeof(nb_ref))
                if found == NULL:
                    nb_nomem(&st)
                else:
                    nb_match(order, <size_t>n, found, nb_row_keys(a, found), row_of)
            _turn_enter(turn, me)
        _enter(gate, turn)
        if st.code != SQLITE_OK:
            _raise(&st)
    except BaseException:
        free(row_of)
        raise
    finally:
        free(order)
        free(found)
    return row_of


def get_many(connection, str sql, keys, decode, *, gate=None):
    """Run ``sql`` (a SELECT of key, value ending in ``key IN (``) over the keys (``_lookup``); return
    ``{key: value}`` of the keys found, in the order of ``keys``.

    A value is ``decode(key, text)``, with text None for a stored SQL NULL: this module parses the JSON texts
    it can itself (to what the codec's ``loads`` returns) and calls ``decode`` for the rest, so a text that is
    not JSON raises what ``decode`` raises.
    """
    cdef _Keys k = _Keys(keys)
    cdef nb_arena a
    cdef dict out = {}
    cdef long long *row_of = NULL
    cdef long long r, length
    cdef Py_ssize_t i
    cdef bint bail
    if k.n == 0:
        return out
    memset(&a, 0, sizeof(a))
    try:
        row_of = _lookup(connection, sql, k, gate, &a, NULL)
        for i in range(k.n):
            r = row_of[i]
            if r < 0:
                continue
            key = k.keys[i]
            if key in out:  # asked for twice
                continue
            length = a.len[2 * r + 1]
            if length < 0:
                out[key] = decode(key, None)
                continue
            value = parse_json(a.data + a.off[2 * r + 1], <Py_ssize_t>length, &bail)
            out[key] = decode(key, _text(&a, 2 * r + 1)) if bail else value
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        return out
    finally:
        free(row_of)
        nb_arena_free(&a)

def scan(connection, str sql, *, gate=None):
    """Run ``sql`` (a SELECT of key, value) to the end without the GIL; return ``(keys, texts)``."""
    cdef sqlite3 *db = _db(connection)
    cdef bytes sql_b = _sql(sql)
    cdef const char *csql = sql_b
    cdef nb_status st
    cdef nb_arena a
    cdef sqlite3_stmt *stmt = NULL
    cdef sqlite3_mutex *mutex = sqlite3_db_mutex(db)
    cdef int rc = SQLITE_OK
    cdef size_t i, rows
    cdef list keys, texts
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    memset(&a, 0, sizeof(a))
    st.code = SQLITE_OK
    st.msg[0] = 0
    try:
        _leave(gate, turn, me)
        with nogil:
            _turn_leave(turn, me)
            sqlite3_mutex_enter(mutex)
            rc = sqlite3_prepare_v2(db, csql, -1, &stmt, NULL)
            if rc != SQLITE_OK:
                nb_fail(db, &st, rc)
            else:
                _collect_rows(db, stmt, &a, &st)
                sqlite3_finalize(stmt)
            sqlite3_mutex_leave(mutex)
            _turn_enter(turn, me)
        _enter(gate, turn)
        if st.code != SQLITE_OK:
            _raise(&st)
        rows = a.n // 2
        keys = PyList_New(<Py_ssize_t>rows)
        texts = PyList_New(<Py_ssize_t>rows)
        for i in range(rows):
            key = _text(&a, 2 * i)
            Py_INCREF(key)
            PyList_SET_ITEM(keys, <Py_ssize_t>i, key)
            text = _text(&a, 2 * i + 1)
            Py_INCREF(text)
            PyList_SET_ITEM(texts, <Py_ssize_t>i, text)
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        return keys, texts
    finally:
        nb_arena_free(&a)


# -- sealed values: the batch paths of an encrypted store (``nanasqlite.cipher``) --------------------------------
#
# The cipher is a Python callable (``cryptography``'s), so it runs with the GIL, called from C in one loop over
# buffers of the kernel's own memory; the JSON rendering and parsing and the SQLite work stay as in put_many and
# get_many. ``seal``/``unseal`` are the AEAD's ``encrypt``/``decrypt`` (called ``(nonce, data, None)``, nonce
# ``nonce_len`` bytes before the ciphertext) or, with ``nonce_len`` 0, Fernet's (called ``(token)``).

__all__ += ["put_sealed", "get_sealed", "scan_blobs"]

cdef enum:
    _TAG = 16  # bytes of the AEAD tag after the ciphertext


cdef void _write_blobs(sqlite3 *db, const char *sql, const char **keys, int *key_sizes, Py_ssize_t n,
                       const char **blobs, int *blob_sizes, nb_status *st) noexcept nogil:
    """``_write_batch`` with parameter 2 bound as a BLOB: ``blobs[i]``, ``blob_sizes[i]`` bytes."""
    cdef sqlite3_mutex *mutex = sqlite3_db_mutex(db)
    cdef sqlite3_stmt *stmt = NULL
    cdef Py_ssize_t i
    cdef int rc = SQLITE_OK, own = 0
    sqlite3_mutex_enter(mutex)
    if nb_begin(db, &own, st) == SQLITE_OK:
        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)
        if rc != SQLITE_OK:
            nb_fail(db, st, rc)
        else:
            for i in range(n):
                sqlite3_bind_text(stmt, 1, keys[i], key_sizes[i], SQLITE_STATIC)
                sqlite3_bind_blob(stmt, 2, blobs[i], blob_sizes[i], SQLITE_STATIC)
                rc = sqlite3_step(stmt)
                sqlite3_reset(stmt)
                if rc != SQLITE_DONE:
                    nb_fail(db, st, rc)
                    break
                rc = SQLITE_OK
            sqlite3_finalize(stmt)
        nb_end(db, own, rc == SQLITE_OK, st)
    sqlite3_mutex_leave(mutex)


def put_sealed(connection, str sql, keys, values, seal, nonces, bint texts=True, *, gate=None):
    """``put_many`` storing every value's JSON text sealed, as a BLOB: ``nonce + seal(nonce, text, None)`` with
    nonce i the i-th ``len(nonces) // len(keys)`` bytes of ``nonces`` (the AEAD modes), or ``seal(text)`` when
    ``nonces`` is empty (Fernet). Returns the JSON texts written (None unless ``texts``)."""
    cdef _Keys k = _Keys(keys)
    cdef list vals = list(values)
    if len(vals) != k.n:
        raise ValueError("keys and values differ in length")
    cdef Py_ssize_t i, n = k.n, length, nonce_len = 0
    cdef bytes nonce_b = nonces
    if n and len(nonce_b):
        nonce_len = len(nonce_b) // n
        if nonce_len * n != len(nonce_b) or nonce_len == 0:
            raise ValueError("nonces must hold one nonce per key")
    cdef const char *nonce_p = nonce_b
    cdef sqlite3 *db = _db(connection)
    cdef bytes sql_b = _sql(sql)
    cdef const char *csql = sql_b
    cdef Tape t
    cdef TapeBuf arena
    cdef Py_ssize_t *offsets = NULL
    cdef const char **ptr = NULL
    cdef int *size = NULL
    cdef list sealed
    cdef nb_status st
    cdef int rc = TAPE_OK
    cdef list out
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    st.code = SQLITE_OK
    st.msg[0] = 0
    tape_init(&t)
    tapebuf_init(&arena)
    try:
        for i in range(n):
            try:
                tape_push(&t, vals[i])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"cannot store key {k.keys[i]!r}: {exc}") from None
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        offsets = <Py_ssize_t *>malloc(<size_t>(n + 1) * sizeof(Py_ssize_t))
        ptr = <const char **>malloc(<size_t>(n + 1) * sizeof(char *))
        size = <int *>malloc(<size_t>(n + 1) * sizeof(int))
        if offsets == NULL or ptr == NULL or size == NULL:
            raise MemoryError()
        _leave(gate, turn, me)
        with nogil:
            _turn_leave(turn, me)
            rc = tape_render_all(&t, &arena, offsets)
            _turn_enter(turn, me)
        _enter(gate, turn)
        if rc != TAPE_OK:
            raise MemoryError()
        sealed = PyList_New(n)
        for i in range(n):
            if nonce_len:
                nonce = PyBytes_FromStringAndSize(nonce_p + i * nonce_len, nonce_len)
                # bytes, not a memoryview of the arena: cryptography takes other buffers through a slow cffi path
                text = PyBytes_FromStringAndSize(arena.data + offsets[i], offsets[i + 1] - offsets[i])
                body = seal(nonce, text, None)
                if type(body) is not bytes:
                    raise TypeError(f"seal returned {type(body).__name__}, not bytes")
                length = PyBytes_GET_SIZE(body)
                blob = PyBytes_FromStringAndSize(NULL, nonce_len + length)
                memcpy(PyBytes_AS_STRING(blob), nonce_p + i * nonce_len, <size_t>nonce_len)
                memcpy(PyBytes_AS_STRING(blob) + nonce_len, PyBytes_AS_STRING(body), <size_t>length)
            else:  # Fernet takes bytes only
                blob = seal(PyBytes_FromStringAndSize(arena.data + offsets[i], offsets[i + 1] - offsets[i]))
                if type(blob) is not bytes:
                    raise TypeError(f"seal returned {type(blob).__name__}, not bytes")
            length = PyBytes_GET_SIZE(blob)
            if length > 0x7FFFFFFF:
                raise ValueError(f"cannot store key {k.keys[i]!r}: a value of {length} bytes is too long for SQLite")
            ptr[i] = PyBytes_AS_STRING(blob)
            size[i] = <int>length
            Py_INCREF(blob)
            PyList_SET_ITEM(sealed, i, blob)  # keeps ptr[i] alive
        _leave(gate, turn, me)
        with nogil:
            _turn_leave(turn, me)
            _write_blobs(db, csql, k.ptr, k.size, n, ptr, size, &st)
            _turn_enter(turn, me)
        _enter(gate, turn)
        if st.code != SQLITE_OK:
            _raise(&st)
        if not texts:
            return None
        out = PyList_New(n)
        for i in range(n):
            text = PyUnicode_DecodeUTF8(arena.data + offsets[i], offsets[i + 1] - offsets[i], NULL)
            Py_INCREF(text)
            PyList_SET_ITEM(out, i, text)
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        return out
    finally:
        free(offsets)
        free(ptr)
        free(size)
        tape_free(&t)
        tapebuf_free(&arena)


cdef void _collect_typed(sqlite3 *db, sqlite3_stmt *stmt, nb_arena *a, nb_arena *blob, nb_status *st) noexcept nogil:
    """``_collect_rows``, and whether each row's column 1 is a BLOB, as one byte per row in ``blob``."""
    cdef int rc
    cdef char is_blob
    while True:
        rc = sqlite3_step(stmt)
        if rc != SQLITE_ROW:
            if rc != SQLITE_DONE:
                nb_fail(db, st, rc)
            return
        is_blob = 1 if sqlite3_column_type(stmt, 1) == SQLITE_BLOB else 0
        if (nb_arena_push_column(a, stmt, 0) != 0 or nb_arena_push_column(a, stmt, 1) != 0
                or nb_arena_push(blob, &is_blob, 1) != 0):
            nb_nomem(st)
            return


cdef object _stored(nb_arena *a, nb_arena *blob, size_t row):
    """Column 1 of ``row``: bytes for a BLOB, None for NULL, else its text."""
    cdef size_t j = 2 * row + 1
    if a.len[j] < 0:
        return None
    if blob.data[blob.off[row]]:
        return PyBytes_FromStringAndSize(a.data + a.off[j], <Py_ssize_t>a.len[j])
    return _text(a, j)


cdef object _unsealed(nb_arena *a, size_t row, unseal, Py_ssize_t nonce_len, decode, key):
    """The value of a BLOB ``row``: unsealed and parsed here, or, for anything this fast path does not handle
    (a value that does not open, a rare JSON form), ``decode(key, stored)``, which raises the library's error."""
    cdef size_t j = 2 * row + 1
    cdef const char *p = a.data + a.off[j]
    cdef Py_ssize_t n = <Py_ssize_t>a.len[j]
    cdef bint bail = 1
    value = None
    if nonce_len == 0 or n >= nonce_len + _TAG:
        try:
            if nonce_len:
                plain = unseal(PyBytes_FromStringAndSize(p, nonce_len),
                               PyBytes_FromStringAndSize(p + nonce_len, n - nonce_len), None)
            else:
                plain = unseal(PyBytes_FromStringAndSize(p, n))
        except Exception:
            plain = None
        if type(plain) is bytes:
            value = parse_json(PyBytes_AS_STRING(plain), PyBytes_GET_SIZE(plain), &bail)
    if bail:
        return decode(key, PyBytes_FromStringAndSize(p, n))
    return value


def get_sealed(connection, str sql, keys, decode, unseal, Py_ssize_t nonce_len, *, gate=None):
    """``get_many`` over sealed values: a BLOB is opened by ``unseal`` (see ``put_sealed``) and parsed here; every
    other value, and a BLOB this cannot open or parse, is ``decode(key, stored)`` with ``stored`` the bytes of a
    BLOB, the str of a TEXT or None for a SQL NULL."""
    cdef _Keys k = _Keys(keys)
    cdef nb_arena a
    cdef nb_arena blob
    cdef dict out = {}
    cdef long long *row_of = NULL
    cdef long long r
    cdef Py_ssize_t i
    if k.n == 0:
        return out
    memset(&a, 0, sizeof(a))
    memset(&blob, 0, sizeof(blob))
    try:
        row_of = _lookup(connection, sql, k, gate, &a, &blob)
        for i in range(k.n):
            r = row_of[i]
            if r < 0:
                continue
            key = k.keys[i]
            if key in out:  # asked for twice
                continue
            if a.len[2 * r + 1] >= 0 and blob.data[blob.off[r]]:
                out[key] = _unsealed(&a, <size_t>r, unseal, nonce_len, decode, key)
            else:
                out[key] = decode(key, _stored(&a, &blob, <size_t>r))
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        return out
    finally:
        free(row_of)
        nb_arena_free(&a)
        nb_arena_free(&blob)

def scan_blobs(connection, str sql, *, gate=None):
    """``scan`` keeping what is stored: ``(keys, stored)``, a value the bytes of a BLOB, the str of a TEXT, or
    None for a SQL NULL."""
    cdef sqlite3 *db = _db(connection)
    cdef bytes sql_b = _sql(sql)
    cdef const char *csql = sql_b
    cdef nb_status st
    cdef nb_arena a
    cdef nb_arena blob
    cdef sqlite3_stmt *stmt = NULL
    cdef sqlite3_mutex *mutex = sqlite3_db_mutex(db)
    cdef int rc = SQLITE_OK
    cdef size_t i, rows
    cdef list keys, stored
    cdef nb_turn *turn = _turn_of(gate)
    cdef unsigned long me = PyThread_get_thread_ident()
    memset(&a, 0, sizeof(a))
    memset(&blob, 0, sizeof(blob))
    st.code = SQLITE_OK
    st.msg[0] = 0
    try:
        _leave(gate, turn, me)
        with nogil:
            _turn_leave(turn, me)
            sqlite3_mutex_enter(mutex)
            rc = sqlite3_prepare_v2(db, csql, -1, &stmt, NULL)
            if rc != SQLITE_OK:
                nb_fail(db, &st, rc)
            else:
                _collect_typed(db, stmt, &a, &blob, &st)
                sqlite3_finalize(stmt)
            sqlite3_mutex_leave(mutex)
            _turn_enter(turn, me)
        _enter(gate, turn)
        if st.code != SQLITE_OK:
            _raise(&st)
        rows = a.n // 2
        keys = PyList_New(<Py_ssize_t>rows)
        stored = PyList_New(<Py_ssize_t>rows)
        for i in range(rows):
            key = _text(&a, 2 * i)
            Py_INCREF(key)
            PyList_SET_ITEM(keys, <Py_ssize_t>i, key)
            value = _stored(&a, &blob, i)
            Py_INCREF(value)
            PyList_SET_ITEM(stored, <Py_ssize_t>i, value)
            if i % TAPE_SWITCH_EVERY == TAPE_SWITCH_EVERY - 1:
                _tape_switch_point()
        return keys, stored
    finally:
        nb_arena_free(&a)
        nb_arena_free(&blob)
