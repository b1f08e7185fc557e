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

#endif
