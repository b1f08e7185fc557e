# The tape: a batch of Python values validated and flattened into C records, rendered to JSON without the GIL.
#
# Included textually by _codec.pyx and _bridge.pyx; every name here starts with tape/Tape/_tape/TAPE_.
#
# Record layout (TapeRec, 16 bytes); one value = one balanced run of records; values kept in push order:
#
#   kind           n              v
#   TAPE_NULL      -              -                     null
#   TAPE_TRUE      -              -                     true
#   TAPE_FALSE     -              -                     false
#   TAPE_INT       -              v.i  (int64)          -2**63 .. 2**63-1
#   TAPE_UINT      -              v.u  (uint64)         2**63 .. 2**64-1
#   TAPE_NUM       text length    v.off (in t.pool)     a number already written as text with the GIL:
#                                                       int.__repr__ of an int subclass, or repr(float) where
#                                                       nana_fmt_repr is not available
#   TAPE_FLOAT     -              v.d  (double)         a finite float, written as repr() writes it by the
#                                                       GIL-free render phase (nana_fmt_repr, _numparse.h)
#   TAPE_STR       UTF-8 length   v.off (in t.pool)     a string of at most TAPE_COPY_MAX bytes, copied
#   TAPE_KEY       UTF-8 length   v.off (in t.pool)     a dict key (copied); its value's records follow
#   TAPE_STR_REF   -              v.off (in t.refs)     a longer string, read in place: see TapeRef
#   TAPE_KEY_REF   -              v.off (in t.refs)     a longer dict key, read in place
#   TAPE_LIST      -              -                     '['  (list, tuple and their subclasses)
#   TAPE_END_LIST  -              -                     ']'
#   TAPE_DICT      -              -                     '{'  then KEY value KEY value ...
#   TAPE_END_DICT  -              -                     '}'
#
# Short strings (nearly all of them: dict keys, names, tags) are copied into the pool, so the tape holds no
# reference to them and dropping it touches no Python object. A longer string is not copied: its TapeRef
# points into the str object itself (PyUnicode_AsUTF8AndSize: the ASCII data, or the UTF-8 copy that CPython
# caches in the str) and owns a strong reference to the str, so the bytes stay valid, even if another thread
# drops the value meanwhile, until the tape is cleared. Commas and colons are not recorded: the renderer
# derives them from the kind of the previous record. tape_push either appends one complete, valid value or
# raises and appends nothing.
#
# GIL:
#   needs the GIL    tape_push, tape_clear, tape_free
#   no GIL, no Python API (noexcept nogil):
#                    tape_init, tape_init_with, tape_rewind, tape_render_next, tape_render_all,
#                    tapebuf_init, tapebuf_init_with, tapebuf_free
# Out of memory while rendering is the return code TAPE_NOMEM, never an exception. A Tape or TapeBuf must not
# be used by two threads at once, and must not be copied by value (it may point at its caller's storage).
# There is no global mutable state here.

cimport cython
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsUnsignedLongLong
from cpython.mem cimport PyMem_Free
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from libc.math cimport isfinite
from libc.stdlib cimport free, malloc, realloc
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset, strlen

cdef extern from "Python.h":
    # Declared here (aliased) without Cython's automatic error check: a NULL return is inspected by hand.
    const char *_tape_utf8 "PyUnicode_AsUTF8AndSize"(object, Py_ssize_t *)
    long long _tape_as_i64 "PyLong_AsLongLongAndOverflow"(object, int *) except? -1
    char *_tape_dtoa "PyOS_double_to_string"(double, char, int, int, int *)
    Py_ssize_t _tape_dict_size "PyDict_GET_SIZE"(object)
    int _TAPE_DTSF_ADD_DOT_0 "Py_DTSF_ADD_DOT_0"
    const Py_ssize_t _TAPE_SSIZE_MAX "PY_SSIZE_T_MAX"

cdef extern from "_numparse.h" nogil:
    const int NANA_HAVE_SHORTEST
    int nana_fmt_repr(double d, char *buf)
    int nana_fmt_u64(char *out, uint64_t n)
    uint64_t nana_load8(const unsigned char *p)
    uint64_t nana_special8(uint64_t x)
    int nana_first_byte(uint64_t m)
    int nana_escape_str(char **o, size_t room, const unsigned char *s, size_t n, size_t *i)


cdef enum:
    TAPE_MAX_DEPTH = 255

    TAPE_NULL = 1
    TAPE_TRUE
    TAPE_FALSE
    TAPE_INT
    TAPE_UINT
    TAPE_NUM
    TAPE_FLOAT
    TAPE_STR
    TAPE_KEY
    TAPE_STR_REF
    TAPE_KEY_REF
    TAPE_LIST
    TAPE_END_LIST
    TAPE_DICT
    TAPE_END_DICT

    # return codes of the renderers
    TAPE_OK = 0
    TAPE_DONE = 1       # tape_render_next: every value has been rendered
    TAPE_NOMEM = -1     # malloc/realloc failed (the output buffer is left valid, its contents unspecified)


cdef enum:
    TAPE_SWITCH_EVERY = 1024
    # Strings of up to this many UTF-8 bytes are copied into the pool; longer ones are referenced (TapeRef).
    TAPE_COPY_MAX = 256

# Loops that walk or build many Python objects with the GIL held are C loops, which never pass the
# interpreter's switch points: on a big batch they would keep the GIL for tens of milliseconds while an event
# loop in another thread waits. Every TAPE_SWITCH_EVERY items they call this bytecode function: entering it
# runs the eval-breaker check, which hands the GIL over exactly when a waiting thread has asked for it (after
# sys.getswitchinterval()), as pure-Python code does. Releasing the GIL ourselves would not do: CPython's
# waiter only asks for a switch when no hand-off happened during its wait, and a release-and-retake counts
# as one, so it would keep waiting.
_tape_switch_point = eval("lambda: None")


ctypedef union TapeVal:
    const char *s
    double d
    long long i
    unsigned long long u
    Py_ssize_t off

ctypedef struct TapeRec:
    int kind
    unsigned int n          # length of a text in the pool (TAPE_STR, TAPE_KEY, TAPE_NUM)
    TapeVal v

ctypedef struct TapeRef:
    PyObject *ref           # a strong reference to the str, keeping s valid
    const char *s           # its UTF-8 bytes
    Py_ssize_t n

ctypedef struct TapeBuf:
    char *data              # NUL-terminated after every render (the NUL is not counted in len)
    Py_ssize_t len
    Py_ssize_t cap
    bint borrowed           # data is the caller's storage (tapebuf_init_with): never freed, copied on growth

ctypedef struct Tape:
    TapeRec *recs
    Py_ssize_t nrecs
    Py_ssize_t caprecs
    bint borrowed           # recs is the caller's storage (tape_init_with)
    TapeRef *refs           # long strings (TAPE_STR_REF, TAPE_KEY_REF)
    Py_ssize_t nrefs
    Py_ssize_t caprefs
    TapeBuf pool            # short strings and number texts
    Py_ssize_t nvalues      # values pushed
    Py_ssize_t cursor       # record index of the next value to render
    Py_ssize_t rendered     # values rendered since the last rewind
    Py_ssize_t hint         # lower bound of the bytes all values render to (used to size buffers)


# Per-push state: errors the pure codec only raises after validating the whole value.
ctypedef struct _TapeCtx:
    bint surrogate          # a string had a lone surrogate (raised last, as the pure codec does)
    PyObject *deferred      # first error json's encoder itself would raise (owned), or NULL


# ---------------------------------------------------------------------------------------------------------
# Buffers (no GIL)

cdef inline void tapebuf_init(TapeBuf *b) noexcept nogil:
    b.data = NULL
    b.len = 0
    b.cap = 0
    b.borrowed = False


cdef inline void tapebuf_init_with(TapeBuf *b, char *storage, Py_ssize_t cap) noexcept nogil:
    """Start with the caller's storage (e.g. a stack array of cap > 0 bytes); it is copied out if outgrown."""
    b.data = storage
    b.len = 0
    b.cap = cap
    b.borrowed = True


cdef inline void tapebuf_free(TapeBuf *b) noexcept nogil:
    if not b.borrowed:
        free(b.data)
    tapebuf_init(b)


cdef int _tapebuf_grow(TapeBuf *b, Py_ssize_t extra) noexcept nogil:
    # room for extra more bytes plus the terminating NUL
    cdef Py_ssize_t need, cap
    cdef char *p
    if extra > _TAPE_SSIZE_MAX - 1 - b.len:
        return TAPE_NOMEM
    need = b.len + extra + 1
    cap = b.cap
    if cap < 256:
        cap = 256
    while cap < need:
        if cap > _TAPE_SSIZE_MAX // 2:
            cap = need
            break
        cap *= 2
    if b.borrowed:
        p = <char *>malloc(<size_t>cap)
        if p == NULL:
            return TAPE_NOMEM
        if b.len:
            memcpy(p, b.data, <size_t>b.len)
        b.borrowed = False
    else:
        p = <char *>realloc(b.data, <size_t>cap)
        if p == NULL:
            return TAPE_NOMEM
    b.data = p
    b.cap = cap
    return TAPE_OK


cdef inline int _tapebuf_reserve(TapeBuf *b, Py_ssize_t extra) noexcept nogil:
    if b.cap - b.len > extra:
        return TAPE_OK
    return _tapebuf_grow(b, extra)


# ---------------------------------------------------------------------------------------------------------
# Rendering (no GIL)

cdef inline Py_ssize_t _tape_fmt_u64(char *out, unsigned long long u) noexcept nogil:
    return nana_fmt_u64(out, u)


cdef int _tape_write_str(TapeBuf *b, const char *s, Py_ssize_t n, bint key) noexcept nogil:
    # "escaped" (or "escaped": for a key), escapes exactly as json's encoder with ensure_ascii=False
    cdef size_t i = 0
    cdef char *o
    if _tapebuf_reserve(b, n + 32) != TAPE_OK:
        return TAPE_NOMEM
    b.data[b.len] = 34
    b.len += 1
    o = b.data + b.len
    while nana_escape_str(&o, <size_t>(b.cap - (o - b.data) - 2), <const unsigned char *>s, <size_t>n, &i) != 0:
        b.len = o - b.data  # escapes made the text longer than the room: grow, and go on where it stopped
        if _tapebuf_grow(b, <Py_ssize_t>(<size_t>n - i) + 32) != TAPE_OK:
            return TAPE_NOMEM
        o = b.data + b.len
    o[0] = 34
    o += 1
    if key:
        o[0] = 58
        o += 1
    b.len = o - b.data
    return TAPE_OK


cdef int _tape_render_value(Tape *t, TapeBuf *b) noexcept nogil:
    # Appends the value at t.cursor to b and moves the cursor past it. The caller checks cursor < nrecs.
    cdef Py_ssize_t i = t.cursor
    cdef Py_ssize_t depth = 0
    cdef int prev = TAPE_LIST      # "just opened": no comma before the first item
    cdef int kind
    cdef TapeRec *r
    cdef TapeRef *ref
    while True:
        r = &t.recs[i]
        kind = r.kind
        i += 1
        # 32 bytes: a comma plus the longest fixed-size item (a float's 24 characters, an int, a literal)
        if _tapebuf_reserve(b, 32) != TAPE_OK:
            return TAPE_NOMEM
        if kind == TAPE_END_LIST or kind == TAPE_END_DICT:
            b.data[b.len] = 93 if kind == TAPE_END_LIST else 125
            b.len += 1
            depth -= 1
        else:
            if prev != TAPE_LIST and prev != TAPE_DICT and prev != TAPE_KEY and prev != TAPE_KEY_REF:
                b.data[b.len] = 44
                b.len += 1
            if kind == TAPE_STR or kind == TAPE_KEY:
                if _tape_write_str(b, t.pool.data + r.v.off, r.n, kind == TAPE_KEY) != TAPE_OK:
                    return TAPE_NOMEM
            elif kind == TAPE_STR_REF or kind == TAPE_KEY_REF:
                ref = &t.refs[r.v.off]
                if _tape_write_str(b, ref.s, ref.n, kind == TAPE_KEY_REF) != TAPE_OK:
                    return TAPE_NOMEM
            elif kind == TAPE_INT:
                if r.v.i < 0:
                    b.data[b.len] = 45
                    b.len += 1
                    b.len += _tape_fmt_u64(b.data + b.len, 0ULL - <unsigned long long>r.v.i)
                else:
                    b.len += _tape_fmt_u64(b.data + b.len, <unsigned long long>r.v.i)
            elif kind == TAPE_FLOAT:
                b.len += nana_fmt_repr(r.v.d, b.data + b.len)
            elif kind == TAPE_UINT:
                b.len += _tape_fmt_u64(b.data + b.len, r.v.u)
            elif kind == TAPE_NUM:
                if _tapebuf_reserve(b, r.n) != TAPE_OK:
                    return TAPE_NOMEM
                memcpy(b.data + b.len, t.pool.data + r.v.off, <size_t>r.n)
                b.len += r.n
            elif kind == TAPE_NULL:
                memcpy(b.data + b.len, b"null", 4)
                b.len += 4
            elif kind == TAPE_TRUE:
                memcpy(b.data + b.len, b"true", 4)
                b.len += 4
            elif kind == TAPE_FALSE:
                memcpy(b.data + b.len, b"false", 5)
                b.len += 5
            elif kind == TAPE_LIST:
                b.data[b.len] = 91
                b.len += 1
                depth += 1
            else:  # TAPE_DICT
                b.data[b.len] = 123
                b.len += 1
                depth += 1
        prev = kind
        if depth == 0:
            break
    t.cursor = i
    t.rendered += 1
    b.data[b.len] = 0
    return TAPE_OK


cdef inline void tape_rewind(Tape *t) noexcept nogil:
    """Start rendering again from the first value."""
    t.cursor = 0
    t.rendered = 0


cdef inline int tape_render_next(Tape *t, TapeBuf *out) noexcept nogil:
    """Replace out's contents with the JSON of the next value (values come in push order).

    Returns TAPE_OK (out.data[0:out.len], NUL-terminated), TAPE_DONE when every value has been rendered, or
    TAPE_NOMEM. The value's index is t.rendered - 1 after TAPE_OK.
    """
    out.len = 0
    if t.cursor >= t.nrecs:
        if out.data != NULL:
            out.data[0] = 0
        return TAPE_DONE
    return _tape_render_value(t, out)


cdef inline int tape_render_all(Tape *t, TapeBuf *arena, Py_ssize_t *offsets) noexcept nogil:
    """Render every value, from the first, appended to arena: value i is arena.data[offsets[i]:offsets[i+1]].

    offsets must hold t.nvalues + 1 entries. Returns TAPE_OK or TAPE_NOMEM.
    """
    cdef Py_ssize_t i
    tape_rewind(t)
    if _tapebuf_reserve(arena, t.hint) != TAPE_OK:
        return TAPE_NOMEM
    offsets[0] = arena.len
    for i in range(t.nvalues):
        if _tape_render_value(t, arena) != TAPE_OK:
            return TAPE_NOMEM
        offsets[i + 1] = arena.len
    return TAPE_OK


# ---------------------------------------------------------------------------------------------------------
# Building (GIL)

cdef inline void tape_init(Tape *t) noexcept nogil:
    t.recs = NULL
    t.nrecs = 0
    t.caprecs = 0
    t.borrowed = False
    t.refs = NULL
    t.nrefs = 0
    t.caprefs = 0
    tapebuf_init(&t.pool)
    t.nvalues = 0
    t.cursor = 0
    t.rendered = 0
    t.hint = 0


cdef inline void tape_init_with(Tape *t, TapeRec *recs, Py_ssize_t caprecs, char *pool,
                                Py_ssize_t cappool) noexcept nogil:
    """tape_init, starting with the caller's storage (stack arrays, cap > 0); copied out if outgrown."""
    tape_init(t)
    t.recs = recs
    t.caprecs = caprecs
    t.borrowed = True
    tapebuf_init_with(&t.pool, pool, cappool)


ctypedef struct _TapeMark:
    # the sizes of a tape at one moment, to truncate it back to
    Py_ssize_t nrecs
    Py_ssize_t nrefs
    Py_ssize_t npool
    Py_ssize_t hint


cdef inline void _tape_mark(Tape *t, _TapeMark *m) noexcept nogil:
    m.nrecs = t.nrecs
    m.nrefs = t.nrefs
    m.npool = t.pool.len
    m.hint = t.hint


cdef void _tape_truncate(Tape *t, _TapeMark *m) noexcept:
    cdef PyObject *ref
    t.nrecs = m.nrecs
    t.pool.len = m.npool
    t.hint = m.hint
    while t.nrefs > m.nrefs:  # each reference is dropped only after the tape has stopped pointing at it
        t.nrefs -= 1
        ref = t.refs[t.nrefs].ref
        Py_XDECREF(ref)


cdef inline void tape_clear(Tape *t) noexcept:
    """Drop every value (releasing the str references) but keep the memory for reuse. GIL held."""
    cdef _TapeMark empty
    memset(&empty, 0, sizeof(empty))
    _tape_truncate(t, &empty)
    t.nvalues = 0
    tape_rewind(t)


cdef void tape_free(Tape *t) noexcept:
    """Release every reference and all memory; the tape is left empty (as tape_init) for reuse. GIL held."""
    tape_clear(t)
    if not t.borrowed:
        free(t.recs)
    free(t.refs)
    tapebuf_free(&t.pool)
    tape_init(t)


cdef TapeRec *_tape_add(Tape *t, int kind) except NULL:
    cdef Py_ssize_t cap
    cdef TapeRec *p
    cdef TapeRec *r
    if t.nrecs == t.caprecs:
        cap = 32 if t.caprecs < 16 else t.caprecs * 2
        if cap > _TAPE_SSIZE_MAX // <Py_ssize_t>sizeof(TapeRec):
            raise MemoryError()
        if t.borrowed:
            p = <TapeRec *>malloc(<size_t>cap * sizeof(TapeRec))
            if p != NULL and t.nrecs:
                memcpy(p, t.recs, <size_t>t.nrecs * sizeof(TapeRec))
        else:
            p = <TapeRec *>realloc(t.recs, <size_t>cap * sizeof(TapeRec))
        if p == NULL:
            raise MemoryError()
        t.recs = p
        t.caprecs = cap
        t.borrowed = False
    r = &t.recs[t.nrecs]
    t.nrecs += 1
    r.kind = kind
    return r


cdef Py_ssize_t _tape_add_ref(Tape *t, object s, const char *p, Py_ssize_t n) except -1:
    # keeps a strong reference to s, whose UTF-8 bytes are p[:n]; returns its index in t.refs
    cdef Py_ssize_t cap
    cdef TapeRef *refs
    if t.nrefs == t.caprefs:
        cap = 16 if t.caprefs < 16 else t.caprefs * 2
        if cap > _TAPE_SSIZE_MAX // <Py_ssize_t>sizeof(TapeRef):
            raise MemoryError()
        refs = <TapeRef *>realloc(t.refs, <size_t>cap * sizeof(TapeRef))
        if refs == NULL:
            raise MemoryError()
        t.refs = refs
        t.caprefs = cap
    Py_INCREF(s)
    t.refs[t.nrefs].ref = <PyObject *>s
    t.refs[t.nrefs].s = p
    t.refs[t.nrefs].n = n
    t.nrefs += 1
    return t.nrefs - 1


cdef int _tape_add_text(Tape *t, int kind, const char *s, Py_ssize_t n) except -1:
    # a record of kind whose text s[:n] (n <= TAPE_COPY_MAX) is copied into the pool
    cdef TapeRec *r
    if _tapebuf_reserve(&t.pool, n) != TAPE_OK:
        raise MemoryError()
    r = _tape_add(t, kind)
    r.n = <unsigned int>n
    r.v.off = t.pool.len
    memcpy(t.pool.data + t.pool.len, s, <size_t>n)
    t.pool.len += n
    return 0


cdef int _tape_add_num_text(Tape *t, const char *s, Py_ssize_t n) except -1:
    _tape_add_text(t, TAPE_NUM, s, n)
    t.hint += n + 1
    return 0


# float.__repr__ is David Gay's shortest round-trip text ("short" float_repr_style, every supported platform);
# nana_fmt_repr writes the same text without the GIL where the compiler has 128-bit integers.
cdef bint _tape_floats_nogil = NANA_HAVE_SHORTEST and __import__("sys").float_repr_style == "short"


cdef int _tape_add_float(Tape *t, double d) except -1:
    # Exactly float.__repr__ (the caller has checked that d is finite).
    cdef TapeRec *r
    cdef char *s
    if _tape_floats_nogil:
        r = _tape_add(t, TAPE_FLOAT)
        r.v.d = d
        t.hint += 20
        return 0
    s = _tape_dtoa(d, b'r', 0, _TAPE_DTSF_ADD_DOT_0, NULL)
    if s == NULL:
        raise MemoryError()
    try:
        _tape_add_num_text(t, s, <Py_ssize_t>strlen(s))
    finally:
        PyMem_Free(s)
    return 0


cdef int _tape_check_int(object v) except -1:
    # v is an exact int; ValueError unless INT_MIN <= v <= INT_MAX
    cdef int overflow = 0
    _tape_as_i64(v, &overflow)
    if overflow < 0 or (overflow > 0 and int.bit_length(v) > 64):
        raise ValueError("int out of the 64-bit range")
    return 0


cdef int _tape_add_int(Tape *t, object v) except -1:
    # v is an int (or a subclass, read as its own value); returns 1 if it does not fit in 64 bits
    cdef int overflow = 0
    cdef long long x = _tape_as_i64(v, &overflow)
    cdef TapeRec *r
    if overflow == 0:
        r = _tape_add(t, TAPE_INT)
        r.v.i = x
    elif overflow > 0 and int.bit_length(v) <= 64:
        r = _tape_add(t, TAPE_UINT)
        r.v.u = PyLong_AsUnsignedLongLong(v)
    else:
        return 1
    t.hint += 2
    return 0


cdef int _tape_add_str(Tape *t, _TapeCtx *ctx, object s, int kind) except -1:
    cdef Py_ssize_t n
    cdef const char *p = _tape_utf8(s, &n)
    cdef TapeRec *r
    if p == NULL:
        if PyErr_ExceptionMatches(UnicodeEncodeError):
            PyErr_Clear()
            ctx.surrogate = True
            return 0
        return -1
    if n <= TAPE_COPY_MAX:
        _tape_add_text(t, kind, p, n)
    else:
        r = _tape_add(t, TAPE_STR_REF if kind == TAPE_STR else TAPE_KEY_REF)
        r.v.off = _tape_add_ref(t, s, p, n)
    t.hint += n + 4
    return 0


cdef int _tape_defer(_TapeCtx *ctx, object exc) except -1:
    if ctx.deferred == NULL:
        Py_INCREF(exc)
        ctx.deferred = <PyObject *>exc
    return 0


cdef int _tape_walk(Tape *t, _TapeCtx *ctx, object v, int depth) except -1:
    # Mirrors codec._check (same order, same errors) while recording; json's own encoder errors are deferred.
    cdef object tp = type(v)
    cdef double d
    if tp is str:
        return _tape_add_str(t, ctx, v, TAPE_STR)
    if v is None:
        _tape_add(t, TAPE_NULL)
        t.hint += 5
        return 0
    if tp is bool:
        _tape_add(t, TAPE_TRUE if v is True else TAPE_FALSE)
        t.hint += 6
        return 0
    if tp is int:
        if _tape_add_int(t, v):
            raise ValueError("int out of the 64-bit range")
        return 0
    if tp is float:
        d = PyFloat_AS_DOUBLE(v)
        if not isfinite(d):
            raise ValueError("NaN and Infinity are not valid JSON")
        return _tape_add_float(t, d)
    if tp is dict:
        return _tape_walk_dict(t, ctx, v, depth)
    if tp is list or tp is tuple:
        return _tape_walk_seq(t, ctx, v, depth)
    # Subclasses are validated and written by the value they hold (what int.__repr__ and float.__repr__
    # print), never by what an overridden __int__ or __float__ returns.
    if isinstance(v, str):
        return _tape_add_str(t, ctx, v, TAPE_STR)
    if isinstance(v, int):
        _tape_check_int(v)
        if _tape_add_int(t, v):
            s = int.__repr__(v).encode("ascii")
            _tape_add_num_text(t, s, len(s))
        return 0
    if isinstance(v, float):
        d = PyFloat_AS_DOUBLE(v)
        if not isfinite(d):
            raise ValueError("NaN and Infinity are not valid JSON")
        return _tape_add_float(t, d)
    if isinstance(v, dict):
        return _tape_walk_dict(t, ctx, v, depth)
    if isinstance(v, (list, tuple)):
        return _tape_walk_seq(t, ctx, v, depth)
    raise TypeError(f"values of type {type(v).__name__!r} cannot be stored as JSON")


cdef int _tape_too_deep() except -1:
    raise ValueError(f"value nested deeper than {TAPE_MAX_DEPTH} levels (or a reference cycle)")


cdef int _tape_key_error(object k) except -1:
    raise TypeError(f"dict keys must be str, not {type(k).__name__}")


cdef int _tape_walk_seq(Tape *t, _TapeCtx *ctx, object seq, int depth) except -1:
    depth += 1
    if depth > TAPE_MAX_DEPTH:
        _tape_too_deep()
    _tape_add(t, TAPE_LIST)
    if type(seq) is list:
        for item in <list>seq:
            _tape_walk(t, ctx, item, depth)
    elif type(seq) is tuple:
        for item in <tuple>seq:
            _tape_walk(t, ctx, item, depth)
    else:
        for item in seq:
            _tape_walk(t, ctx, item, depth)
    _tape_add(t, TAPE_END_LIST)
    t.hint += 2
    return 0


cdef int _tape_walk_dict(Tape *t, _TapeCtx *ctx, object d, int depth) except -1:
    cdef _TapeMark mark
    cdef _TapeCtx saved
    depth += 1
    if depth > TAPE_MAX_DEPTH:
        _tape_too_deep()
    _tape_add(t, TAPE_DICT)
    if type(d) is dict:
        for k, v in (<dict>d).items():
            if not isinstance(k, str):
                _tape_key_error(k)
            _tape_add_str(t, ctx, k, TAPE_KEY)
            _tape_walk(t, ctx, v, depth)
    else:
        # A dict subclass: its items() is checked and written; but json writes "{}" without calling items()
        # when the dict itself is empty, so then only the check counts.
        _tape_mark(t, &mark)
        saved = ctx[0]
        for item in d.items():
            if type(item) is not tuple or len(<tuple>item) != 2:
                _tape_defer(ctx, ValueError("items must return 2-tuples"))
            k, v = item
            if not isinstance(k, str):
                _tape_key_error(k)
            _tape_add_str(t, ctx, k, TAPE_KEY)
            _tape_walk(t, ctx, v, depth)
        if _tape_dict_size(d) == 0:
            _tape_truncate(t, &mark)
            if ctx.deferred != saved.deferred:
                Py_XDECREF(ctx.deferred)
            ctx[0] = saved
    _tape_add(t, TAPE_END_DICT)
    t.hint += 2
    return 0


cdef int tape_push(Tape *t, object value) except -1:
    """Validate value and append it to the tape; GIL held.

    Raises exactly what codec.dumps(value) raises (TypeError/ValueError, same message), and then leaves the
    tape as it was.
    """
    cdef _TapeMark mark
    cdef _TapeCtx ctx
    _tape_mark(t, &mark)
    ctx.surrogate = False
    ctx.deferred = NULL
    try:
        _tape_walk(t, &ctx, value, 0)
        if ctx.deferred != NULL:
            raise <object>ctx.deferred
        if ctx.surrogate:
            raise ValueError("strings must not contain lone surrogates")
    except BaseException:
        _tape_truncate(t, &mark)
        raise
    finally:
        Py_XDECREF(ctx.deferred)
    t.nvalues += 1
    return 0


import json as _tape_json

# json's own encoder, used only to raise its own error for a value the check lets through
_tape_json_encode = _tape_json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode
