/* The turn of nanasqlite's worker threads, in C (see nanasqlite/_turn.py for why it exists).
 *
 * A first-come, first-served lock that a thread can wait for without holding the GIL. That is the point of
 * having it in C: a worker leaving the batch kernel's GIL-free phase first waits here for its turn and only
 * then asks for the GIL, so it never joins the queue for the GIL while another worker runs Python.
 *
 * The turn shapes scheduling; it protects no data. So it is patient, not absolute: a waiter that has waited
 * ``patience_ns`` nanoseconds (the holder is stuck in a slow disk read, or in a long computation) goes on without
 * it, and holds nothing. Waiters queue as nodes on their own stacks; the holder hands the turn to the oldest.
 * Every function here may be called with or without the GIL and touches no Python object. POSIX threads only.
 */
#ifndef NANATURN_H
#define NANATURN_H

#include <errno.h>
#include <pthread.h>
#include <time.h>

typedef struct nb_waiter {
    struct nb_waiter *next;
    int granted; /* set by the holder that hands the turn over */
} nb_waiter;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy;            /* somebody holds the turn (or was just handed it) */
    unsigned long owner; /* PyThread ident of the holder, 0 while none or not yet awake */
    nb_waiter *head, *tail;
    int waiting;
    long long patience_ns; /* how long a waiter waits before it goes on without the turn; < 0: no limit */
} nb_turn;

/* A mutex and its condition variable, made and destroyed together: 0, or -1 with nothing left made. */
static int nb_sync_init(pthread_mutex_t *mu, pthread_cond_t *cv) {
    if (pthread_mutex_init(mu, NULL) != 0) return -1;
    if (pthread_cond_init(cv, NULL) != 0) {
        pthread_mutex_destroy(mu);
        return -1;
    }
    return 0;
}

static void nb_sync_destroy(pthread_mutex_t *mu, pthread_cond_t *cv) {
    pthread_cond_destroy(cv);
    pthread_mutex_destroy(mu);
}

static int nb_turn_init(nb_turn *t, long long patience_ns) {
    t->patience_ns = patience_ns;
    t->busy = 0;
    t->owner = 0;
    t->head = t->tail = NULL;
    t->waiting = 0;
    return nb_sync_init(&t->mu, &t->cv);
}

static void nb_turn_destroy(nb_turn *t) { nb_sync_destroy(&t->mu, &t->cv); }

static void nb_unlink(nb_turn *t, nb_waiter *w) {
    nb_waiter **p = &t->head, *prev = NULL;
    while (*p != NULL && *p != w) {
        prev = *p;
        p = &(*p)->next;
    }
    if (*p == w) {
        *p = w->next;
        if (t->tail == w) t->tail = prev;
    }
}

/* Wait for the turn behind every earlier waiter and hold it: 1. Or, out of patience, go on without it: 0. */
static int nb_turn_enter(nb_turn *t, unsigned long me) {
    long long patience_ns = t->patience_ns;
    struct timespec deadline;
    nb_waiter w;
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    if (!t->busy && t->head == NULL) {
        t->busy = 1;
        t->owner = me;
        pthread_mutex_unlock(&t->mu);
        return 1;
    }
    if (patience_ns >= 0) {
        clock_gettime(CLOCK_REALTIME, &deadline); /* the clock pthread_cond_timedwait uses by default */
        deadline.tv_sec += (time_t)(patience_ns / 1000000000LL);
        deadline.tv_nsec += (long)(patience_ns % 1000000000LL);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    w.next = NULL;
    w.granted = 0;
    if (t->tail != NULL) t->tail->next = &w;
    else t->head = &w;
    t->tail = &w;
    t->waiting++;
    while (!w.granted && rc != ETIMEDOUT) {
        if (patience_ns < 0) rc = pthread_cond_wait(&t->cv, &t->mu);
        else rc = pthread_cond_timedwait(&t->cv, &t->mu, &deadline);
    }
    t->waiting--;
    if (!w.granted) { /* out of patience: leave the queue, hold nothing */
        nb_unlink(t, &w);
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    t->owner = me;
    pthread_mutex_unlock(&t->mu);
    return 1;
}

/* Give the turn up, to the oldest waiter if any; -1 when ``me`` does not hold it, and then nothing changes. */
static int nb_turn_leave(nb_turn *t, unsigned long me) {
    pthread_mutex_lock(&t->mu);
    if (!t->busy || t->owner != me) {
        pthread_mutex_unlock(&t->mu);
        return -1;
    }
    t->owner = 0;
    if (t->head != NULL) {
        nb_waiter *w = t->head;
        t->head = w->next;
        if (t->head == NULL) t->tail = NULL;
        w->granted = 1; /* busy stays set: the turn is that waiter's now */
        pthread_cond_broadcast(&t->cv);
    } else {
        t->busy = 0;
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* Whether ``me`` holds the turn; how many threads wait for it. */
static int nb_turn_held_by(nb_turn *t, unsigned long me) {
    pthread_mutex_lock(&t->mu);
    int held = t->busy && t->owner == me;
    pthread_mutex_unlock(&t->mu);
    return held;
}

static int nb_turn_waiting(nb_turn *t) {
    pthread_mutex_lock(&t->mu);
    int n = t->waiting;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* The count of a queue's items, which worker threads wait for without the GIL (the items themselves stay in
 * a Python deque beside it: see Mailbox in _bridge.pyx). Every put posts once; every take waits for and
 * consumes one post, so a thread that has consumed a post always finds an item in the deque. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long long count;
} nb_box;

static int nb_box_init(nb_box *b) {
    b->count = 0;
    return nb_sync_init(&b->mu, &b->cv);
}

static void nb_box_destroy(nb_box *b) { nb_sync_destroy(&b->mu, &b->cv); }

static void nb_box_post(nb_box *b) {
    pthread_mutex_lock(&b->mu);
    b->count++;
    pthread_cond_signal(&b->cv); /* one item wakes one waiter */
    pthread_mutex_unlock(&b->mu);
}

static void nb_box_wait(nb_box *b) {
    pthread_mutex_lock(&b->mu);
    while (b->count == 0) pthread_cond_wait(&b->cv, &b->mu);
    b->count--;
    pthread_mutex_unlock(&b->mu);
}

/* Consume a post if there is one: 1, else 0. */
static int nb_box_try(nb_box *b) {
    pthread_mutex_lock(&b->mu);
    int got = b->count > 0;
    if (got) b->count--;
    pthread_mutex_unlock(&b->mu);
    return got;
}

#endif
