#include "placename.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pack.h"
#include "wl.h"

struct job {
    char ghash[GEOHASH_SIZE];
    double lat, lon;
};

struct placename {
    struct store *store;
    const struct gazetteer *gz;
    struct placename_options opt;
    struct geocoder **providers;
    size_t nproviders;
    bool *failing; /* per provider: its last request failed (logged once a streak) */

    /* The queue and the recent cells, under lock; the thread waits on wake (CLOCK_MONOTONIC). */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *queue; /* ring of opt.queue_max */
    size_t head, len;
    char (*recent)[GEOHASH_SIZE]; /* PLACENAME_RECENT, direct-mapped by a hash of the geohash */
    bool stop;
    pthread_t thread;
    bool running;

    atomic_ulong requests, failures, answers, cache_hits, queue_drops;
};

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t recent_slot(const char *ghash)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = ghash; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h % PLACENAME_RECENT;
}

/* ---------------------------------------------------------------- the worker */

/* Waits until `until` (monotonic seconds) or stop. Lock held. Returns false on stop. */
static bool wait_until(struct placename *p, double until)
{
    while (!p->stop) {
        double now = monotonic_now();
        if (now >= until)
            return true;
        struct timespec ts = {.tv_sec = (time_t)until,
                              .tv_nsec = (long)((until - floor(until)) * 1e9)};
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
    }
    return false;
}

static void forget(struct placename *p, const char *ghash)
{
    pthread_mutex_lock(&p->lock);
    char *slot = p->recent[recent_slot(ghash)];
    if (strcmp(slot, ghash) == 0)
        slot[0] = '\0';
    pthread_mutex_unlock(&p->lock);
}

/* Asks the providers in order; stores the first answer. Returns 0 (stored), -EAGAIN (every
 * provider is backing off: ask again later), -ECANCELED (stopping), or the last failure. */
static int ask(struct placename *p, const struct job *j)
{
    int last = -EAGAIN;
    for (size_t i = 0; i < p->nproviders; i++) {
        struct geocoder *g = p->providers[i];
        const struct geocoder_spec *spec = geocoder_get_spec(g);
        struct geocoder_answer a;
        char why[160];
        if (geocoder_backing_off(g, monotonic_now()))
            continue;
        pthread_mutex_lock(&p->lock);
        bool go = wait_until(p, geocoder_next_at(g)); /* its rate */
        pthread_mutex_unlock(&p->lock);
        if (!go)
            return -ECANCELED;
        atomic_fetch_add(&p->requests, 1);
        int rc = geocoder_reverse(g, j->lat, j->lon, monotonic_now(), &a, why, sizeof(why));
        if (rc < 0) {
            atomic_fetch_add(&p->failures, 1);
            if (!p->failing[i])
                wl_log(WL_LOG_WARN, "placename", "geocoder %s (%s) failed for %s: %s%s",
                       geocoder_kind_name(spec->kind), spec->url, j->ghash, why,
                       i + 1 < p->nproviders ? "; asking the next one" : "");
            p->failing[i] = true;
            last = rc;
            continue;
        }
        if (p->failing[i])
            wl_log(WL_LOG_INFO, "placename", "geocoder %s (%s) answers again",
                   geocoder_kind_name(spec->kind), spec->url);
        p->failing[i] = false;
        struct store_geo e = {.fetched = time(NULL)};
        memcpy(e.cc, a.cc, sizeof(e.cc));
        snprintf(e.addr, sizeof(e.addr), "%s", a.addr);
        snprintf(e.locality, sizeof(e.locality), "%s", a.locality);
        snprintf(e.provider, sizeof(e.provider), "%s", geocoder_kind_name(spec->kind));
        struct gazetteer_city city;
        if (p->gz && gazetteer_nearest(p->gz, j->lat, j->lon, &city))
            snprintf(e.tzname, sizeof(e.tzname), "%s", city.tzname);
        const char *key = j->ghash;
        rc = store_geo_put(p->store, &key, &e, 1);
        if (rc) {
            wl_log(WL_LOG_ERROR, "placename", "cannot cache the name of %s: %s", j->ghash,
                   wl_strerror(rc));
            return rc;
        }
        atomic_fetch_add(&p->answers, 1);
        return 0;
    }
    return last;
}

/* Is a cache entry fetched at `fetched` young enough to keep? One dated in the future (by
 * more than a day of clock skew) cannot be aged: a clock set back, or a cache made elsewhere
 * (an imported Recorder's); it is asked for again rather than kept forever. */
static bool still_fresh(int64_t fetched, int64_t now, int64_t max_age)
{
    return fetched <= now + 86400 && now - fetched < max_age;
}

static void work(struct placename *p, const struct job *j)
{
    struct store_geo e;
    if (store_geo_get(p->store, j->ghash, &e) == 0 &&
        still_fresh(e.fetched, time(NULL), p->opt.max_age)) {
        atomic_fetch_add(&p->cache_hits, 1);
        return;
    }
    for (;;) {
        int rc = ask(p, j);
        if (rc == 0 || rc == -ECANCELED)
            return;
        if (rc != -EAGAIN || !p->nproviders)
            break;
        /* Every provider is backing off: wait for the first to come back, then ask it. */
        double soonest = INFINITY;
        for (size_t i = 0; i < p->nproviders; i++)
            soonest = fmin(soonest, geocoder_next_at(p->providers[i]));
        pthread_mutex_lock(&p->lock);
        bool go = wait_until(p, soonest);
        pthread_mutex_unlock(&p->lock);
        if (!go)
            return;
    }
    forget(p, j->ghash); /* asked again when a point falls there again */
}

static void *run(void *arg)
{
    struct placename *p = arg;
    pthread_setname_np(pthread_self(), "wl-geocoder"); /* its CPU time apart in /proc, top -H */
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->len == 0)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        struct job j = p->queue[p->head];
        p->head = (p->head + 1) % p->opt.queue_max;
        p->len--;
        pthread_mutex_unlock(&p->lock);
        work(p, &j);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---------------------------------------------------------------- life */

int placename_new(struct store *store, const struct gazetteer *gz,
                  const struct placename_options *opt, struct geocoder **providers, size_t n,
                  struct placename **out)
{
    struct placename *p = calloc(1, sizeof(*p));
    pthread_condattr_t attr;
    int rc;

    if (!p) {
        for (size_t i = 0; i < n; i++)
            geocoder_free(providers[i]);
        return -ENOMEM;
    }
    p->store = store;
    p->gz = gz;
    p->opt = *opt;
    if (!p->opt.queue_max)
        p->opt.queue_max = PLACENAME_QUEUE_DEFAULT;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    p->providers = calloc(n ? n : 1, sizeof(*p->providers));
    p->failing = calloc(n ? n : 1, sizeof(*p->failing));
    if (!p->providers || !p->failing) {
        for (size_t i = 0; i < n; i++)
            geocoder_free(providers[i]);
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        p->providers[p->nproviders++] = providers[i];
    if (opt->precision < GEOHASH_PRECISION_MIN || opt->precision > GEOHASH_PRECISION_MAX) {
        rc = -EINVAL;
        goto fail;
    }
    if (n == 0) {
        *out = p;
        return 0;
    }
    p->queue = calloc(p->opt.queue_max, sizeof(*p->queue));
    p->recent = calloc(PLACENAME_RECENT, sizeof(*p->recent));
    if (!p->queue || !p->recent) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = pthread_create(&p->thread, NULL, run, p)) != 0) {
        rc = -rc;
        goto fail;
    }
    p->running = true;
    *out = p;
    return 0;
fail:
    placename_free(p);
    return rc;
}

void placename_free(struct placename *p)
{
    if (!p)
        return;
    if (p->running) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < p->nproviders; i++)
        geocoder_free(p->providers[i]);
    free(p->providers);
    free(p->failing);
    free(p->queue);
    free(p->recent);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void placename_note(struct placename *p, double lat, double lon)
{
    struct job j = {.lat = lat, .lon = lon};
    if (!p || !p->running || geohash_encode(lat, lon, p->opt.precision, j.ghash) != 0)
        return;
    pthread_mutex_lock(&p->lock);
    char *slot = p->recent[recent_slot(j.ghash)];
    if (strcmp(slot, j.ghash) != 0) {
        if (p->len < p->opt.queue_max) {
            p->queue[(p->head + p->len) % p->opt.queue_max] = j;
            p->len++;
            memcpy(slot, j.ghash, GEOHASH_SIZE);
            pthread_cond_signal(&p->wake);
        } else {
            atomic_fetch_add(&p->queue_drops, 1);
        }
    }
    pthread_mutex_unlock(&p->lock);
}

void placename_get_stats(struct placename *p, struct placename_stats *out)
{
    *out = (struct placename_stats){.requests = atomic_load(&p->requests),
                                    .failures = atomic_load(&p->failures),
                                    .answers = atomic_load(&p->answers),
                                    .cache_hits = atomic_load(&p->cache_hits),
                                    .queue_drops = atomic_load(&p->queue_drops),
                                    .providers = p->nproviders};
    pthread_mutex_lock(&p->lock);
    out->queued = p->len;
    pthread_mutex_unlock(&p->lock);
}

/* ---------------------------------------------------------------- reading */

/* How a lookup reads the cache. */
enum cache_read { CACHE_SKIP, CACHE_PEEK, CACHE_GET };

/* The answer for a position whose geohash is known. */
static void lookup(struct placename *p, double lat, double lon, const char *ghash,
                   enum cache_read how, struct placename_answer *out)
{
    struct store_geo e;
    struct gazetteer_city city;
    int rc = -ENOENT;

    out->cached = false;
    out->fetched = 0;
    out->cc[0] = out->addr[0] = out->locality[0] = out->tzname[0] = out->provider[0] = '\0';
    memcpy(out->ghash, ghash, GEOHASH_SIZE);
    if (how == CACHE_PEEK)
        rc = store_geo_peek(p->store, ghash, &e);
    else if (how == CACHE_GET)
        rc = store_geo_get(p->store, ghash, &e);
    if (rc == 0) {
        out->cached = true;
        out->fetched = e.fetched;
        memcpy(out->cc, e.cc, sizeof(out->cc));
        memcpy(out->addr, e.addr, sizeof(out->addr));
        memcpy(out->locality, e.locality, sizeof(out->locality));
        memcpy(out->tzname, e.tzname, sizeof(out->tzname));
        memcpy(out->provider, e.provider, sizeof(out->provider));
    }
    /* What the cache leaves out, the nearest city says. */
    if ((!out->cc[0] || !out->locality[0] || !out->tzname[0]) && p->gz &&
        gazetteer_nearest(p->gz, lat, lon, &city)) {
        if (!out->cc[0])
            snprintf(out->cc, sizeof(out->cc), "%s", city.cc);
        if (!out->locality[0])
            snprintf(out->locality, sizeof(out->locality), "%s", city.name);
        if (!out->tzname[0])
            snprintf(out->tzname, sizeof(out->tzname), "%s", city.tzname);
    }
}

int placename_lookup(struct placename *p, double lat, double lon, enum placename_cache how,
                     struct placename_answer *out)
{
    char ghash[GEOHASH_SIZE];
    *out = (struct placename_answer){0};
    if (geohash_encode(lat, lon, p->opt.precision, ghash) != 0)
        return -EINVAL;
    lookup(p, lat, lon, ghash,
           how == PLACENAME_CACHE    ? CACHE_GET
           : how == PLACENAME_NESTED ? CACHE_PEEK
                                     : CACHE_SKIP,
           out);
    return 0;
}

/* A cell's members as JSON, rendered once: `"ghash":"...","cc":"..."`, each member's bytes at
 * at[i] (len[i], 0 when unknown), joined by commas. */
struct memo_slot {
    char ghash[GEOHASH_SIZE];
    bool used;
    uint16_t at[PLACENAME_MEMBERS], len[PLACENAME_MEMBERS];
    uint16_t first, end; /* the span of all of them */
    char json[PLACENAME_MEMO_TEXT];
};

struct placename_memo {
    struct placename *p;
    bool cache_empty; /* the cache had nothing when the memo was made: never look there */
    /* The last position asked for and its slot: a still phone repeats its position. */
    double last_lat, last_lon;
    const struct memo_slot *last;
    struct placename_answer answer; /* scratch of a lookup */
    struct sink text;               /* scratch of a rendering */
    struct memo_slot slot[PLACENAME_MEMO];
};

static const struct {
    const char *name;
    int key;
    size_t offset;
} members[PLACENAME_MEMBERS] = {
    {"ghash", PACK_KEY_GHASH, offsetof(struct placename_answer, ghash)},
    {"cc", PACK_KEY_CC, offsetof(struct placename_answer, cc)},
    {"addr", PACK_KEY_ADDR, offsetof(struct placename_answer, addr)},
    {"locality", PACK_KEY_LOCALITY, offsetof(struct placename_answer, locality)},
    {"tzname", PACK_KEY_TZNAME, offsetof(struct placename_answer, tzname)},
};

struct placename_memo *placename_memo_new(struct placename *p)
{
    struct placename_memo *m = calloc(1, sizeof(*m));
    uint64_t entries = 0;
    if (!m)
        return NULL;
    if (sink_init_mem(&m->text, 1024) != 0) {
        free(m);
        return NULL;
    }
    m->p = p;
    /* A store that never had a geocoder has an empty cache: then a stream does not open a
     * read for every new cell. One that fills meanwhile is seen by the next request. */
    m->cache_empty = store_geo_count(p->store, &entries) == 0 && entries == 0;
    return m;
}

void placename_memo_free(struct placename_memo *m)
{
    if (!m)
        return;
    sink_free(&m->text);
    free(m);
}

/* Renders the answer into the slot; false when it does not fit (the slot stays unused). */
static bool render(struct placename_memo *m, const struct placename_answer *a,
                   struct memo_slot *slot)
{
    size_t o = 0;
    bool any = false;
    for (size_t i = 0; i < PLACENAME_MEMBERS; i++) {
        const char *value = (const char *)a + members[i].offset;
        slot->at[i] = slot->len[i] = 0;
        if (!value[0])
            continue;
        m->text.len = 0;
        sink_putc(&m->text, '"');
        sink_puts(&m->text, members[i].name);
        sink_puts(&m->text, "\":");
        sink_json_string(&m->text, value, strlen(value));
        if (m->text.err || o + any + m->text.len > sizeof(slot->json))
            return false;
        if (any)
            slot->json[o++] = ',';
        else
            slot->first = (uint16_t)o;
        memcpy(slot->json + o, m->text.buf, m->text.len);
        slot->at[i] = (uint16_t)o;
        slot->len[i] = (uint16_t)m->text.len;
        o += m->text.len;
        any = true;
    }
    slot->end = (uint16_t)o;
    memcpy(slot->ghash, a->ghash, GEOHASH_SIZE);
    slot->used = true;
    return true;
}

/* The slot for (lat, lon); NULL for a position that is not one, or members too long to keep. */
static const struct memo_slot *memo_slot(struct placename_memo *m, double lat, double lon)
{
    char ghash[GEOHASH_SIZE];
    if (m->last && lat == m->last_lat && lon == m->last_lon)
        return m->last;
    if (geohash_encode(lat, lon, m->p->opt.precision, ghash) != 0)
        return NULL;
    struct memo_slot *slot = &m->slot[recent_slot(ghash) % PLACENAME_MEMO];
    if (!slot->used || strcmp(slot->ghash, ghash) != 0) {
        slot->used = false;
        lookup(m->p, lat, lon, ghash, m->cache_empty ? CACHE_SKIP : CACHE_PEEK, &m->answer);
        if (!render(m, &m->answer, slot))
            return NULL;
    }
    m->last = slot;
    m->last_lat = lat;
    m->last_lon = lon;
    return slot;
}

/* Writes the members of an answer that could not be kept, one by one. */
static int write_answer(const struct placename_answer *a, const char *only, uint64_t have,
                        bool comma, struct sink *out)
{
    int n = 0;
    for (size_t i = 0; i < PLACENAME_MEMBERS; i++) {
        const char *value = (const char *)a + members[i].offset;
        if ((only && strcmp(only, members[i].name) != 0) ||
            (have & ((uint64_t)1 << members[i].key)) || !value[0])
            continue;
        if (comma || n > 0)
            sink_putc(out, ',');
        sink_putc(out, '"');
        sink_puts(out, members[i].name);
        sink_puts(out, "\":");
        sink_json_string(out, value, strlen(value));
        n++;
    }
    return n;
}

int placename_write_members(void *memo, double lat, double lon, const char *only, uint64_t have,
                            bool comma, struct sink *out)
{
    struct placename_memo *m = memo;
    const struct memo_slot *slot = memo_slot(m, lat, lon);
    uint64_t mine = 0;
    int n = 0;

    if (!slot) {
        char ghash[GEOHASH_SIZE];
        if (geohash_encode(lat, lon, m->p->opt.precision, ghash) != 0)
            return 0;
        lookup(m->p, lat, lon, ghash, m->cache_empty ? CACHE_SKIP : CACHE_PEEK, &m->answer);
        return write_answer(&m->answer, only, have, comma, out);
    }
    for (size_t i = 0; i < PLACENAME_MEMBERS; i++)
        mine |= (uint64_t)1 << members[i].key;
    if (!only && !(have & mine)) { /* the usual case: all of them, as rendered */
        if (slot->end == 0)
            return 0;
        if (comma)
            sink_putc(out, ',');
        sink_put(out, slot->json + slot->first, slot->end - slot->first);
        for (size_t i = 0; i < PLACENAME_MEMBERS; i++)
            n += slot->len[i] > 0;
        return n;
    }
    for (size_t i = 0; i < PLACENAME_MEMBERS; i++) {
        if (!slot->len[i] || (only && strcmp(only, members[i].name) != 0) ||
            (have & ((uint64_t)1 << members[i].key)))
            continue;
        if (comma || n > 0)
            sink_putc(out, ',');
        sink_put(out, slot->json + slot->at[i], slot->len[i]);
        n++;
    }
    return n;
}
