/*
 * webhook.h - delivers the store's outbox (store.h, "events") to the webhooks' URLs, from a
 * thread of its own (libcurl; only webhook.c includes curl.h).
 *
 * Each request is a POST of one event (event.h) with the headers
 *   Content-Type: application/json
 *   X-Wherelog-Event-Id: SEQ           (the same for every attempt: receivers de-duplicate by it)
 *   X-Wherelog-Timestamp: UNIX_SECONDS (of this attempt)
 *   X-Wherelog-Signature: sha256=HEX   (HMAC-SHA256 with the webhook's secret over
 *                                       "TIMESTAMP.BODY"; absent for a webhook without one)
 * Any 2xx answer removes the record; anything else (an error status, a refused connection,
 * WEBHOOK_TIMEOUT_S without an answer) keeps it and retries that webhook's events of that
 * device after a back-off that doubles from 1 s up to backoff_max. Events of one device reach
 * a webhook in the order they were committed: the next is sent only after the previous was
 * answered 2xx. Up to WEBHOOK_PARALLEL (webhook, device) pairs are posted to at once (libcurl's
 * multi interface, still one thread), so a receiver that hangs delays only its own events.
 * Delivery is at least once: a crash between the answer and the removal sends the event again,
 * with the same id.
 *
 * The outbox is bounded (a receiver gone for months must not fill the disk): records older
 * than max_age, or beyond max_count, are dropped, logged and counted.
 *
 * Thread rules: webhook_start/webhook_stop from one thread (serve's); webhook_wake and
 * webhook_get_stats from any thread.
 */
#ifndef WL_WEBHOOK_H
#define WL_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define WEBHOOK_TIMEOUT_S 10  /* a receiver slower than this is failing */
#define WEBHOOK_HEADS     256 /* outbox records looked at per pass */
#define WEBHOOK_PER_GROUP 32  /* of them for one (webhook, device): others are not starved */
#define WEBHOOK_PARALLEL  8   /* (webhook, device) groups posted to at once */

struct webhook_options {
    int64_t max_age;      /* seconds; 0: no limit */
    uint64_t max_count;   /* records; 0: no limit */
    unsigned backoff_max; /* seconds, at least 1 */
};

struct webhook_stats {
    uint64_t delivered; /* answered 2xx */
    uint64_t failed;    /* attempts that were not */
    uint64_t dropped;   /* records dropped by the bound */
    uint64_t pending;   /* records in the outbox at the last look */
};

struct webhook;

/* Starts the delivery thread. The store must outlive it. Returns 0, -ENOMEM, or the -errno of
 * starting the thread (libcurl's global init is done here: call before other threads use
 * libcurl). */
int webhook_start(struct store *store, const struct webhook_options *opt, struct webhook **out);
/* Stops the thread (within a second; attempts under way are dropped, their events stay in the
 * outbox) and frees. NULL is harmless. */
void webhook_stop(struct webhook *w);
/* New records may be waiting: look now. */
void webhook_wake(struct webhook *w);
void webhook_get_stats(struct webhook *w, struct webhook_stats *out);

/* The signature header's value ("sha256=" and 64 hex digits, NUL-terminated) for body sent at
 * timestamp with key. */
void webhook_sign(const uint8_t *key, size_t key_len, int64_t timestamp, const char *body,
                  size_t len, char out[72]);

#endif
