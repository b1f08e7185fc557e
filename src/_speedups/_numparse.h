/* Decimal text -> double without the standard library's bignum reader, for the parser (_parse.pxi).
 *
 * nana_fast_double(w, q, neg, &out) computes the double nearest to w * 10**q (w < 2**64, round half to even,
 * what float(text) returns) and returns 1, or returns 0 when it cannot prove the answer cheaply; the caller
 * then asks PyOS_string_to_double. It never returns a wrong double; it only sometimes declines:
 *
 * 1. Clinger's exact case: w <= 2**53 and |q| <= 22. w and 10**|q| are exact doubles, so one IEEE multiply or
 *    divide (correctly rounded) gives the answer. Only where doubles are evaluated in double precision
 *    (FLT_EVAL_METHOD == 0); elsewhere this case goes through 2.
 *
 * 2. Everything else with 10**q in the table: 5**q is known as T * 2**e with T a 128-bit integer,
 *    2**127 <= T < 2**128, T the floor of the exact value (so the true 5**q lies in [T, T+1) * 2**e; exact for
 *    small q >= 0). With w normalised to wn = w << lz (bit 63 set), the 192-bit product P = wn * T satisfies
 *        w * 10**q = wn * 5**q * 2**(q - lz)  in  [P, P + wn) * 2**(e + q - lz)
 *    and, as wn < 2**64, with L = floor(P / 2**64) (its top 128 bits, L >= 2**126):
 *        w * 10**q  in  [L, L + 2) * 2**(e + q - lz + 64).
 *    Rounding to nearest-even is monotone, so when the 128-bit integers L and L + 2 round to the same
 *    double, so does every real between them, the true value included. Otherwise (the value lies within
 *    about 2**-125 relative of a rounding boundary) it declines. It also declines for results that are not
 *    normal doubles (subnormals round differently; overflow is left to the standard library).
 *
 * The table is filled once per module by _parse.pxi (parse_init_pow5) from Python's exact integers.
 */
#ifndef NANA_NUMPARSE_H
#define NANA_NUMPARSE_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NANA_P5_MIN (-342)
#define NANA_P5_MAX 324
#define NANA_P5_COUNT (NANA_P5_MAX - NANA_P5_MIN + 1)

/* 5**q ~ (hi * 2**64 + lo) * 2**e, for q in [NANA_P5_MIN, NANA_P5_MAX] at index q - NANA_P5_MIN */
static uint64_t nana_p5_hi[NANA_P5_COUNT];
static uint64_t nana_p5_lo[NANA_P5_COUNT];
static int nana_p5_e[NANA_P5_COUNT];
static int nana_p5_ready = 0;

static inline void nana_p5_set(int q, uint64_t hi, uint64_t lo, int e) {
    nana_p5_hi[q - NANA_P5_MIN] = hi;
    nana_p5_lo[q - NANA_P5_MIN] = lo;
    nana_p5_e[q - NANA_P5_MIN] = e;
}

static inline void nana_p5_done(void) { nana_p5_ready = 1; }

static inline void nana_mul64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) {
#if defined(__SIZEOF_INT128__)
    unsigned __int128 p = (unsigned __int128)a * b;
    *hi = (uint64_t)(p >> 64);
    *lo = (uint64_t)p;
#else
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    *lo = (mid << 32) | (p00 & 0xffffffffu);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

static inline int nana_clz64(uint64_t x) { /* x != 0 */
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(x);
#else
    int n = 0;
    while (!(x & 0x8000000000000000ull)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* Rounds the 128-bit integer hi:lo (hi >= 2**62) to 53 bits, half to even: *m in [2**52, 2**53), and
 * hi:lo ~ *m * 2**(*shift). */
static inline void nana_round128(uint64_t hi, uint64_t lo, uint64_t *m, int *shift) {
    int b = 128 - nana_clz64(hi);   /* bit length, >= 127 */
    int s = b - 53 - 64;            /* bits of hi below the 53 kept ones: >= 10 */
    uint64_t keep = hi >> s;
    uint64_t rem = hi & ((1ull << s) - 1);
    uint64_t half = 1ull << (s - 1);
    if (rem > half || (rem == half && (lo != 0 || (keep & 1)))) {
        keep++;
        if (keep == (1ull << 53)) {
            keep >>= 1;
            s++;
        }
    }
    *m = keep;
    *shift = s + 64;
}

static const double nana_p10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                          1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline int nana_fast_double(uint64_t w, int q, int neg, double *out) {
    uint64_t wn, thi, tlo, ahi, alo, bhi, blo, mid, top, m1, m2, l2, t2, bits;
    int lz, s1, s2, e2;
    long long E;
    double d;
    if (w == 0) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    if (w <= (1ull << 53) && q >= -22 && q <= 22) {
        d = (double)w;
        d = q < 0 ? d / nana_p10_exact[-q] : d * nana_p10_exact[q];
        *out = neg ? -d : d;
        return 1;
    }
#endif
    if (!nana_p5_ready || q < NANA_P5_MIN || q > NANA_P5_MAX)
        return 0;
    thi = nana_p5_hi[q - NANA_P5_MIN];
    tlo = nana_p5_lo[q - NANA_P5_MIN];
    e2 = nana_p5_e[q - NANA_P5_MIN];
    lz = nana_clz64(w);
    wn = w << lz;
    nana_mul64(wn, tlo, &ahi, &alo);
    nana_mul64(wn, thi, &bhi, &blo);
    (void)alo;
    mid = blo + ahi;
    top = bhi + (mid < blo);
    /* L = top:mid; L + 2 */
    l2 = mid + 2;
    t2 = top + (l2 < mid);
    if (t2 < top)
        return 0; /* cannot happen (top < 2**64 - 1 as T < 2**128), kept as a guard */
    nana_round128(top, mid, &m1, &s1);
    nana_round128(t2, l2, &m2, &s2);
    if (m1 != m2 || s1 != s2)
        return 0;
    E = (long long)s1 + e2 + q - lz + 64; /* the value is m1 * 2**E, m1 in [2**52, 2**53) */
    if (E < -1073 || E > 971)
        return 0; /* not a normal double (the smallest normal is left to the standard library too) */
    bits = ((uint64_t)(E + 52 + 1023) << 52) | (m1 & ((1ull << 52) - 1));
    if (neg)
        bits |= 0x8000000000000000ull;
    memcpy(&d, &bits, sizeof d);
    *out = d;
    return 1;
}

/* ---- eight digits at a time, for the parser ---------------------------------------------------------- */

static inline uint64_t nana_load8(const unsigned char *p) { /* little-endian, as the tricks below want */
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* whether all 8 bytes of x are ASCII digits: each byte's high nibble is 3, and adding 6 keeps it 3 */
static inline int nana_all_digits8(uint64_t x) {
    return ((x & 0xF0F0F0F0F0F0F0F0ull) | (((x + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) ==
           0x3333333333333333ull;
}

/* the value of 8 ASCII digits (the first in the low byte): pairs, then quads, then the whole, by multiplies */
static inline uint32_t nana_parse8(uint64_t x) {
    x -= 0x3030303030303030ull;
    x = (x * 10) + (x >> 8); /* each even byte: 2-digit value */
    x = (((x & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((x >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
    return (uint32_t)x;
}

/* ---- JSON strings, eight bytes at a time (the writer in _tape.pxi, the parser in _parse.pxi) -------------
 *
 * nana_special8(x): for the 8 bytes of x (the first in the low byte), a mask whose lowest set bit is the high
 * bit of the first byte that is '"', '\\' or below 0x20 (what a JSON string must escape), 0 when none is.
 * Each test is the classic "byte below n" borrow trick; a borrow only ever flags bytes above a true hit, so
 * the lowest set bit is exact. Bytes of 0x80 and above (UTF-8) are never flagged.
 */
static inline uint64_t nana_special8(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * 0x22); /* '"' becomes 0 */
    uint64_t b = x ^ (ones * 0x5C); /* '\\' becomes 0 */
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* the index (0-7) of the byte whose high bit is the lowest set bit of m != 0 */
static inline int nana_first_byte(uint64_t m) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(m) >> 3;
#else
    int i = 0;
    while (!(m & 0x80)) {
        m >>= 8;
        i++;
    }
    return i;
#endif
}

#if (defined(__SSE2__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
#define NANA_SSE2 1
/* nana_special8 for 16 bytes: bit k set when byte k is '"', '\\' or below 0x20 */
static inline unsigned nana_special16(__m128i v) {
    __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_or_si128(q, b)));
}
#else
#define NANA_SSE2 0
#endif

/* Write byte c (one that nana_special8 flags) escaped as json's encoder does: \" \\ \b \t \n \f \r, or \u00xx
 * (lowercase hex) for the other control characters. Returns the bytes written (2 or 6). */
static inline int nana_escape_byte(char *o, unsigned char c) {
    static const char two[32] = {0, 0, 0, 0, 0, 0, 0, 0, 'b', 't', 'n', 0, 'f', 'r', 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 0, 0,   0,   0,   0, 0,   0,   0, 0};
    o[0] = '\\';
    if (c == '"' || c == '\\') {
        o[1] = (char)c;
        return 2;
    }
    if (two[c]) {
        o[1] = two[c];
        return 2;
    }
    o[1] = 'u';
    o[2] = '0';
    o[3] = '0';
    o[4] = c >= 16 ? '1' : '0';
    o[5] = "0123456789abcdef"[c & 15];
    return 6;
}

/*
 * The body of a JSON string for the n UTF-8 bytes at s, escaped, written at *o (the caller writes the quotes).
 * The output has room for `room` bytes at *o; it must hold n + 16 at least. Plain bytes are copied 16 (SSE2) or 8 at a time
 * while they are scanned (the store runs ahead of the scan: the bytes after an escape are written again), so a
 * text with an escape every few dozen bytes costs no call per run. Returns 0, or -1 when the room runs out
 * (an escape grows the text): *o and *i then say where to go on once the caller has made more room.
 */
static inline int nana_escape_str(char **op, size_t room, const unsigned char *s, size_t n, size_t *ip) {
    char *o = *op, *end = *op + room;
    size_t i = *ip;
    for (;;) {
        unsigned char c;
        for (;;) {
#if NANA_SSE2
            if (i + 16 <= n) {
                __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
                _mm_storeu_si128((__m128i *)o, v);
                unsigned m16 = nana_special16(v);
                if (m16) {
                    int k = __builtin_ctz(m16);
                    i += (size_t)k;
                    o += k;
                    break;
                }
                i += 16;
                o += 16;
                continue;
            }
#endif
            if (i + 8 > n) {
                while (i < n && (c = s[i]) >= 0x20 && c != '"' && c != '\\') *o++ = (char)s[i++];
                break;
            }
            uint64_t w = nana_load8(s + i);
            memcpy(o, s + i, 8);
            uint64_t m = nana_special8(w);
            if (m) {
                int k = nana_first_byte(m);
                i += (size_t)k;
                o += k;
                break;
            }
            i += 8;
            o += 8;
        }
        if (i >= n) break;
        /* an escape: 6 bytes at most for 1, and the 8-byte stores need the rest of the input + 16 after it */
        if ((size_t)(end - o) < (n - i) + 16 + 6) {
            *op = o;
            *ip = i;
            return -1;
        }
        o += nana_escape_byte(o, s[i]);
        i++;
    }
    *op = o;
    *ip = i;
    return 0;
}

/* ---- integers -> decimal text ------------------------------------------------------------------------ */

static const char nana_digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                          "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                          "8081828384858687888990919293949596979899";

static const uint64_t nana_pow10_u64[20] = {1ull,
                                            10ull,
                                            100ull,
                                            1000ull,
                                            10000ull,
                                            100000ull,
                                            1000000ull,
                                            10000000ull,
                                            100000000ull,
                                            1000000000ull,
                                            10000000000ull,
                                            100000000000ull,
                                            1000000000000ull,
                                            10000000000000ull,
                                            100000000000000ull,
                                            1000000000000000ull,
                                            10000000000000000ull,
                                            100000000000000000ull,
                                            1000000000000000000ull,
                                            10000000000000000000ull};

/* how many decimal digits n has (1 for 0) */
static inline int nana_ndigits(uint64_t n) {
    uint64_t m = n | 1; /* the same digit count */
    int t = ((64 - nana_clz64(m)) * 1233) >> 12; /* log10(2) ~ 1233 / 4096: t or t + 1 digits */
    return t - (m < nana_pow10_u64[t]) + 1;
}

/* Writes exactly nd digits of n < 10**nd to out[0:nd], from the last: pairs of digits, 8 at a time split off
 * with one division, so that the dependency chains stay short. Every byte is stored once, where it belongs
 * (no scratch buffer copied afterwards, whose reads would stall on the small stores). */
static inline void nana_fmt_digits(char *out, uint64_t n, int nd) {
    char *p = out + nd;
    uint32_t m, a, b;
    while (n >= 100000000u) {
        uint64_t q = n / 100000000u;
        m = (uint32_t)(n - q * 100000000u);
        a = m / 10000;
        b = m % 10000;
        memcpy(p - 8, nana_digit_pairs + 2 * (a / 100), 2);
        memcpy(p - 6, nana_digit_pairs + 2 * (a % 100), 2);
        memcpy(p - 4, nana_digit_pairs + 2 * (b / 100), 2);
        memcpy(p - 2, nana_digit_pairs + 2 * (b % 100), 2);
        p -= 8;
        n = q;
    }
    m = (uint32_t)n;
    while (p - out >= 2) {
        p -= 2;
        memcpy(p, nana_digit_pairs + 2 * (m % 100), 2);
        m /= 100;
    }
    if (p > out)
        *--p = (char)('0' + m);
}

/* the decimal digits of n written to out; returns how many (at most 20) */
static inline int nana_fmt_u64(char *out, uint64_t n) {
    int nd = nana_ndigits(n);
    nana_fmt_digits(out, n, nd);
    return nd;
}

/* ---- double -> repr text, for the tape's GIL-free render phase (_tape.pxi) ------------------------------
 *
 * nana_fmt_repr(d, buf) writes repr(d) of a finite d into buf (>= 32 bytes) and returns its length. It never
 * declines, so the tape can keep the double itself and write its text without the GIL. Only where unsigned
 * __int128 exists (NANA_HAVE_SHORTEST); elsewhere the tape formats floats with the GIL (PyOS_double_to_string).
 *
 * repr(d) is the shortest decimal that reads back as d (float() rounds half to even), the nearest to d among
 * those, ties to an even last digit: David Gay's dtoa mode 0. nana_shortest finds it without iterating, as in
 * R. Giulietti's Schubfach ("The Schubfach way to render doubles", 2020):
 *
 * d = c * 2**q. The reals that read back as d form the interval R from (c - 1/2) * 2**q (c - 1/4 when c is a
 * power of two above the smallest normal: the gap below is half as wide) to (c + 1/2) * 2**q, both ends
 * included exactly when c is even. Choose k with 10**k <= |R| < 10**(k + 1): R holds at least one multiple of
 * 10**k and at most one of 10**(k + 1). Scaled by 10**-k and by 4 (so that the decisions below compare with
 * even integers only), the ends and d are vbl = cbl * 2**q * 10**-k, vbr and vb, with cb = 4c,
 * cbl = 4c - 2 (or 4c - 1), cbr = 4c + 2. Each is computed rounded to odd (its floor, with the lowest bit set
 * when it is not an integer), which keeps every comparison with an even integer exact. Then, with
 * s = floor(vb / 4):
 *   - if exactly one of the multiples of 10 around s, 10*floor(s/10) and the next, lies in R, it is the
 *     answer (R holds no shorter decimal: any would be a multiple of 10 too, and R holds at most one);
 *   - else the answer is s or s + 1 (whichever lies in R, or the nearer to d when both do, ties to even).
 *
 * The product: 5**-k ~ T * 2**e with T the floor of 128 bits (the parser's table), and g = T + 1 overshoots
 * 5**-k * 2**-e by at most 1. For x = cbl, cb or cbr (< 2**55), x * 2**q * 10**-k = cp * g * 2**-128 with
 * cp = x << h, h = 128 - (k - q - e) (1 <= h <= 4 for every double), up to an excess of at most cp units of
 * 2**-128 (< 2**-69). So the computed quotient is the floor, and the fraction bits tell integer from not: a
 * fraction of at most cp units can only be an integer's (by the bound Schubfach relies on, due to Nadezhin: a non-integer x * 2**q * 10**-k is
 * farther than 2**-64 from every integer for doubles), anything more is not one.
 *
 * Checked against repr() on the edges and on 2 * 10**7 random doubles (scripts/check_float_format.py), and
 * on Hypothesis doubles by the test suite.
 */
#if defined(__SIZEOF_INT128__)
#define NANA_HAVE_SHORTEST 1
typedef unsigned __int128 nana_u128;

/* cp * g * 2**-128 rounded to odd, g = ghi:glo (see above). The product's top 64 bits are the quotient; the
 * 128 bits below it are the fraction, at most cp (the excess of g over the exact power) for an integer. */
static inline uint64_t nana_ro(uint64_t ghi, uint64_t glo, uint64_t cp) {
    nana_u128 lo = (nana_u128)glo * cp;
    nana_u128 top = (nana_u128)ghi * cp + (uint64_t)(lo >> 64);
    return (uint64_t)(top >> 64) | (uint64_t)((uint64_t)top != 0 || (uint64_t)lo > cp);
}

/* d > 0 finite (given by its bits): *n * 10***e10 is repr's decimal, possibly with trailing zeros in *n */
static inline void nana_shortest(uint64_t bits, uint64_t *n, int *e10) {
    uint64_t f = bits & ((1ull << 52) - 1), c, cb, vb, vbl, vbr, lower, upper, s, sp, ghi, glo;
    int E = (int)(bits >> 52), q, k, i, h, closer, odd, u_in, w_in;
    if (E == 0) {
        c = f;
        q = -1074;
        closer = 0;
    } else {
        c = f | (1ull << 52);
        q = E - 1075;
        closer = f == 0 && E > 1;
    }
    /* k = floor(log10(|R| / 2**q * 2**q)): exact for -1100 <= q <= 1000 (checked against exact arithmetic) */
    k = closer ? (int)(((int64_t)q * 661971961083LL - 274743187321LL) >> 41) : (int)(((int64_t)q * 78913) >> 18);
    i = -k - NANA_P5_MIN;
    glo = nana_p5_lo[i] + 1; /* g = T + 1 */
    ghi = nana_p5_hi[i] + (glo == 0);
    h = 128 - (k - q - nana_p5_e[i]); /* 1 <= h <= 4 for every double (checked over all exponents) */
    cb = c << 2;
    odd = (int)(c & 1);
    vb = nana_ro(ghi, glo, cb << h);
    vbl = nana_ro(ghi, glo, (cb - 2 + (uint64_t)closer) << h);
    vbr = nana_ro(ghi, glo, (cb + 2) << h);
    lower = vbl + (uint64_t)odd; /* an end belongs to R only when c is even */
    upper = vbr - (uint64_t)odd;
    s = vb >> 2;
    if (s >= 10) {
        sp = s / 10;
        u_in = lower <= 40 * sp;
        w_in = 40 * sp + 40 <= upper;
        if (u_in != w_in) {
            *n = sp + (uint64_t)w_in;
            *e10 = k + 1;
            return;
        }
    }
    u_in = lower <= 4 * s;
    w_in = 4 * s + 4 <= upper;
    if (u_in != w_in) {
        *n = s + (uint64_t)w_in;
    } else {
        *n = s + (uint64_t)(vb > 4 * s + 2 || (vb == 4 * s + 2 && (s & 1)));
    }
    *e10 = k;
}

/* repr(d) into buf (room for 32 bytes); returns the length of the text (at most 24) */
static inline int nana_fmt_repr(double d, char *buf) {
    uint64_t bits, n;
    int e10, len = 0, nd, decpt, x;
    memcpy(&bits, &d, sizeof bits);
    if (bits >> 63)
        buf[len++] = '-';
    bits &= ~(1ull << 63);
    if (bits == 0) {
        memcpy(buf + len, "0.0", 3);
        return len + 3;
    }
    nana_shortest(bits, &n, &e10);
    while (n % 10 == 0) { /* n > 0 */
        n /= 10;
        e10++;
    }
    nd = nana_ndigits(n); /* at most 17 */
    decpt = nd + e10;     /* d = 0.DIGITS * 10**decpt */
    if (decpt > 16 || decpt <= -4) {
        /* D.DDDe+XX: the digits one place right, then the first moved in front of the point */
        nana_fmt_digits(buf + len + 1, n, nd);
        buf[len] = buf[len + 1];
        if (nd > 1) {
            buf[len + 1] = '.';
            len += nd + 1;
        } else {
            len += 1;
        }
        buf[len++] = 'e';
        x = decpt - 1;
        buf[len++] = x < 0 ? '-' : '+';
        if (x < 0)
            x = -x;
        if (x >= 100)
            buf[len++] = (char)('0' + x / 100);
        memcpy(buf + len, nana_digit_pairs + 2 * (x % 100), 2);
        len += 2;
    } else if (decpt <= 0) {
        memcpy(buf + len, "0.000", 5); /* "0." and -decpt <= 3 zeros */
        len += 2 - decpt;
        nana_fmt_digits(buf + len, n, nd);
        len += nd;
    } else if (decpt >= nd) {
        nana_fmt_digits(buf + len, n, nd);
        len += nd;
        for (x = nd; x < decpt; x++)
            buf[len++] = '0';
        buf[len++] = '.';
        buf[len++] = '0';
    } else {
        /* the digits one place right, then those before the point moved back into place */
        nana_fmt_digits(buf + len + 1, n, nd);
        for (x = 0; x < decpt; x++)
            buf[len + x] = buf[len + x + 1];
        buf[len + decpt] = '.';
        len += nd + 1;
    }
    return len;
}
#else
#define NANA_HAVE_SHORTEST 0
static inline int nana_fmt_repr(double d, char *buf) {
    (void)d;
    (void)buf;
    return 0;
}
#endif

#endif
