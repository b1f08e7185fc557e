# cython: freethreading_compatible=True, autotestdict=False
"""Compiled twin of ``nanasqlite.codec``: values <-> JSON text, byte for byte the same as the pure module.

``dumps`` and ``encode_many`` flatten values onto a tape (``_tape.pxi``) with the GIL and render the JSON from
it; big batches and big values are rendered with the GIL released. The module keeps no mutable state.
"""

from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_READ_CHAR

include "_tape.pxi"
include "_parse.pxi"

__all__ = ["MAX_DEPTH", "INT_MIN", "INT_MAX", "dumps", "loads", "encode_many"]

MAX_DEPTH = TAPE_MAX_DEPTH
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

# Renders of at least this many bytes are done with the GIL released.
cdef enum:
    _NOGIL_BYTES = 1 << 16
    # encode_many renders when a chunk reaches either size
    _CHUNK_VALUES = 512
    _CHUNK_RECORDS = 16384

_decoder = _tape_json.JSONDecoder()
_decode = _decoder.decode
_scan_once = _decoder.scan_once


def dumps(value):
    """Return the JSON text of ``value``; raise ``TypeError`` or ``ValueError`` if it cannot be stored."""
    cdef TapeRec recs[24]
    cdef char pool[512]
    cdef char out[512]
    cdef Tape t
    cdef TapeBuf b
    cdef int rc
    tape_init_with(&t, recs, 24, pool, sizeof(pool))
    tapebuf_init_with(&b, out, sizeof(out))
    try:
        tape_push(&t, value)
        if _tapebuf_reserve(&b, t.hint) != TAPE_OK:
            raise MemoryError()
        if t.hint < _NOGIL_BYTES:
            rc = tape_render_next(&t, &b)
        else:
            with nogil:
                rc = tape_render_next(&t, &b)
        if rc != TAPE_OK:
            raise MemoryError()
        return tape_text(b.data, b.len, NULL)
    finally:
        tape_free(&t)
        tapebuf_free(&b)


def encode_many(values):
    """Return ``[dumps(v) for v in values]``; the first value that cannot be stored raises as ``dumps`` would.

    One tape serves the whole batch, filled and rendered (``tape_render_all``) a chunk of values at a time so
    that it stays in the CPU caches.
    """
    cdef Tape t
    cdef TapeBuf b
    cdef Py_ssize_t offsets[_CHUNK_VALUES + 1]
    cdef Py_ssize_t done = 0, total
    cdef list out
    if type(values) is not list and type(values) is not tuple:
        values = list(values)
    total = len(values)
    out = PyList_New(total)
    tape_init(&t)
    tapebuf_init(&b)
    try:
        for value in values:
            tape_push(&t, value)
            if t.nvalues == _CHUNK_VALUES or t.nrecs >= _CHUNK_RECORDS:
                done = _flush(&t, &b, offsets, out, done)
                _tape_switch_point()
        if t.nvalues:
            done = _flush(&t, &b, offsets, out, done)
        if done != total:  # values changed size while it was read
            out = out[:done] if done < total else out
        return out
    finally:
        tape_free(&t)
        tapebuf_free(&b)


cdef Py_ssize_t _flush(Tape *t, TapeBuf *b, Py_ssize_t *offsets, list out, Py_ssize_t done) except -1:
    # renders the tape's values into out[done:], then empties the tape
    cdef Py_ssize_t i, n = t.nvalues
    cdef int rc
    b.len = 0
    if t.hint < _NOGIL_BYTES:
        rc = tape_render_all(t, b, offsets)
    else:
        with nogil:
            rc = tape_render_all(t, b, offsets)
    if rc != TAPE_OK:
        raise MemoryError()
    for i in range(n):
        text = tape_text(b.data + offsets[i], offsets[i + 1] - offsets[i], NULL)
        if done + i < len(out):
            Py_INCREF(text)
            PyList_SET_ITEM(out, done + i, text)
        else:
            out.append(text)
    tape_clear(t)
    return done + n


def loads(text):
    """Return the value of a JSON text (``ValueError`` if it is not JSON)."""
    cdef Py_ssize_t n
    cdef const char *data
    cdef bint bail = True
    cdef Py_UCS4 c
    cdef tuple found
    # The parser (_parse.pxi) answers nearly every text; what it gives up on, the standard library decides.
    if type(text) is str:
        data = _tape_utf8(text, &n)
        if data == NULL:  # lone surrogates: not UTF-8
            PyErr_Clear()
        else:
            value = parse_json(data, n, &bail)
    elif type(text) is bytes:
        value = parse_json(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), &bail)
    if not bail:
        return value
    if not isinstance(text, str):
        text = text.decode("utf-8")
    # json.JSONDecoder.decode without its two whitespace regex matches when the text has no surrounding
    # whitespace; anything else (whitespace, errors, trailing data) goes through decode itself, which raises
    # its own errors.
    n = PyUnicode_GET_LENGTH(text)
    if n:
        c = PyUnicode_READ_CHAR(text, 0)
        if c != 32 and c != 9 and c != 10 and c != 13:
            try:
                found = _scan_once(text, 0)
            except StopIteration:
                pass
            else:
                if <Py_ssize_t>found[1] == n:
                    return found[0]
    return _decode(text)
