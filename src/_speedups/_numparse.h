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
#define NANA_P5_MAX 308
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

/* ---- double -> shortest decimal text, for the tape (_tape.pxi) ------------------------------------------
 *
 * nana_fmt_double(d, buf, prefer_short) writes repr(d) into buf (>= 32 bytes) and returns its length, or
 * returns 0 when it cannot prove its answer (the caller then asks PyOS_double_to_string, i.e. David Gay's
 * dtoa, as before). With prefer_short, it returns -1 instead for a float of at most 15-16 significant digits,
 * which the caller's easy path (_tape.pxi) usually writes more cheaply; the caller then asks again without.
 * Needs no GIL. Only where unsigned __int128 exists; elsewhere it always declines.
 *
 * repr(d) is the shortest decimal that reads back as d, the nearest to d among those. For a positive normal
 * d that is not a power of two (those are declined: their rounding interval is lopsided), the interval of
 * reals that read back as d is symmetric about d, so if any decimal with spacing 10**-k reads back as d, the
 * nearest multiple of 10**-k to d does too; and if it does for k, it does for every k' > k (the multiples of
 * 10**-k are multiples of 10**-k'). So: start from a k that gives 15 or 16 significant digits; if
 * round(d * 10**k) * 10**-k reads back as d, step k down while it still does, else step k up until it does
 * (at most 3 steps: 17 significant digits always read back). The k found is the least that reads back, and
 * round(d * 10**k) is repr's digits (trailing zeros cannot remain: they would read back at k - 1).
 *
 * round(d * 10**k) comes from the same table as the reader: with d = m * 2**e2, m * 5**k lies in
 * [m' T, m' T + m') * 2**(e + e2 - 11) (m' = m << 11 < 2**64), so d * 10**k lies in [L, L + 2) * 2**-s with
 * L the top 128 bits of m' T. If no half-integer lies in [L, L + 2] * 2**-s, the nearest integer is
 * determined (and is not a tie); otherwise it declines. "Reads back as d" is decided by nana_fast_double,
 * which is exact or declines (and then this declines).
 */
#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 nana_u128;

/* *n = the integer nearest to d * 10**k (d = m * 2**e2, m in [2**52, 2**53)); 0 when not provable. */
static inline int nana_scaled_round(uint64_t m, int e2, int k, uint64_t *n) {
    uint64_t thi, tlo, ahi, alo, bhi, blo, mid, top;
    nana_u128 L, L2, half, q1, q2, r1, r2;
    long long s;
    if (k < NANA_P5_MIN || k > NANA_P5_MAX)
        return 0;
    thi = nana_p5_hi[k - NANA_P5_MIN];
    tlo = nana_p5_lo[k - NANA_P5_MIN];
    nana_mul64(m << 11, tlo, &ahi, &alo);
    nana_mul64(m << 11, thi, &bhi, &blo);
    (void)alo;
    mid = blo + ahi;
    top = bhi + (mid < blo);
    L = ((nana_u128)top << 64) | mid;
    if (L > ~(nana_u128)0 - 2)
        return 0;
    L2 = L + 2;
    s = -((long long)nana_p5_e[k - NANA_P5_MIN] + e2 + k - 11 + 64); /* value = [L, L+2) * 2**-s */
    if (s < 1 || s > 127)
        return 0;
    half = (nana_u128)1 << (s - 1);
    q1 = L >> s;
    r1 = L - (q1 << s);
    q2 = L2 >> s;
    r2 = L2 - (q2 << s);
    if (r1 == half)
        return 0;
    q1 += r1 > half;
    q2 += r2 >= half;
    if (q1 != q2 || q1 > 0xFFFFFFFFFFFFFFFFull)
        return 0;
    *n = (uint64_t)q1;
    return 1;
}

static inline int nana_fmt_double(double d, char *buf, int prefer_short) {
    uint64_t bits, m, n, n2;
    int e2, E2, k, k0, fl, len = 0, nd, decpt, i, x;
    double back;
    char digits[24];
    memcpy(&bits, &d, sizeof bits);
    if (!nana_p5_ready)
        return 0;
    E2 = (int)((bits >> 52) & 0x7ff);
    m = bits & ((1ull << 52) - 1);
    if (E2 == 0 || E2 == 0x7ff || m == 0)
        return 0; /* zero, subnormal, not finite, or a power of two */
    m |= 1ull << 52;
    e2 = E2 - 1075;          /* d = m * 2**e2 */
    E2 = e2 + 52;            /* 2**E2 <= |d| < 2**(E2 + 1) */
    fl = (E2 * 78913) >> 18; /* floor(E2 * log10(2)) <= log10|d|, for |E2| < 1650 */
    k0 = k = 14 - fl;        /* |d| * 10**k in [10**14, 2 * 10**15]: 15 or 16 significant digits */
    if (!nana_scaled_round(m, e2, k, &n))
        return 0;
    if (!nana_fast_double(n, -k, 0, &back))
        return 0;
    if (back == fabs(d)) {
        /* at most 15-16 digits: fewer may do too */
        if (prefer_short)
            return -1; /* the caller's easy path is cheaper for short floats; it calls again if that fails */
        while (n >= 10) {
            if (!nana_scaled_round(m, e2, k - 1, &n2))
                return 0;
            if (!nana_fast_double(n2, -(k - 1), 0, &back))
                return 0;
            if (back != fabs(d))
                break;
            n = n2;
            k--;
        }
    } else {
        /* more digits are needed: no k <= k0 reads back, so the first k above k0 that does is the shortest
           (17 significant digits always read back: k0 + 3 gives at least 18) */
        do {
            if (++k > k0 + 3)
                return 0;
            if (!nana_scaled_round(m, e2, k, &n))
                return 0;
            if (!nana_fast_double(n, -k, 0, &back))
                return 0;
        } while (back != fabs(d));
    }
    /* the digits of n, trailing zeros dropped (there are none unless n < 10 stopped the loop early) */
    nd = 0;
    while (n) {
        digits[nd++] = (char)('0' + (int)(n % 10));
        n /= 10;
    }
    decpt = nd - k; /* d = 0.DIGITS * 10**decpt */
    i = 0;
    while (i < nd - 1 && digits[i] == '0')
        i++;
    /* digits[] is reversed: digits[nd-1] is the first; drop the i trailing zeros */
    if (d < 0)
        buf[len++] = '-';
    if (decpt <= -4 || decpt > 16) {
        buf[len++] = digits[nd - 1];
        if (nd - 1 > i) {
            buf[len++] = '.';
            for (x = nd - 2; x >= i; x--)
                buf[len++] = digits[x];
        }
        buf[len++] = 'e';
        x = decpt - 1;
        buf[len++] = x < 0 ? '-' : '+';
        if (x < 0)
            x = -x;
        if (x >= 100) {
            buf[len++] = (char)('0' + x / 100);
            x %= 100;
            buf[len++] = (char)('0' + x / 10);
            buf[len++] = (char)('0' + x % 10);
        } else {
            buf[len++] = (char)('0' + x / 10);
            buf[len++] = (char)('0' + x % 10);
        }
    } else if (decpt <= 0) {
        buf[len++] = '0';
        buf[len++] = '.';
        for (x = 0; x < -decpt; x++)
            buf[len++] = '0';
        for (x = nd - 1; x >= i; x--)
            buf[len++] = digits[x];
    } else {
        for (x = nd - 1; x >= i || nd - 1 - x < decpt; x--) {
            if (nd - 1 - x == decpt)
                buf[len++] = '.';
            buf[len++] = x >= 0 ? digits[x] : '0';
        }
        if (nd - i <= decpt) {
            buf[len++] = '.';
            buf[len++] = '0';
        }
    }
    return len;
}
#else
static inline int nana_fmt_double(double d, char *buf, int prefer_short) {
    (void)d;
    (void)buf;
    (void)prefer_short;
    return 0;
}
#endif

#endif
