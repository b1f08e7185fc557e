# The parser: JSON text as UTF-8 bytes -> Python values, a fast path in front of the standard library.
#
# Included textually by _codec.pyx and _bridge.pyx; every name here starts with parse/Parser/_parse/PARSE_.
#
# It is never a second opinion: for a text it either returns exactly what json.JSONDecoder().decode returns,
# or it gives up (``bail``) and the caller hands the text to the standard library, which then produces the
# value or the error message. It gives up on everything it does not handle itself, so that every error and
# every rare form is the standard library's own:
#
#   - any text that is not JSON (the standard library raises on those);
#   - NaN and Infinity (1.6 wrote them without orjson), ints of more than 19 digits or below -2**63, float
#     texts longer than PARSE_NUM_MAX characters;
#   - escapes of lone surrogates, which cannot be built from UTF-8; invalid UTF-8 in strings;
#   - nesting deeper than PARSE_MAX_DEPTH.
#
# Ints are built from their digits, floats by PyOS_string_to_double (what float(str) uses), strings by
# UTF-8 decoding, dicts by PyDict_SetItem in text order (a repeated key keeps its first position and its last
# value, as in the standard library). Needs the GIL throughout (it builds objects); keeps no state between
# calls but the table of shared dict keys (_parse_key).

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_FromDouble
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_GET_LENGTH
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    void *PyUnicode_DATA(object)
    double _parse_strtod "PyOS_string_to_double"(const char *, char **, PyObject *) except? -1.0


cdef extern from "_numparse.h" nogil:
    int NANA_P5_MIN
    int NANA_P5_MAX
    void nana_p5_set(int q, uint64_t hi, uint64_t lo, int e)
    void nana_p5_done()
    int nana_fast_double(uint64_t w, int q, int neg, double *out)
    int nana_all_digits8(uint64_t x)
    uint32_t nana_parse8(uint64_t x)


cdef _parse_init_pow5():
    # 5**q as T * 2**e with 2**127 <= T < 2**128 and T the floor of the exact value (_numparse.h says why)
    for q in range(<object>NANA_P5_MIN, <object>NANA_P5_MAX + 1):  # Python ints: exact powers
        if q >= 0:
            v = 5 ** q
            b = v.bit_length()
            if b >= 128:
                t, e = v >> (b - 128), b - 128
            else:
                t, e = v << (128 - b), b - 128
        else:
            d = 5 ** -q
            s = d.bit_length() + 127
            t, e = (1 << s) // d, -s
        assert t.bit_length() == 128
        nana_p5_set(q, t >> 64, t & 0xFFFFFFFFFFFFFFFF, e)
    nana_p5_done()


_parse_init_pow5()


cdef enum:
    PARSE_MAX_DEPTH = 256
    PARSE_NUM_MAX = 63          # the longest float text handled here (it is copied to a NUL-terminated buffer)
    PARSE_INT_DIGITS = 19       # every 19-digit number fits in a uint64
    PARSE_KEY_MAX = 64          # dict keys of up to this many ASCII bytes are shared (_parse_key)
    PARSE_KEY_SLOTS = 2048      # a power of two


ctypedef struct Parser:
    const unsigned char *p      # the next byte to read
    const unsigned char *end
    int depth
    bint bail                   # given up: the value returned is meaningless
    unsigned char *buf          # strings with escapes are decoded here before they become str objects
    Py_ssize_t cap


cdef inline bint _parse_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef inline void _parse_ws(Parser *ps) noexcept nogil:
    cdef const unsigned char *p = ps.p
    while p < ps.end and (p[0] == 32 or p[0] == 10 or p[0] == 13 or p[0] == 9):
        p += 1
    ps.p = p


cdef inline object _parse_give_up(Parser *ps):
    ps.bail = True
    return None


cdef object _parse_utf8(Parser *ps, const char *data, Py_ssize_t n):
    try:
        return PyUnicode_DecodeUTF8(data, n, NULL)
    except UnicodeDecodeError:  # only from bytes, or from a text read from the file
        return _parse_give_up(ps)


cdef unsigned int _parse_hex4(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """The value of 4 hex digits at p, or 0x10000 (not a code unit) when they are not there."""
    cdef unsigned int v = 0
    cdef unsigned char c
    cdef int i
    if end - p < 4:
        return 0x10000
    for i in range(4):
        c = p[i]
        if 48 <= c <= 57:
            v = v * 16 + (c - 48)
        elif 97 <= c <= 102:
            v = v * 16 + (c - 87)
        elif 65 <= c <= 70:
            v = v * 16 + (c - 55)
        else:
            return 0x10000
    return v


cdef inline Py_ssize_t _parse_put_utf8(unsigned char *out, unsigned int cp) noexcept nogil:
    if cp < 0x80:
        out[0] = <unsigned char>cp
        return 1
    if cp < 0x800:
        out[0] = <unsigned char>(0xC0 | (cp >> 6))
        out[1] = <unsigned char>(0x80 | (cp & 0x3F))
        return 2
    if cp < 0x10000:
        out[0] = <unsigned char>(0xE0 | (cp >> 12))
        out[1] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
        out[2] = <unsigned char>(0x80 | (cp & 0x3F))
        return 3
    out[0] = <unsigned char>(0xF0 | (cp >> 18))
    out[1] = <unsigned char>(0x80 | ((cp >> 12) & 0x3F))
    out[2] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
    out[3] = <unsigned char>(0x80 | (cp & 0x3F))
    return 4


cdef object _parse_escaped(Parser *ps, const unsigned char *start, const unsigned char *p):
    """The rest of a string whose first escape is at p (start: just after the opening quote)."""
    cdef const unsigned char *end = ps.end
    cdef Py_ssize_t n = p - start
    cdef unsigned char c
    cdef unsigned int cp, low
    cdef uint64_t x, m
    cdef int k
    cdef void *grown
    # Decoding never makes a string longer (an escape of 2, 6 or 12 bytes gives 1 to 4 bytes of UTF-8).
    if ps.cap < end - start:
        grown = realloc(ps.buf, <size_t>(end - start))
        if grown == NULL:
            raise MemoryError()
        ps.buf = <unsigned char *>grown
        ps.cap = end - start
    memcpy(ps.buf, start, <size_t>n)
    while p < end:
        # plain bytes 8 at a time (n + 8 <= p - start + 8 <= the buffer's size: see above)
        while end - p >= 8:
            x = nana_load8(p)
            memcpy(ps.buf + n, p, 8)
            m = nana_special8(x)
            if m:
                k = nana_first_byte(m)
                n += k
                p += k
                break
            n += 8
            p += 8
        if p >= end:
            break
        c = p[0]
        if c == 34:  # "
            ps.p = p + 1
            return _parse_utf8(ps, <const char *>ps.buf, n)
        if c < 32:  # a raw control character: the standard library refuses it
            break
        if c != 92:  # \
            ps.buf[n] = c
            n += 1
            p += 1
            continue
        if end - p < 2:
            break
        c = p[1]
        p += 2
        if c == 34 or c == 92 or c == 47:  # " \ /
            ps.buf[n] = c
        elif c == 110:  # n
            ps.buf[n] = 10
        elif c == 116:  # t
            ps.buf[n] = 9
        elif c == 114:  # r
            ps.buf[n] = 13
        elif c == 98:  # b
            ps.buf[n] = 8
        elif c == 102:  # f
            ps.buf[n] = 12
        elif c == 117:  # u
            cp = _parse_hex4(p, end)
            if cp > 0xFFFF or 0xDC00 <= cp <= 0xDFFF:
                break
            p += 4
            if 0xD800 <= cp <= 0xDBFF:  # only a high surrogate followed by a low one makes a character
                if end - p < 6 or p[0] != 92 or p[1] != 117:
                    break
                low = _parse_hex4(p + 2, end)
                if not 0xDC00 <= low <= 0xDFFF:
                    break
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                p += 6
            n += _parse_put_utf8(ps.buf + n, cp)
            continue
        else:
            break
        n += 1
    return _parse_give_up(ps)


cdef object _parse_ascii(const unsigned char *data, Py_ssize_t n):
    s = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(s), data, <size_t>n)
    return s


cdef object _parse_string(Parser *ps, bint key):
    """A string (a dict key when ``key``); ps.p is just after its opening quote."""
    cdef const unsigned char *start = ps.p
    cdef const unsigned char *p = ps.p
    cdef const unsigned char *end = ps.end
    cdef int k
    cdef unsigned char c, high = 0
    cdef uint64_t x, m, high8 = 0
    while end - p >= 8:  # 8 bytes at a time up to the first special byte, noting any non-ASCII byte
        x = nana_load8(p)
        m = nana_special8(x)
        if m:
            k = nana_first_byte(m)
            high8 |= x & ((<uint64_t>1 << (8 * k)) - 1)  # the bytes before it (none when k == 0)
            p += k
            break
        high8 |= x
        p += 8
    if high8 & 0x8080808080808080ULL:
        high = 0x80
    while p < end:
        c = p[0]
        if c == 34:
            ps.p = p + 1
            if high >= 0x80:
                return _parse_utf8(ps, <const char *>start, p - start)
            if key and p - start <= PARSE_KEY_MAX:
                return _parse_key(start, p - start)
            return _parse_ascii(start, p - start)
        if c == 92:
            return _parse_escaped(ps, start, p)
        if c < 32:
            break
        high |= c
        p += 1
    return _parse_give_up(ps)


# Dict keys repeat from value to value (every row of a table has the same ones), so short ASCII keys are
# kept in a small table of str objects with their hash computed: a repeated key costs a compare instead of
# a new str and a hash, and the cached values share their keys' memory. The table only ever holds exact str
# objects equal to the bytes they are found by, so it cannot change a result. It is touched with the GIL
# held and nothing in between can run Python code; a free-threaded build, which has no GIL, does without it.

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define PARSE_SHARED_KEYS 0
    #else
    #define PARSE_SHARED_KEYS 1
    #endif
    """
    const int PARSE_SHARED_KEYS

cdef PyObject *_parse_keys[PARSE_KEY_SLOTS]


cdef object _parse_key(const unsigned char *data, Py_ssize_t n):
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    cdef PyObject *old
    if not PARSE_SHARED_KEYS:
        return _parse_ascii(data, n)
    for i in range(n):
        h = (h ^ data[i]) * 1099511628211ULL
    i = <Py_ssize_t>(h & (PARSE_KEY_SLOTS - 1))
    old = _parse_keys[i]
    if (old != NULL and PyUnicode_GET_LENGTH(<object>old) == n
            and memcmp(PyUnicode_DATA(<object>old), data, <size_t>n) == 0):
        return <object>old
    s = _parse_ascii(data, n)
    hash(s)  # computed once, kept by the str
    Py_INCREF(s)
    _parse_keys[i] = <PyObject *>s
    Py_XDECREF(old)
    return s


cdef object _parse_number(Parser *ps):
    # One pass: validates the JSON number and gathers its significant digits w (at most 19) and its decimal
    # exponent q, so that a float is w * 10**q; _numparse.h turns that into the double, or declines and the
    # text goes to PyOS_string_to_double (as does a float with more than 19 significant digits).
    cdef const unsigned char *p = ps.p
    cdef const unsigned char *start = p
    cdef const unsigned char *end = ps.end
    cdef bint neg = False, is_float = False, exact = True, eneg = False
    cdef uint64_t w = 0
    cdef int digits = 0, q = 0, e = 0
    cdef unsigned int c
    cdef char text[PARSE_NUM_MAX + 1]
    cdef double d
    if p[0] == 45:  # -
        neg = True
        p += 1
    if p >= end or not _parse_digit(p[0]):
        return _parse_give_up(ps)
    if p[0] == 48:  # a leading 0 stands alone
        p += 1
    else:
        while p < end and _parse_digit(p[0]):
            if digits < PARSE_INT_DIGITS:
                w = w * 10 + (p[0] - 48)
            digits += 1
            p += 1
    if p < end and p[0] == 46:  # .
        if end - p < 2 or not _parse_digit(p[1]):
            return _parse_give_up(ps)
        is_float = True
        p += 1
        if digits > PARSE_INT_DIGITS:
            exact = False
        if w == 0:
            while p < end and p[0] == 48:  # leading zeros of the fraction: not significant
                q -= 1
                p += 1
        # eight digits at a time while they fit in the 19 that w holds
        while digits <= PARSE_INT_DIGITS - 8 and end - p >= 8 and nana_all_digits8(nana_load8(p)):
            w = w * 100000000 + nana_parse8(nana_load8(p))
            digits += 8
            q -= 8
            p += 8
        while p < end and _parse_digit(p[0]):
            c = p[0] - 48
            if w == 0 and c == 0:
                q -= 1  # a leading zero of the fraction: not significant
            elif digits < PARSE_INT_DIGITS:
                w = w * 10 + c
                digits += 1
                q -= 1
            else:
                exact = False
            p += 1
    elif digits > PARSE_INT_DIGITS:
        exact = False  # a long integer part, of an int or of a float with an exponent
    if p < end and (p[0] == 101 or p[0] == 69):  # e E
        p += 1
        if p < end and (p[0] == 43 or p[0] == 45):
            eneg = p[0] == 45
            p += 1
        if p >= end or not _parse_digit(p[0]):
            return _parse_give_up(ps)
        is_float = True
        while p < end and _parse_digit(p[0]):
            if e < 100000:
                e = e * 10 + (p[0] - 48)
            p += 1
        q = q - e if eneg else q + e
    ps.p = p
    if is_float:
        if exact and e < 100000 and nana_fast_double(w, q, neg, &d):
            return PyFloat_FromDouble(d)
        if p - start > PARSE_NUM_MAX:
            return _parse_give_up(ps)
        memcpy(text, start, <size_t>(p - start))
        text[p - start] = 0
        return PyFloat_FromDouble(_parse_strtod(text, NULL, NULL))
    if not exact:
        return _parse_give_up(ps)
    if not neg:
        return PyLong_FromUnsignedLongLong(w)
    if w == 0:
        return 0
    if w <= 9223372036854775808ULL:
        return PyLong_FromLongLong(-<long long>(w - 1) - 1)
    return _parse_give_up(ps)


cdef inline bint _parse_word(Parser *ps, const char *word, Py_ssize_t n) noexcept:
    if ps.end - ps.p >= n and memcmp(ps.p, word, <size_t>n) == 0:
        ps.p += n
        return True
    ps.bail = True
    return False


cdef object _parse_array(Parser *ps):
    cdef list out = []
    ps.p += 1
    _parse_ws(ps)
    if ps.p < ps.end and ps.p[0] == 93:  # ]
        ps.p += 1
        return out
    while True:
        value = _parse_value(ps)
        if ps.bail:
            return None
        out.append(value)
        _parse_ws(ps)
        if ps.p >= ps.end:
            return _parse_give_up(ps)
        if ps.p[0] == 44:  # ,
            ps.p += 1
            _parse_ws(ps)
        elif ps.p[0] == 93:
            ps.p += 1
            return out
        else:
            return _parse_give_up(ps)


cdef object _parse_object(Parser *ps):
    cdef dict out = {}
    ps.p += 1
    _parse_ws(ps)
    if ps.p < ps.end and ps.p[0] == 125:  # }
        ps.p += 1
        return out
    while True:
        if ps.p >= ps.end or ps.p[0] != 34:
            return _parse_give_up(ps)
        ps.p += 1
        key = _parse_string(ps, True)
        if ps.bail:
            return None
        _parse_ws(ps)
        if ps.p >= ps.end or ps.p[0] != 58:  # :
            return _parse_give_up(ps)
        ps.p += 1
        _parse_ws(ps)
        value = _parse_value(ps)
        if ps.bail:
            return None
        out[key] = value
        _parse_ws(ps)
        if ps.p >= ps.end:
            return _parse_give_up(ps)
        if ps.p[0] == 44:
            ps.p += 1
            _parse_ws(ps)
        elif ps.p[0] == 125:
            ps.p += 1
            return out
        else:
            return _parse_give_up(ps)


cdef object _parse_value(Parser *ps):
    cdef unsigned char c
    if ps.p >= ps.end:
        return _parse_give_up(ps)
    c = ps.p[0]
    if c == 34:
        ps.p += 1
        return _parse_string(ps, False)
    if c == 45 or _parse_digit(c):
        return _parse_number(ps)
    if c == 123 or c == 91:  # { [
        ps.depth += 1
        if ps.depth > PARSE_MAX_DEPTH:
            return _parse_give_up(ps)
        value = _parse_object(ps) if c == 123 else _parse_array(ps)
        ps.depth -= 1
        return value
    if c == 116:
        return True if _parse_word(ps, "true", 4) else None
    if c == 102:
        return False if _parse_word(ps, "false", 5) else None
    if c == 110:
        _parse_word(ps, "null", 4)
        return None
    return _parse_give_up(ps)


cdef object parse_json(const char *data, Py_ssize_t n, bint *bail):
    """The value of the JSON text data[:n]; ``bail[0]`` is set when the standard library must decide."""
    cdef Parser ps
    ps.p = <const unsigned char *>data
    ps.end = ps.p + n
    ps.depth = 0
    ps.bail = False
    ps.buf = NULL
    ps.cap = 0
    try:
        _parse_ws(&ps)
        value = _parse_value(&ps)
        if not ps.bail:
            _parse_ws(&ps)
            if ps.p != ps.end:
                ps.bail = True
        bail[0] = ps.bail
        return None if ps.bail else value
    finally:
        free(ps.buf)
