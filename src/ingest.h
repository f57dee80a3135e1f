/*
 * ingest.h - from a raw message to a stored one, for every door (MQTT, HTTP, import):
 * parse and validate (owntracks), encode (pack), collect into a batch, commit through the
 * writer (group commit), and log each outcome once, with its reason.
 *
 * A batch belongs to one thread. The ingest context is shared by all threads.
 */
#ifndef WL_INGEST_H
#define WL_INGEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owntracks.h"
#include "sink.h"
#include "store.h"
#include "writer.h"

/* Counters for metrics and tests; updated atomically from any thread. */
struct ingest_counters {
    atomic_ulong received;
    atomic_ulong stored;
    atomic_ulong duplicate;
    atomic_ulong ignored;
    atomic_ulong rejected;
    atomic_ulong stored_by_kind[OWNTRACKS_KIND_COUNT];
};

struct ingest;

/* When the last message arrived, on which topic, and for which user (OWNTRACKS_NAME_MAX + 1 bytes;
 * "" if it named no valid one), for /api/0/monitor. Returns false if none has yet. */
bool ingest_last_received(struct ingest *in, int64_t *when, char *topic, size_t size, char *user);

/* Rejections are counted by reason with numbers replaced by N ("lat N out of range"): the
 * first INGEST_REASONS distinct ones, the rest as "other" (tally.h). */
#define INGEST_REASONS 32
/* Calls fn(arg, reason, count) for each reason counted so far, "other" last, under the lock
 * that counting takes: fn must not call into ingest. */
void ingest_each_reason(struct ingest *in, void *arg,
                        void (*fn)(void *arg, const char *reason, uint64_t count));

/*
 * Makes the shared context over this writer (which must outlive it) and keyring.
 * log_per_minute: rejections are logged at most this many times per minute (a broken phone
 * must not flood the log), 0 for no limit; the counters always count them.
 * Returns 0 or -ENOMEM.
 */
int ingest_new(struct writer *writer, struct owntracks_keyring keys, unsigned log_per_minute,
               struct ingest **out);
void ingest_free(struct ingest *in);
/* Changes the rejection log limit (a reload). Any thread. */
void ingest_set_log_limit(struct ingest *in, unsigned log_per_minute);
const struct ingest_counters *ingest_counters(const struct ingest *in);

/* Messages accepted but not yet committed. Records point into `bytes`, by offset until
 * commit so the buffer may grow. */
struct ingest_item {
    enum owntracks_kind kind;
    int64_t tst;
    int64_t received;
    size_t user, device, topic, data; /* offsets into bytes; topic SIZE_MAX if none */
    size_t data_len;
};

struct ingest_batch {
    struct ingest_item *items;
    size_t n, cap;
    struct sink bytes;
    size_t payload_bytes; /* raw payload bytes taken in, to bound a batch */
};

/* An empty batch. Returns 0 or -ENOMEM. */
int ingest_batch_init(struct ingest_batch *b);
void ingest_batch_free(struct ingest_batch *b);
/* Empties the batch, keeping its memory. */
void ingest_batch_reset(struct ingest_batch *b);

/*
 * Parses one MQTT message and, if acceptable, appends it to the batch. Logs rejections
 * (warn, within the log limit) and ignores (debug), and counts every outcome. Returns the
 * outcome; a message that is valid but cannot be added (no memory) is counted and returned
 * as OWNTRACKS_REJECT.
 */
enum owntracks_outcome ingest_mqtt(struct ingest *in, struct ingest_batch *b, const char *topic,
                                   size_t topic_len, const void *payload, size_t len, int64_t now);
/* The same for a message that came over HTTP for user/device (already authenticated). If
 * reason is not NULL it receives a copy of the rejection reason, and *retry whether the
 * rejection is for now only (owntracks_message.retry): the sender should post it again later. */
enum owntracks_outcome ingest_http(struct ingest *in, struct ingest_batch *b, const char *user,
                                   const char *device, const void *payload, size_t len, int64_t now,
                                   char *reason, size_t reason_size, bool *retry);
/* Appends an already validated message (importers). Returns 0, -ENOMEM, or -EINVAL (its
 * root is not a JSON object); on error nothing of msg is in the batch. */
int ingest_add(struct ingest_batch *b, const struct owntracks_message *msg, const char *topic,
               int64_t received);

/*
 * Commits the batch through the writer and resets it. Returns 0, or -ENOMEM (the batch's
 * memory) or writer_submit()'s store error (-ENOSPC, WL_EMAPFULL, WL_ESTORE), in which case
 * nothing of the batch was stored and the caller must not acknowledge it.
 * If results is not NULL it receives one result per item (b->n entries, taken before the
 * reset).
 */
int ingest_commit(struct ingest *in, struct ingest_batch *b, enum store_result *results);

#endif
