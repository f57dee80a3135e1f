#include "ingest.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "log.h"
#include "pack.h"
#include "tally.h"

struct ingest {
    struct writer *writer;
    struct owntracks_keyring keys;
    struct ingest_counters counters;
    pthread_mutex_t log_lock; /* guards the rate limiter */
    unsigned log_limit;       /* rejection lines per minute, 0: unlimited */
    int64_t last_when;        /* last message received (guarded by log_lock too) */
    char last_topic[STORE_TOPIC_MAX + 1];
    char last_user[OWNTRACKS_NAME_MAX + 1]; /* "" when the message named no valid user */
    int64_t log_window;                     /* minute the counts below belong to */
    unsigned log_lines, log_suppressed;
    struct tally reasons; /* over reason_entries (both guarded by log_lock) */
    struct tally_entry reason_entries[INGEST_REASONS];
};

/* A rejection reason is counted by its first bytes only, which keeps the labels of
 * wherelog_messages_rejected_total short. */
#define REASON_LABEL_MAX 64

int ingest_new(struct writer *writer, struct owntracks_keyring keys, unsigned log_per_minute,
               struct ingest **out)
{
    struct ingest *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    in->writer = writer;
    in->keys = keys;
    in->log_limit = log_per_minute;
    tally_init(&in->reasons, in->reason_entries, INGEST_REASONS);
    pthread_mutex_init(&in->log_lock, NULL);
    *out = in;
    return 0;
}

void ingest_free(struct ingest *in)
{
    if (!in)
        return;
    pthread_mutex_destroy(&in->log_lock);
    free(in);
}

const struct ingest_counters *ingest_counters(const struct ingest *in)
{
    return &in->counters;
}

int ingest_batch_init(struct ingest_batch *b)
{
    memset(b, 0, sizeof(*b));
    return sink_init_mem(&b->bytes, 4096);
}

void ingest_batch_free(struct ingest_batch *b)
{
    free(b->items);
    sink_free(&b->bytes);
    memset(b, 0, sizeof(*b));
}

void ingest_batch_reset(struct ingest_batch *b)
{
    b->n = 0;
    b->bytes.len = 0;
    b->bytes.err = 0;
    b->payload_bytes = 0;
}

static size_t put_str(struct sink *s, const char *str)
{
    size_t off = s->len;
    sink_put(s, str, strlen(str) + 1);
    return off;
}

int ingest_add(struct ingest_batch *b, const struct owntracks_message *msg, const char *topic,
               int64_t received)
{
    struct ingest_item *items = array_reserve(b->items, &b->cap, b->n + 1, sizeof(*items), 64);
    if (!items)
        return -ENOMEM;
    b->items = items;
    struct ingest_item *it = &b->items[b->n];
    size_t mark = b->bytes.len;
    it->kind = msg->kind;
    it->tst = msg->tst;
    it->received = received;
    it->user = put_str(&b->bytes, msg->user);
    it->device = put_str(&b->bytes, msg->device);
    it->topic = topic ? put_str(&b->bytes, topic) : SIZE_MAX;
    it->data = b->bytes.len;
    struct pack_encode_ctx ctx = {
        .type = owntracks_kind_name(msg->kind), .tst = msg->tst, .tst_member = msg->tst_member};
    int rc = pack_encode(&b->bytes, msg->root, &ctx);
    if (rc || b->bytes.err) {
        b->bytes.len = mark;
        b->bytes.err = 0;
        return rc ? rc : -ENOMEM;
    }
    it->data_len = b->bytes.len - it->data;
    b->n++;
    return 0;
}

/* Counts a rejection reason, its numbers grouped (log_lock held). */
static void count_reason(struct ingest *in, const char *reason)
{
    char group[REASON_LABEL_MAX];
    tally_group(reason, group, sizeof(group));
    tally_add(&in->reasons, group);
}

void ingest_each_reason(struct ingest *in, void *arg,
                        void (*fn)(void *arg, const char *reason, uint64_t count))
{
    pthread_mutex_lock(&in->log_lock);
    for (size_t i = 0; i < in->reasons.n; i++)
        fn(arg, in->reasons.entries[i].text, in->reasons.entries[i].count);
    if (in->reasons.other)
        fn(arg, "other", in->reasons.other);
    pthread_mutex_unlock(&in->log_lock);
}

void ingest_set_log_limit(struct ingest *in, unsigned log_per_minute)
{
    pthread_mutex_lock(&in->log_lock);
    in->log_limit = log_per_minute;
    pthread_mutex_unlock(&in->log_lock);
}

/* Counts a rejection, and logs it unless this minute's allowance is spent. */
static void log_rejection(struct ingest *in, const char *ctx, const char *reason)
{
    int64_t minute = time(NULL) / 60;
    unsigned suppressed = 0;
    bool log;
    char quoted[WL_LOG_QUOTE_SIZE];

    pthread_mutex_lock(&in->log_lock);
    count_reason(in, reason);
    if (minute != in->log_window) {
        suppressed = in->log_suppressed;
        in->log_window = minute;
        in->log_lines = 0;
        in->log_suppressed = 0;
    }
    log = in->log_limit == 0 || in->log_lines < in->log_limit;
    if (log)
        in->log_lines++;
    else
        in->log_suppressed++;
    pthread_mutex_unlock(&in->log_lock);

    if (suppressed)
        wl_log(WL_LOG_WARN, "ingest", "%u more rejected messages were not logged", suppressed);
    if (log)
        wl_log(WL_LOG_WARN, "ingest", "rejected message %s reason=\"%s\"", ctx,
               wl_log_quote(quoted, sizeof(quoted), reason, strlen(reason)));
}

bool ingest_last_received(struct ingest *in, int64_t *when, char *topic, size_t size, char *user)
{
    pthread_mutex_lock(&in->log_lock);
    *when = in->last_when;
    snprintf(topic, size, "%s", in->last_topic);
    snprintf(user, OWNTRACKS_NAME_MAX + 1, "%s", in->last_user);
    pthread_mutex_unlock(&in->log_lock);
    return *when != 0;
}

static void note_received(struct ingest *in, const char *where, const char *user, int64_t now)
{
    pthread_mutex_lock(&in->log_lock);
    in->last_when = now;
    snprintf(in->last_topic, sizeof(in->last_topic), "%s", where);
    snprintf(in->last_user, sizeof(in->last_user), "%s", user);
    pthread_mutex_unlock(&in->log_lock);
}

/* where: the topic as /api/0/monitor shows it; ctx: the same as key=value for the log. */
static enum owntracks_outcome account(struct ingest *in, struct ingest_batch *b,
                                      enum owntracks_outcome o, struct owntracks_message *msg,
                                      const char *where, const char *ctx, const char *topic,
                                      int64_t now)
{
    atomic_fetch_add(&in->counters.received, 1);
    note_received(in, where, msg->user, now);
    if (o == OWNTRACKS_ACCEPT) {
        int rc = ingest_add(b, msg, topic, now);
        owntracks_message_clear(msg);
        if (rc == 0)
            return OWNTRACKS_ACCEPT;
        snprintf(msg->reason, sizeof(msg->reason), "cannot encode: %s",
                 rc == -ENOMEM ? "out of memory" : "malformed");
        msg->retry = rc == -ENOMEM;
        o = OWNTRACKS_REJECT;
    }
    if (o == OWNTRACKS_REJECT) {
        atomic_fetch_add(&in->counters.rejected, 1);
        log_rejection(in, ctx, msg->reason);
    } else {
        atomic_fetch_add(&in->counters.ignored, 1);
        char quoted[WL_LOG_QUOTE_SIZE];
        wl_log(WL_LOG_DEBUG, "ingest", "ignored message %s reason=\"%s\"", ctx,
               wl_log_quote(quoted, sizeof(quoted), msg->reason, strlen(msg->reason)));
    }
    return o;
}

enum owntracks_outcome ingest_mqtt(struct ingest *in, struct ingest_batch *b, const char *topic,
                                   size_t topic_len, const void *payload, size_t len, int64_t now)
{
    struct owntracks_message msg;
    char where[WL_LOG_QUOTE_SIZE];
    enum owntracks_outcome o =
        owntracks_parse_mqtt(&in->keys, topic, topic_len, payload, len, now, &msg);

    wl_log_quote(where, sizeof(where), topic, topic_len);
    b->payload_bytes += len;
    /* The topic is kept (for the API's "topic" member) only when it is a clean C string. */
    char topic_copy[STORE_TOPIC_MAX + 1];
    const char *kept = NULL;
    if (o == OWNTRACKS_ACCEPT && topic_len <= STORE_TOPIC_MAX && !memchr(topic, '\0', topic_len)) {
        memcpy(topic_copy, topic, topic_len);
        topic_copy[topic_len] = '\0';
        kept = topic_copy;
    }
    char ctx[WL_LOG_QUOTE_SIZE + 8];
    snprintf(ctx, sizeof(ctx), "topic=\"%s\"", where);
    return account(in, b, o, &msg, where, ctx, kept, now);
}

enum owntracks_outcome ingest_http(struct ingest *in, struct ingest_batch *b, const char *user,
                                   const char *device, const void *payload, size_t len, int64_t now,
                                   char *reason, size_t reason_size, bool *retry)
{
    struct owntracks_message msg;
    char where[2 * WL_LOG_QUOTE_SIZE + 8], qu[WL_LOG_QUOTE_SIZE], qd[WL_LOG_QUOTE_SIZE];
    enum owntracks_outcome o =
        owntracks_parse_named(&in->keys, user, device, payload, len, now, OWNTRACKS_VIA_HTTP, &msg);

    char ctx[2 * WL_LOG_QUOTE_SIZE + 32];
    wl_log_quote(qu, sizeof(qu), user, strlen(user));
    wl_log_quote(qd, sizeof(qd), device, strlen(device));
    snprintf(where, sizeof(where), "http %s/%s", qu, qd);
    snprintf(ctx, sizeof(ctx), "via=http user=\"%s\" device=\"%s\"", qu, qd);
    b->payload_bytes += len;
    o = account(in, b, o, &msg, where, ctx, NULL, now);
    if (reason && reason_size)
        snprintf(reason, reason_size, "%s", o == OWNTRACKS_ACCEPT ? "" : msg.reason);
    if (retry)
        *retry = o == OWNTRACKS_REJECT && msg.retry;
    return o;
}

int ingest_commit(struct ingest *in, struct ingest_batch *b, enum store_result *results)
{
    struct store_record *recs;
    enum store_result *res = results;
    int rc;

    if (b->n == 0)
        return 0;
    if (b->bytes.err)
        return b->bytes.err;
    recs = malloc(b->n * sizeof(*recs));
    if (!res)
        res = malloc(b->n * sizeof(*res));
    if (!recs || !res) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct ingest_item *it = &b->items[i];
        const char *base = b->bytes.buf;
        recs[i] = (struct store_record){.kind = it->kind,
                                        .user = base + it->user,
                                        .device = base + it->device,
                                        .tst = it->tst,
                                        .data = base + it->data,
                                        .len = it->data_len,
                                        .topic = it->topic == SIZE_MAX ? NULL : base + it->topic,
                                        .received = it->received};
    }
    rc = writer_submit(in->writer, recs, b->n, res);
    if (rc == 0) {
        for (size_t i = 0; i < b->n; i++) {
            if (res[i] == STORE_STORED) {
                atomic_fetch_add(&in->counters.stored, 1);
                atomic_fetch_add(&in->counters.stored_by_kind[recs[i].kind], 1);
                wl_log(WL_LOG_DEBUG, "ingest", "stored type=%s user=%s device=%s tst=%lld",
                       owntracks_kind_name(recs[i].kind), recs[i].user, recs[i].device,
                       (long long)recs[i].tst);
            } else {
                atomic_fetch_add(&in->counters.duplicate, 1);
                wl_log(WL_LOG_DEBUG, "ingest", "duplicate type=%s user=%s device=%s tst=%lld",
                       owntracks_kind_name(recs[i].kind), recs[i].user, recs[i].device,
                       (long long)recs[i].tst);
            }
        }
    }
out:
    free(recs);
    if (res != results)
        free(res);
    ingest_batch_reset(b);
    return rc;
}
