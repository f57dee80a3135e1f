#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "wl.h"

/* A producer's batch, on the producer's stack while it waits. */
struct pending {
    const struct store_record *recs;
    enum store_result *results;
    size_t n;
    int rc;
    bool done;
    struct pending *next;
};

struct writer {
    struct store *store;
    writer_committed_fn committed;
    void *committed_arg;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* a commit finished */
    struct pending *queue, **queue_tail;
    bool committing;
    /* Scratch arrays for a combined commit, reused to spare allocations; only the
     * committer touches them, and there is one committer at a time. */
    struct store_record *recs;
    enum store_result *results;
    size_t recs_cap, results_cap;
    struct writer_stats stats;
};

static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1,    2.5};

int writer_new(struct store *store, struct writer **out)
{
    struct writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    hist_init(&w->stats.batch_records, batch_bounds, WL_ARRAY_LEN(batch_bounds));
    hist_init(&w->stats.commit_seconds, commit_bounds, WL_ARRAY_LEN(commit_bounds));
    w->store = store;
    w->queue_tail = &w->queue;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    *out = w;
    return 0;
}

void writer_set_committed_hook(struct writer *w, writer_committed_fn fn, void *arg)
{
    w->committed = fn;
    w->committed_arg = arg;
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w->recs);
    free(w->results);
    free(w);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Makes the scratch arrays hold n records. Called by the committer with the lock held. */
static int reserve(struct writer *w, size_t n)
{
    struct store_record *r = array_reserve(w->recs, &w->recs_cap, n, sizeof(*r), 64);
    if (!r)
        return -ENOMEM;
    w->recs = r;
    enum store_result *res = array_reserve(w->results, &w->results_cap, n, sizeof(*res), 64);
    if (!res)
        return -ENOMEM;
    w->results = res;
    return 0;
}

/* Commits everything queued. Entered and left with the lock held. */
static void commit_queue(struct writer *w)
{
    struct pending *batch = w->queue;
    size_t n = 0;
    int rc;

    w->queue = NULL;
    w->queue_tail = &w->queue;
    w->stats.queued = 0;
    w->committing = true;
    for (struct pending *p = batch; p; p = p->next)
        n += p->n;
    rc = reserve(w, n);
    if (rc == 0) {
        size_t off = 0;
        for (struct pending *p = batch; p; p = p->next) {
            memcpy(w->recs + off, p->recs, p->n * sizeof(*p->recs));
            off += p->n;
        }
        pthread_mutex_unlock(&w->lock);
        uint64_t start = now_ns();
        rc = store_write_batch(w->store, w->recs, n, w->results);
        uint64_t took = now_ns() - start;
        if (rc == 0 && w->committed)
            w->committed(w->committed_arg, w->recs, w->results, n);
        pthread_mutex_lock(&w->lock);
        w->stats.commits++;
        hist_observe(&w->stats.commit_seconds, (double)took / 1e9);
        hist_observe(&w->stats.batch_records, (double)n);
        w->stats.last_failed = rc != 0;
        if (rc == 0) {
            w->stats.records += n;
        } else {
            w->stats.failures++;
        }
    }
    size_t off = 0;
    for (struct pending *p = batch, *next; p; p = next) {
        next = p->next;
        if (rc == 0)
            memcpy(p->results, w->results + off, p->n * sizeof(*p->results));
        off += p->n;
        p->rc = rc;
        p->done = true; /* after this the producer may return and free p */
    }
    w->committing = false;
    pthread_cond_broadcast(&w->wake);
}

int writer_submit(struct writer *w, const struct store_record *recs, size_t n,
                  enum store_result *results)
{
    struct pending me = {.recs = recs, .results = results, .n = n};

    if (n == 0)
        return 0;
    pthread_mutex_lock(&w->lock);
    *w->queue_tail = &me;
    w->queue_tail = &me.next;
    w->stats.queued++;
    while (!me.done) {
        if (!w->committing)
            commit_queue(w);
        else
            pthread_cond_wait(&w->wake, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return me.rc;
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
}
