/* webhook.c - the outbox's delivery thread (webhook.h). */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "log.h"
#include "webhook.h"
#include "wl.h"

/* How often the outbox is trimmed to its bounds (a trim reads the whole outbox). */
#define TRIM_INTERVAL_S 60
/* Back-off state is kept for this many (webhook, device) pairs at once; a pair beyond it is
 * simply tried again on the next pass (1 s), which only costs attempts. */
#define BACKOFF_SLOTS 256

struct backoff {
    uint32_t webhook, device;
    unsigned attempts;
    time_t next_try; /* CLOCK_MONOTONIC seconds */
};

/* One (webhook, device) being delivered: its oldest waiting events, copied from the outbox
 * (list[at..n)), posted one after the other on its own easy handle, beside the other groups'
 * (a receiver that hangs delays only its own events). */
struct transfer {
    CURL *easy; /* kept across passes: its connection is reused */
    bool active;
    struct store_delivery list[WEBHOOK_PER_GROUP];
    size_t at, n;
    struct backoff *b;
    struct store_webhook hook; /* a copy: the secret is wiped when the pass ends */
    struct sink body;
    struct curl_slist *headers;
};

struct webhook {
    struct store *store;
    struct webhook_options opt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool stop, woken;    /* under lock */
    atomic_uint_fast64_t delivered, failed, dropped, pending;
    /* The thread's own. */
    CURLM *multi;
    struct transfer transfers[WEBHOOK_PARALLEL];
    struct backoff slots[BACKOFF_SLOTS];
    size_t nslots;
    struct store_delivery heads[WEBHOOK_HEADS];
    /* Delivered, not yet removed from the outbox: pointers into the transfers' lists. */
    const struct store_delivery *done[WEBHOOK_PARALLEL * WEBHOOK_PER_GROUP];
    size_t ndone;
};

static time_t monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

void webhook_sign(const uint8_t *key, size_t key_len, int64_t timestamp, const char *body,
                  size_t len, char out[72])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24];
    int n = snprintf(ts, sizeof(ts), "%" PRId64 ".", timestamp);
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 65, mac, sizeof(mac));
}

static struct backoff *find_slot(struct webhook *w, uint32_t webhook, uint32_t device, bool add)
{
    for (size_t i = 0; i < w->nslots; i++)
        if (w->slots[i].webhook == webhook && w->slots[i].device == device)
            return &w->slots[i];
    if (!add || w->nslots == BACKOFF_SLOTS)
        return NULL;
    w->slots[w->nslots] = (struct backoff){.webhook = webhook, .device = device};
    return &w->slots[w->nslots++];
}

static void forget_slot(struct webhook *w, struct backoff *b)
{
    *b = w->slots[--w->nslots];
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb; /* the answer's body means nothing to us */
}

static void transfer_release(struct transfer *t)
{
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    sink_free(&t->body);
}

/* Starts posting t->list[t->at] on t's handle. false when it cannot (out of memory: the event
 * stays in the outbox for a later pass). */
static bool transfer_start(struct webhook *w, struct transfer *t)
{
    const struct store_event *ev = &t->list[t->at].ev;
    const struct store_webhook *hook = &t->hook;
    char id[64], ts[64], sigline[96], sig[72];
    int64_t now = time(NULL);

    if (sink_init_mem(&t->body, 1024))
        return false;
    event_json(&t->body, ev);
    snprintf(id, sizeof(id), "X-Wherelog-Event-Id: %u", ev->seq);
    snprintf(ts, sizeof(ts), "X-Wherelog-Timestamp: %" PRId64, now);
    const char *lines[4] = {"Content-Type: application/json", id, ts, NULL};
    if (hook->secret_len) {
        webhook_sign(hook->secret, hook->secret_len, now, t->body.buf, t->body.len, sig);
        snprintf(sigline, sizeof(sigline), "X-Wherelog-Signature: %s", sig);
        lines[3] = sigline;
    }
    bool ok = !t->body.err && (t->easy || (t->easy = curl_easy_init()));
    for (size_t i = 0; i < WL_ARRAY_LEN(lines) && ok; i++) {
        struct curl_slist *more = lines[i] ? curl_slist_append(t->headers, lines[i]) : t->headers;
        if (!more)
            ok = false;
        else
            t->headers = more;
    }
    if (ok) {
        CURL *c = t->easy;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, hook->url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, t->body.buf);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)t->body.len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "wherelog");
        curl_easy_setopt(c, CURLOPT_PRIVATE, t);
        ok = curl_multi_add_handle(w->multi, c) == CURLM_OK;
    }
    if (!ok)
        transfer_release(t);
    t->active = ok;
    return ok;
}

/* A group failed at t->list[t->at]: its back-off grows, and nothing more of it is tried until
 * then (its next event must not overtake this one). */
static void transfer_failed(struct webhook *w, struct transfer *t, long status, time_t *next_wake)
{
    const struct store_delivery *d = &t->list[t->at];
    time_t now = monotonic_s();
    atomic_fetch_add(&w->failed, 1);
    if (!t->b)
        t->b = find_slot(w, d->webhook, d->device, true);
    unsigned attempts = t->b ? ++t->b->attempts : 1;
    unsigned delay = attempts >= 20 ? w->opt.backoff_max : 1u << (attempts - 1);
    if (delay > w->opt.backoff_max)
        delay = w->opt.backoff_max;
    if (t->b)
        t->b->next_try = now + (time_t)delay;
    if (now + (time_t)delay < *next_wake)
        *next_wake = now + (time_t)delay;
    if (status >= 0)
        wl_log(attempts <= 3 ? WL_LOG_WARN : WL_LOG_DEBUG, "webhook",
               "webhook %u (user %s): event %u answered %ld; retrying in %u s", t->hook.id,
               t->hook.user, d->ev.seq, status, delay);
}

/* Is a transfer delivering (webhook, device) now? */
static bool group_active(const struct webhook *w, uint32_t webhook, uint32_t device)
{
    for (size_t i = 0; i < WEBHOOK_PARALLEL; i++) {
        const struct transfer *t = &w->transfers[i];
        if (t->active && t->list[0].webhook == webhook && t->list[0].device == device)
            return true;
    }
    return false;
}

/* Removes what was delivered from the outbox, in one transaction. Failing to only means
 * sending them again (at least once). Returns whether any was removed. */
static bool flush_done(struct webhook *w)
{
    bool removed = w->ndone && store_outbox_done(w->store, w->done, w->ndone) == 0;
    w->ndone = 0;
    return removed;
}

/* Reads the outbox's heads again and gives each group that waits, is not being delivered and
 * is not backing off, to a free transfer (as many as there are). Returns how many started.
 * Groups in back-off lower *next_wake to when they may be tried. */
static size_t refill(struct webhook *w, time_t *next_wake)
{
    long n = store_outbox_heads(w->store, w->heads, WEBHOOK_HEADS, WEBHOOK_PER_GROUP);
    size_t started = 0, slot = 0;
    for (long at = 0; at < n;) {
        const struct store_delivery *d = &w->heads[at];
        long end = at + 1;
        while (end < n && w->heads[end].webhook == d->webhook && w->heads[end].device == d->device)
            end++;
        long first = at;
        at = end;
        if (group_active(w, d->webhook, d->device))
            continue;
        struct backoff *b = find_slot(w, d->webhook, d->device, false);
        if (b && b->next_try > monotonic_s()) {
            if (b->next_try < *next_wake)
                *next_wake = b->next_try;
            continue;
        }
        while (slot < WEBHOOK_PARALLEL && w->transfers[slot].active)
            slot++;
        if (slot == WEBHOOK_PARALLEL)
            break; /* the others wait for a free transfer */
        struct transfer *t = &w->transfers[slot];
        if (store_webhook_get(w->store, d->webhook, &t->hook) != 0)
            continue; /* deleted meanwhile: its records went with it */
        t->n = (size_t)(end - first);
        memcpy(t->list, &w->heads[first], t->n * sizeof(t->list[0]));
        t->at = 0;
        t->b = b;
        if (transfer_start(w, t))
            started++;
    }
    return started;
}

/* Takes (and clears) the flag that new records were committed, or whether to stop. */
static bool take_woken(struct webhook *w, bool *stop)
{
    pthread_mutex_lock(&w->lock);
    bool woken = w->woken;
    w->woken = false;
    *stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    return woken;
}

/* Posts the waiting events, up to WEBHOOK_PARALLEL (webhook, device) groups at a time, each
 * group's in order until one fails, taking up groups as transfers come free and as new events
 * are committed; removes the delivered ones from the outbox in batches. Returns, once nothing
 * is in flight (or on stop), whether any was delivered. */
static bool deliver(struct webhook *w, time_t *next_wake)
{
    bool progress = false, stop = false, look = true;
    size_t active = 0;

    for (;;) {
        if (look) {
            progress |= flush_done(w); /* first: the heads must not offer them again */
            active += refill(w, next_wake);
            look = false;
        }
        if (active == 0)
            break;
        int running;
        curl_multi_perform(w->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(w->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct transfer *t;
            long status = -1;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
            else
                wl_log(WL_LOG_WARN, "webhook", "webhook %u (user %s): event %u: %s", t->hook.id,
                       t->hook.user, t->list[t->at].ev.seq, curl_easy_strerror(msg->data.result));
            curl_multi_remove_handle(w->multi, t->easy);
            transfer_release(t);
            t->active = false;
            active--;
            if (status < 200 || status >= 300) {
                transfer_failed(w, t, status, next_wake);
                look = true; /* the transfer is free for a group that waits */
                continue;
            }
            w->done[w->ndone++] = &t->list[t->at];
            atomic_fetch_add(&w->delivered, 1);
            if (t->b) {
                if (t->b->attempts >= 3)
                    wl_log(WL_LOG_INFO, "webhook", "webhook %u (user %s) delivers again",
                           t->hook.id, t->hook.user);
                forget_slot(w, t->b);
                t->b = NULL;
            }
            if (++t->at < t->n && transfer_start(w, t))
                active++;
            else
                look = true; /* its group may have more waiting, and the transfer is free */
        }
        if (take_woken(w, &stop))
            look = true;
        if (stop)
            break;
        if (active && !look)
            curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    /* On stop, what is in flight is dropped: it stays in the outbox, sent again next time. */
    for (size_t i = 0; i < WEBHOOK_PARALLEL; i++) {
        struct transfer *t = &w->transfers[i];
        if (t->active) {
            curl_multi_remove_handle(w->multi, t->easy);
            transfer_release(t);
            t->active = false;
        }
        sodium_memzero(&t->hook, sizeof(t->hook));
    }
    return flush_done(w) || progress;
}

static void *run(void *arg)
{
    struct webhook *w = arg;
    time_t next_trim = 0;
    pthread_setname_np(pthread_self(), "wl-webhook"); /* its CPU time apart in /proc, top -H */

    for (;;) {
        time_t now = monotonic_s();
        if (now >= next_trim) {
            uint64_t dropped = 0, left = 0;
            if (store_outbox_trim(w->store, time(NULL), w->opt.max_age, w->opt.max_count, &dropped,
                                  &left) == 0) {
                atomic_store(&w->pending, left);
                if (dropped) {
                    atomic_fetch_add(&w->dropped, dropped);
                    wl_log(WL_LOG_WARN, "webhook",
                           "dropped %" PRIu64 " undelivered event(s) from the outbox: older than "
                           "%" PRId64 " s or beyond %" PRIu64 " records (webhook-max-age, "
                           "webhook-max-count)",
                           dropped, w->opt.max_age, w->opt.max_count);
                }
            }
            next_trim = now + TRIM_INTERVAL_S;
        }
        time_t next_wake = now + TRIM_INTERVAL_S;
        bool progress = deliver(w, &next_wake);

        pthread_mutex_lock(&w->lock);
        if (!progress && !w->woken && !w->stop) {
            struct timespec until = {.tv_sec = next_wake};
            struct timespec mono;
            clock_gettime(CLOCK_MONOTONIC, &mono);
            if (until.tv_sec <= mono.tv_sec)
                until.tv_sec = mono.tv_sec + 1;
            pthread_cond_timedwait(&w->cond, &w->lock, &until);
        }
        w->woken = false;
        bool stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
    }
    return NULL;
}

int webhook_start(struct store *store, const struct webhook_options *opt, struct webhook **out)
{
    struct webhook *w = calloc(1, sizeof(*w));
    pthread_condattr_t attr;
    int rc;

    if (!w)
        return -ENOMEM;
    w->store = store;
    w->opt = *opt;
    if (w->opt.backoff_max < 1)
        w->opt.backoff_max = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(w->multi = curl_multi_init())) {
        free(w);
        return -ENOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    if ((rc = pthread_create(&w->thread, NULL, run, w)) != 0) {
        curl_multi_cleanup(w->multi);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void webhook_wake(struct webhook *w)
{
    pthread_mutex_lock(&w->lock);
    w->woken = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void webhook_stop(struct webhook *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    for (size_t i = 0; i < WEBHOOK_PARALLEL; i++)
        if (w->transfers[i].easy)
            curl_easy_cleanup(w->transfers[i].easy);
    curl_multi_cleanup(w->multi);
    curl_global_cleanup();
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void webhook_get_stats(struct webhook *w, struct webhook_stats *out)
{
    out->delivered = atomic_load(&w->delivered);
    out->failed = atomic_load(&w->failed);
    out->dropped = atomic_load(&w->dropped);
    out->pending = atomic_load(&w->pending);
}
