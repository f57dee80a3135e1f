#include "prune.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "wl.h"
#include "wtime.h"

int prune_parse_rule(const char *text, struct prune_rule *out)
{
    const char *eq = strrchr(text, '='), *why;
    char *end;
    if (!eq || eq == text)
        return -EINVAL;
    if (owntracks_normalize_name(text, (size_t)(eq - text), out->user, &why) != 0)
        return -EINVAL;
    errno = 0;
    long days = strtol(eq + 1, &end, 10);
    if (errno || end == eq + 1 || *end || days < 0 || days > 100000)
        return -EINVAL;
    out->days = days;
    return 0;
}

bool prune_enabled(const struct prune_options *opt)
{
    if (opt->days)
        return true;
    for (size_t i = 0; i < opt->nrules; i++)
        if (opt->rules[i].days)
            return true;
    return false;
}

static long days_for(const struct prune_options *opt, const char *user)
{
    for (size_t i = 0; i < opt->nrules; i++)
        if (strcmp(opt->rules[i].user, user) == 0)
            return opt->rules[i].days;
    return opt->days;
}

int prune_run(struct store *s, const struct prune_options *opt, int64_t now, uint64_t *removed)
{
    struct store_device *devs;
    size_t ndevs;
    int rc = store_devices(s, NULL, NULL, &devs, &ndevs);

    *removed = 0;
    for (size_t i = 0; i < ndevs && rc == 0; i++) {
        const struct store_device *d = &devs[i];
        long days = days_for(opt, d->user);
        int64_t cutoff = now - (int64_t)days * 86400;
        uint64_t n = 0;
        if (!days || !d->points || d->first_tst >= cutoff)
            continue; /* nothing that old: no transaction at all */
        rc = store_delete_points(s, d->user, d->device, WTIME_MIN, cutoff - 1, false, &n);
        if (rc == 0 && n) {
            char iso[WTIME_ISO_SIZE];
            wtime_iso(cutoff, iso);
            wl_log(WL_LOG_INFO, "prune", "removed %llu points of %s/%s older than %s (%ld days)",
                   (unsigned long long)n, d->user, d->device, iso, days);
        }
        *removed += n;
    }
    free(devs);
    return rc;
}

struct prune {
    struct store *store;
    struct prune_options opt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

static void *prune_thread(void *arg)
{
    struct prune *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        pthread_mutex_unlock(&p->lock);
        uint64_t removed;
        int rc = prune_run(p->store, &p->opt, time(NULL), &removed);
        if (rc)
            wl_log(WL_LOG_ERROR, "prune", "retention pass failed: %s", wl_strerror(rc));
        pthread_mutex_lock(&p->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC,
                      &until); /* the wake's clock: a set wall clock moves it not */
        until.tv_sec += p->opt.interval;
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int prune_start(struct store *s, const struct prune_options *opt, struct prune **out)
{
    struct prune *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->store = s;
    p->opt = *opt;
    if (p->opt.interval == 0)
        p->opt.interval = 3600;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&p->thread, NULL, prune_thread, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
        free(p);
        return -EAGAIN;
    }
    *out = p;
    return 0;
}

void prune_stop(struct prune *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
}
