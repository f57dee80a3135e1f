/*
 * writer.h - one writer at a time, many messages per transaction (group commit).
 *
 * Producers (the MQTT loop, HTTP /pub handlers, importers) hand a batch of records to
 * writer_submit() and block until it is committed. A producer that finds no commit in
 * progress becomes the committer: it takes every batch queued so far, writes them all in
 * one store transaction (store_write_batch, whose durability promise applies) and wakes
 * their producers. Under load one fsync therefore carries the work of every producer that
 * arrived while the previous commit ran; when idle a lone message is committed at once,
 * with no timer and no extra thread.
 *
 * After a successful commit, and before any producer is woken (so every record is still
 * valid), the committing thread calls the `committed` hook once with all records of the
 * transaction and their results: the live-update fan-out uses it. It must not block.
 *
 * Thread rules: all functions may be called from any thread. A thread must not call
 * writer_submit() while it holds an open store iterator (the commit may need to grow the
 * map, which waits for this process's readers).
 */
#ifndef WL_WRITER_H
#define WL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "store.h"

typedef void (*writer_committed_fn)(void *arg, const struct store_record *recs,
                                    const enum store_result *results, size_t n);

struct writer_stats {
    uint64_t commits;
    uint64_t records;
    uint64_t failures;
    uint64_t queued;            /* batches waiting for the next commit, now */
    bool last_failed;           /* the latest commit failed (nothing was committed since) */
    struct hist batch_records;  /* records per commit */
    struct hist commit_seconds; /* time per commit */
};

struct writer;

/* Returns 0 or -ENOMEM. The store must outlive the writer. */
int writer_new(struct store *store, struct writer **out);
/* Sets the hook (call before producers start). */
void writer_set_committed_hook(struct writer *w, writer_committed_fn fn, void *arg);
/*
 * Stores recs[0..n) and returns once they are committed (0; results[i] filled) or failed:
 * -ENOMEM (the committer's scratch arrays) or store_write_batch()'s error (-ENOSPC,
 * WL_EMAPFULL, WL_ESTORE); then nothing of the batch is stored. n == 0 returns 0 at once.
 */
int writer_submit(struct writer *w, const struct store_record *recs, size_t n,
                  enum store_result *results);
/* A copy of the numbers, taken under the writer's lock. */
void writer_get_stats(struct writer *w, struct writer_stats *out);
void writer_free(struct writer *w);

#endif
