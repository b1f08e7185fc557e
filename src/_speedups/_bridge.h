/* The SQLite side of nanasqlite's batch kernel.
 *
 * This file makes the _bridge module a SQLite loadable extension as well as a Python module. The store loads
 * the module's own .so into each APSW connection (sqlite3_load_extension); SQLite then calls
 * sqlite3_nanabridge_init with the sqlite3_api_routines table of the SQLite library that APSW embeds, and
 * SQLITE_EXTENSION_INIT2 keeps it. From then on every sqlite3_* call below (sqlite3ext.h turns them into calls
 * through that table) goes into APSW's own SQLite: the module never links a second SQLite into the process,
 * which would corrupt databases through separate POSIX lock bookkeeping.
 *
 * Only long-standing functions are called (nothing newer than SQLite 3.37), so any sqlite3ext.h of a supported
 * platform builds it, and APSW's newer embedded SQLite serves every call. Everything here runs
 * without the GIL and touches no Python object.
 */
#ifndef NANABRIDGE_H
#define NANABRIDGE_H

#include <sqlite3ext.h>
#include <stdlib.h>
#include <string.h>

SQLITE_EXTENSION_INIT1

#if defined(_WIN32)
#define NB_EXPORT __declspec(dllexport)
#else
#define NB_EXPORT __attribute__((visibility("default")))
#endif

NB_EXPORT int sqlite3_nanabridge_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
    (void)db;
    (void)err;
    SQLITE_EXTENSION_INIT2(api);
    return SQLITE_OK_LOAD_PERMANENTLY; /* the table stays valid after the connection closes */
}

static int nb_ready(void) { return sqlite3_api != 0; }
static const char *nb_libversion(void) { return sqlite3_libversion(); }

/* The outcome of a kernel call: SQLite's extended result code and a copy of its message. */
typedef struct {
    int code;
    char msg[512];
} nb_status;

static int nb_fail(sqlite3 *db, nb_status *st, int rc) {
    if (st->code == SQLITE_OK) {
        st->code = sqlite3_extended_errcode(db);
        if (st->code == SQLITE_OK) st->code = rc;
        const char *m = sqlite3_errmsg(db);
        strncpy(st->msg, m ? m : "unknown error", sizeof st->msg - 1);
        st->msg[sizeof st->msg - 1] = 0;
    }
    return rc;
}

static void nb_nomem(nb_status *st) {
    if (st->code == SQLITE_OK) {
        st->code = SQLITE_NOMEM;
        strcpy(st->msg, "out of memory");
    }
}

/* All-or-nothing around a batch: a transaction of its own (BEGIN IMMEDIATE takes the write lock at once, so
 * the batch waits in the busy handler instead of failing to upgrade later), or a savepoint inside the
 * caller's transaction. */
static int nb_begin(sqlite3 *db, int *own, nb_status *st) {
    *own = sqlite3_get_autocommit(db);
    int rc = sqlite3_exec(db, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT nana_kernel", NULL, NULL, NULL);
    return rc == SQLITE_OK ? rc : nb_fail(db, st, rc);
}

static int nb_end(sqlite3 *db, int own, int ok, nb_status *st) {
    if (ok) {
        int rc = sqlite3_exec(db, own ? "COMMIT" : "RELEASE nana_kernel", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return rc;
        nb_fail(db, st, rc);
    }
    if (own) {
        if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        sqlite3_exec(db, "ROLLBACK TO nana_kernel; RELEASE nana_kernel", NULL, NULL, NULL);
    }
    return st->code;
}

/* A growable byte arena with an offsets table: item i is data[off[i] .. off[i] + len[i]), len -1 = NULL. */
typedef struct {
    char *data;
    size_t used, cap;
    size_t *off;
    long long *len;
    size_t n, ncap;
} nb_arena;

static void nb_arena_free(nb_arena *a) {
    free(a->data);
    free(a->off);
    free(a->len);
    memset(a, 0, sizeof *a);
}

static int nb_arena_push(nb_arena *a, const void *p, long long n) {
    if (a->n == a->ncap) {
        size_t ncap = a->ncap ? a->ncap * 2 : 1024;
        size_t *off = (size_t *)realloc(a->off, ncap * sizeof(size_t));
        if (!off) return -1;
        a->off = off;
        long long *len = (long long *)realloc(a->len, ncap * sizeof(long long));
        if (!len) return -1;
        a->len = len;
        a->ncap = ncap;
    }
    size_t need = n > 0 ? (size_t)n : 0;
    if (a->used + need > a->cap) {
        size_t cap = a->cap ? a->cap : 65536;
        while (a->used + need > cap) cap *= 2;
        char *data = (char *)realloc(a->data, cap);
        if (!data) return -1;
        a->data = data;
        a->cap = cap;
    }
    a->off[a->n] = a->used;
    a->len[a->n] = n;
    if (need) {
        memcpy(a->data + a->used, p, need);
        a->used += need;
    }
    a->n++;
    return 0;
}

/* Push column `col` of the current row: its text, or -1 for SQL NULL. */
static int nb_arena_push_column(nb_arena *a, sqlite3_stmt *stmt, int col) {
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL) return nb_arena_push(a, NULL, -1);
    const unsigned char *t = sqlite3_column_text(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);
    return nb_arena_push(a, t, t ? n : -1);
}

/* A value copied out of SQLite: `len` bytes of `data`, or len -1 for SQL NULL. The buffer is reused. */
typedef struct {
    char *data;
    size_t cap;
    long long len;
} nb_buf;

/* One point read by a statement `SELECT value ... WHERE key = ?` that the caller keeps (prepared here on first
 * use, as a persistent statement): bind the key, step once, copy the value into `out`, reset. Returns 1 when a
 * row was found, 0 when none was, -1 on an error (in `st`). The statement is reset before this returns, so no
 * read transaction stays open and the caller parses its own copy: nothing it does afterwards can reach
 * SQLite's buffer once another call on the connection has moved it. */
static int nb_point(sqlite3 *db, sqlite3_stmt **stmt, const char *sql, const char *key, int klen, nb_buf *out,
                    nb_status *st) {
    sqlite3_mutex *m = sqlite3_db_mutex(db);
    int found = 0, rc;
    sqlite3_mutex_enter(m);
    if (!*stmt) {
        rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
        if (rc != SQLITE_OK) {
            nb_fail(db, st, rc);
            *stmt = NULL;
            sqlite3_mutex_leave(m);
            return -1;
        }
    }
    sqlite3_bind_text(*stmt, 1, key, klen, SQLITE_STATIC);
    rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW) {
        found = 1;
        out->len = -1;
        if (sqlite3_column_type(*stmt, 0) != SQLITE_NULL) {
            const unsigned char *t = sqlite3_column_text(*stmt, 0);
            size_t n = (size_t)sqlite3_column_bytes(*stmt, 0);
            if (!t) {
                nb_nomem(st);
                found = -1;
            } else {
                if (n > out->cap) {
                    size_t cap = out->cap ? out->cap : 256;
                    while (cap < n) cap *= 2;
                    char *data = (char *)realloc(out->data, cap);
                    if (!data) {
                        nb_nomem(st);
                        found = -1;
                    } else {
                        out->data = data;
                        out->cap = cap;
                    }
                }
                if (found == 1) {
                    if (n) memcpy(out->data, t, n);
                    out->len = (long long)n;
                }
            }
        }
    } else if (rc != SQLITE_DONE) {
        nb_fail(db, st, rc);
        found = -1;
    }
    sqlite3_reset(*stmt);
    sqlite3_clear_bindings(*stmt); /* the key's bytes belong to the caller's str */
    sqlite3_mutex_leave(m);
    return found;
}

/* A key to sort and match: its UTF-8 bytes and where it came from (a position in the caller's list of keys,
 * or a row of the arena). */
typedef struct {
    const char *p;
    long long n;
    size_t i;
} nb_ref;

/* The order of SQLite's BINARY collation, which the KV table's keys use: memcmp, then the shorter first. */
static int nb_ref_cmp(const void *a, const void *b) {
    const nb_ref *x = (const nb_ref *)a, *y = (const nb_ref *)b;
    int c = memcmp(x->p, y->p, (size_t)(x->n < y->n ? x->n : y->n));
    if (c) return c;
    return (x->n > y->n) - (x->n < y->n);
}

static inline int nb_byte(const nb_ref *r, size_t d) {
    return d < (size_t)r->n ? (int)(unsigned char)r->p[d] : -1;
}

static inline void nb_ref_swap(nb_ref *a, size_t i, size_t j) {
    nb_ref t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* Multikey quicksort (Bentley and Sedgewick): a three-way partition on the byte at depth d, so that a prefix
 * shared by many keys ("user:0000...") is looked at once per partition, not once per comparison (on 10k such
 * keys it takes about half the time of qsort with memcmp). A part that recursion reaches too deep (only an
 * adversarial set of keys gets there) is handed to qsort, which is O(n log n) whatever the keys. */
static void nb_mkqs(nb_ref *a, size_t n, size_t d, int depth) {
    while (n > 1) {
        if (n < 10 || depth > 64) {
            size_t i, j;
            if (depth > 64) {
                qsort(a, n, sizeof *a, nb_ref_cmp);
                return;
            }
            for (i = 1; i < n; i++) /* insertion sort; every key here has the same first d bytes */
                for (j = i; j > 0 && nb_ref_cmp(&a[j - 1], &a[j]) > 0; j--) nb_ref_swap(a, j - 1, j);
            return;
        }
        /* the median of three bytes as the pivot */
        int x = nb_byte(&a[0], d), y = nb_byte(&a[n / 2], d), z = nb_byte(&a[n - 1], d);
        size_t m = (x < y) ? (y < z ? n / 2 : (x < z ? n - 1 : 0)) : (x < z ? 0 : (y < z ? n - 1 : n / 2));
        nb_ref_swap(a, 0, m);
        int v = nb_byte(&a[0], d);
        size_t lt = 0, i = 0, gt = n; /* [0, lt) < v, [lt, i) == v, [gt, n) > v */
        while (i < gt) {
            int c = nb_byte(&a[i], d);
            if (c < v)
                nb_ref_swap(a, lt++, i++);
            else if (c > v)
                nb_ref_swap(a, i, --gt);
            else
                i++;
        }
        nb_mkqs(a, lt, d, depth + 1);
        nb_mkqs(a + gt, n - gt, d, depth + 1);
        if (v < 0) return; /* the middle part: equal keys, all ending at d */
        a += lt;
        n = gt - lt;
        d++;
    }
}

/* Sort refs in the order of nb_ref_cmp; a sorted array (rows from SQLite usually are) is only checked. */
static void nb_ref_sort(nb_ref *r, size_t n) {
    size_t i;
    for (i = 1; i < n; i++) {
        if (nb_ref_cmp(&r[i - 1], &r[i]) > 0) {
            nb_mkqs(r, n, 0, 0);
            return;
        }
    }
}

/* The keys of the arena's rows (items 0, 2, 4 ...) as refs; returns how many (a NULL key is left out: it
 * equals no key). */
static size_t nb_row_keys(const nb_arena *a, nb_ref *out) {
    size_t j, m = 0;
    for (j = 0; j + 1 < a->n; j += 2) {
        if (a->len[j] < 0) continue;
        out[m].p = a->data + a->off[j];
        out[m].n = a->len[j];
        out[m].i = j / 2;
        m++;
    }
    return m;
}

/* row_of[keys[j].i] = rows[k].i for every key equal to row k, -1 for a key without a row. Both arrays are
 * sorted here (rows usually are already: SQLite returns an IN list's rows in index order). */
static void nb_match(nb_ref *keys, size_t n, nb_ref *rows, size_t m, long long *row_of) {
    size_t j = 0, k = 0;
    int c;
    nb_ref_sort(keys, n);
    nb_ref_sort(rows, m);
    while (j < n) {
        c = k < m ? nb_ref_cmp(&keys[j], &rows[k]) : -1;
        if (c > 0) {
            k++;
        } else {
            row_of[keys[j].i] = c == 0 ? (long long)rows[k].i : -1;
            j++;
        }
    }
}

#endif
