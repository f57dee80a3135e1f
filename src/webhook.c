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

struct webhook {
    struct store *store;
    struct webhook_options opt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool stop, woken;    /* under lock */
    atomic_uint_fast64_t delivered, failed, dropped, pending;
    /* The thread's own. */
    CURL *curl;
    struct backoff slots[BACKOFF_SLOTS];
    size_t nslots;
    struct store_delivery heads[WEBHOOK_HEADS];
    const struct store_delivery *done[WEBHOOK_HEADS];
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

/* Posts one event. Returns the HTTP status, or -1 when there was none (logged). */
static long post(struct webhook *w, const struct store_webhook *hook, const struct store_event *ev)
{
    struct sink body;
    struct curl_slist *headers = NULL, *more;
    char line[128], sig[72];
    long status = -1;
    int64_t now = time(NULL);

    if (sink_init_mem(&body, 1024))
        return -1;
    event_json(&body, ev);
    bool ok = !body.err;
    const char *lines[4] = {"Content-Type: application/json", line, NULL, NULL};
    char tsline[64], sigline[96];
    snprintf(line, sizeof(line), "X-Wherelog-Event-Id: %u", ev->seq);
    snprintf(tsline, sizeof(tsline), "X-Wherelog-Timestamp: %" PRId64, now);
    lines[2] = tsline;
    if (hook->secret_len) {
        webhook_sign(hook->secret, hook->secret_len, now, body.buf, body.len, sig);
        snprintf(sigline, sizeof(sigline), "X-Wherelog-Signature: %s", sig);
        lines[3] = sigline;
    }
    for (size_t i = 0; i < WL_ARRAY_LEN(lines) && ok; i++) {
        if (!lines[i])
            continue;
        if (!(more = curl_slist_append(headers, lines[i])))
            ok = false;
        else
            headers = more;
    }
    if (ok) {
        CURL *c = w->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, hook->url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.buf);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "wherelog");
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        else
            wl_log(WL_LOG_WARN, "webhook", "webhook %u (user %s): event %u: %s", hook->id,
                   hook->user, ev->seq, curl_easy_strerror(rc));
    }
    curl_slist_free_all(headers);
    sink_free(&body);
    return status;
}

/* Tries the waiting events of each (webhook, device) whose back-off allows, in order, each
 * group until one fails; removes the delivered ones in one transaction. Returns whether any
 * was delivered (then look again at once: more may be waiting). */
static bool deliver_heads(struct webhook *w, time_t *next_wake)
{
    long n = store_outbox_heads(w->store, w->heads, WEBHOOK_HEADS, WEBHOOK_PER_GROUP);
    struct store_webhook *hook = malloc(sizeof(*hook));
    size_t ndone = 0;
    bool have_hook = false, skipping = false;
    uint32_t skip_wh = 0, skip_dev = 0;

    if (n < 0 || !hook) {
        free(hook);
        return false; /* the store logged why; the next pass tries again */
    }
    for (long i = 0; i < n; i++) {
        const struct store_delivery *d = &w->heads[i];
        if (skipping && d->webhook == skip_wh && d->device == skip_dev)
            continue; /* an earlier event of this device is not delivered yet */
        skipping = false;
        time_t now = monotonic_s();
        struct backoff *b = find_slot(w, d->webhook, d->device, false);
        if (b && b->next_try > now) {
            if (b->next_try < *next_wake)
                *next_wake = b->next_try;
            skipping = true;
            skip_wh = d->webhook;
            skip_dev = d->device;
            continue;
        }
        if (!have_hook || hook->id != d->webhook) {
            have_hook = store_webhook_get(w->store, d->webhook, hook) == 0;
            if (!have_hook)
                continue; /* deleted meanwhile: its records went with it */
        }
        long status = post(w, hook, &d->ev);
        if (status >= 200 && status < 300) {
            w->done[ndone++] = d;
            atomic_fetch_add(&w->delivered, 1);
            if (b) {
                if (b->attempts >= 3)
                    wl_log(WL_LOG_INFO, "webhook", "webhook %u (user %s) delivers again", hook->id,
                           hook->user);
                forget_slot(w, b);
            }
            continue;
        }
        atomic_fetch_add(&w->failed, 1);
        skipping = true;
        skip_wh = d->webhook;
        skip_dev = d->device;
        if (!b)
            b = find_slot(w, d->webhook, d->device, true);
        unsigned attempts = b ? ++b->attempts : 1;
        unsigned delay = attempts >= 20 ? w->opt.backoff_max : 1u << (attempts - 1);
        if (delay > w->opt.backoff_max)
            delay = w->opt.backoff_max;
        if (b)
            b->next_try = now + (time_t)delay;
        if (now + (time_t)delay < *next_wake)
            *next_wake = now + (time_t)delay;
        if (status >= 0)
            wl_log(attempts <= 3 ? WL_LOG_WARN : WL_LOG_DEBUG, "webhook",
                   "webhook %u (user %s): event %u answered %ld; retrying in %u s", hook->id,
                   hook->user, d->ev.seq, status, delay);
    }
    sodium_memzero(hook, sizeof(*hook));
    free(hook);
    /* Failing to remove them only means sending them again (at least once). */
    return ndone && store_outbox_done(w->store, w->done, ndone) == 0;
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
        bool progress = deliver_heads(w, &next_wake);

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
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(w->curl = curl_easy_init())) {
        free(w);
        return -ENOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    if ((rc = pthread_create(&w->thread, NULL, run, w)) != 0) {
        curl_easy_cleanup(w->curl);
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
    curl_easy_cleanup(w->curl);
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
