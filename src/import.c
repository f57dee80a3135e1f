#include "import_internal.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "owntracks.h"
#include "wl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- parallel parsing */

/*
 * Parsing JSON costs far more than storing it, so the reading thread only copies records
 * into jobs; workers validate and encode them (owntracks_parse_named, ingest_add), and the reading
 * thread applies finished jobs in the order they were filled: it counts their outcomes and
 * commits their batch. Hand-offs go through imp->lock: a job belongs to the reading thread
 * while seq >= parse (filling) or after the worker set `done` (applying), to one worker in
 * between.
 */
struct import_record {
    struct import_device *dev;
    int64_t now;
    size_t off, len;             /* the payload, in job->raw */
    unsigned char outcome, kind; /* set by the worker */
};

struct import_job {
    struct import_record *recs;
    size_t n, cap;
    struct sink raw;           /* payloads, back to back */
    struct ingest_batch batch; /* the accepted records, in record order (worker) */
    struct sink reasons; /* NUL-terminated reason of each rejected record, in order (worker) */
    int rc;              /* 0, or the error that stops the import (worker) */
    bool done;
};

static void job_reset(struct import_job *job)
{
    job->n = 0;
    job->raw.len = 0;
    job->raw.err = 0;
    job->reasons.len = 0;
    job->reasons.err = 0;
    job->rc = 0;
    job->done = false;
    ingest_batch_reset(&job->batch);
}

static void parse_job(struct imp *imp, struct import_job *job)
{
    for (size_t i = 0; i < job->n && job->rc == 0; i++) {
        struct import_record *r = &job->recs[i];
        const struct import_device *d = r->dev;
        struct owntracks_message msg;
        enum owntracks_outcome o = owntracks_parse_named(
            &imp->keys, d->user, d->device, job->raw.buf + r->off, r->len, r->now, 0, &msg);
        if (o == OWNTRACKS_ACCEPT) {
            int rc = ingest_add(&job->batch, &msg, d->topic[0] ? d->topic : NULL, r->now);
            owntracks_message_clear(&msg);
            if (rc == -ENOMEM) {
                job->rc = rc;
                break;
            }
            if (rc) {
                o = OWNTRACKS_REJECT;
                snprintf(msg.reason, sizeof(msg.reason), "cannot encode the message");
            }
            r->kind = (unsigned char)msg.kind;
        }
        if (o == OWNTRACKS_REJECT) {
            sink_puts(&job->reasons, msg.reason);
            sink_putc(&job->reasons, '\0');
        }
        r->outcome = (unsigned char)o;
    }
    if (job->rc == 0 && (job->batch.bytes.err || job->reasons.err))
        job->rc = -ENOMEM;
}

static void *worker_main(void *arg)
{
    struct imp *imp = arg;
    pthread_setname_np(pthread_self(), "wl-import");
    pthread_mutex_lock(&imp->lock);
    for (;;) {
        while (!imp->stopping && imp->parse == imp->fill)
            pthread_cond_wait(&imp->wake_workers, &imp->lock);
        if (imp->parse == imp->fill) /* stopping, and nothing left */
            break;
        struct import_job *job = &imp->jobs[imp->parse++ % imp->njobs];
        pthread_mutex_unlock(&imp->lock);
        parse_job(imp, job);
        pthread_mutex_lock(&imp->lock);
        job->done = true;
        pthread_cond_broadcast(&imp->job_done);
    }
    pthread_mutex_unlock(&imp->lock);
    return NULL;
}

/* Counts a parsed job's outcomes and commits its batch (reading thread). */
static int apply_job(struct imp *imp, struct import_job *job)
{
    if (job->rc)
        return job->rc;
    size_t accepted = job->batch.n;
    enum store_result *res =
        array_reserve(imp->results, &imp->results_cap, accepted, sizeof(*res), 64);
    if (!res)
        return -ENOMEM;
    imp->results = res;
    int rc = accepted ? ingest_commit(imp->ingest, &job->batch, imp->results) : 0;
    if (rc)
        return rc;
    /* An import reads the store only to find duplicates, in time order: what it has read
     * is not needed again, and a several-GB import should not look several GB large. */
    store_drop_resident_pages(imp->store);
    const char *reason = job->reasons.buf;
    size_t item = 0;
    for (size_t i = 0; i < job->n; i++) {
        struct import_record *r = &job->recs[i];
        struct import_device *d = r->dev;
        d->read++;
        switch ((enum owntracks_outcome)r->outcome) {
        case OWNTRACKS_ACCEPT:
            d->accepted_by_kind[r->kind]++;
            if (imp->results[item++] == STORE_STORED) {
                d->stored++;
                d->stored_by_kind[r->kind]++;
            } else {
                d->duplicate++;
            }
            break;
        case OWNTRACKS_IGNORE: d->ignored++; break;
        case OWNTRACKS_REJECT:
            d->rejected++;
            tally_add(&imp->reasons, reason);
            reason += strlen(reason) + 1;
            break;
        }
    }
    return 0;
}

/*
 * Waits for the oldest job in flight, then applies it (reading thread). After a failure the
 * rest is discarded rather than committed, so that what is stored has no gap.
 */
static int apply_oldest(struct imp *imp)
{
    struct import_job *job = &imp->jobs[imp->apply % imp->njobs];
    pthread_mutex_lock(&imp->lock);
    while (!job->done)
        pthread_cond_wait(&imp->job_done, &imp->lock);
    pthread_mutex_unlock(&imp->lock);
    if (!imp->failed)
        imp->failed = apply_job(imp, job);
    job_reset(job);
    imp->apply++;
    return imp->failed;
}

/* Hands the job being filled to the workers (or parses it here, without workers). */
static void submit_job(struct imp *imp)
{
    struct import_job *job = &imp->jobs[imp->fill % imp->njobs];
    if (imp->nworkers == 0) {
        parse_job(imp, job);
        job->done = true;
        imp->fill++;
        imp->parse++;
        return;
    }
    pthread_mutex_lock(&imp->lock);
    imp->fill++;
    pthread_cond_signal(&imp->wake_workers);
    pthread_mutex_unlock(&imp->lock);
}

int import_feed(struct imp *imp, size_t dev, const void *payload, size_t len, int64_t now)
{
    if (imp->failed) /* storing failed: the source's remaining records are not read */
        return imp->failed;
    /* The slot to fill must be free: apply what occupies it first. */
    if (imp->fill - imp->apply == imp->njobs) {
        int rc = apply_oldest(imp);
        if (rc)
            return rc;
    }
    struct import_job *job = &imp->jobs[imp->fill % imp->njobs];
    struct import_record *recs =
        array_reserve(job->recs, &job->cap, job->n + 1, sizeof(*recs), 1024);
    if (!recs)
        return -ENOMEM;
    job->recs = recs;
    job->recs[job->n++] =
        (struct import_record){.dev = imp->devs[dev], .now = now, .off = job->raw.len, .len = len};
    sink_put(&job->raw, payload, len);
    if (job->raw.err)
        return -ENOMEM;
    job->batch.payload_bytes += len;
    imp->records++;
    if (job->n >= IMPORT_JOB_RECORDS || job->raw.len >= IMPORT_JOB_BYTES)
        submit_job(imp);
    return 0;
}

int import_flush(struct imp *imp)
{
    if (imp->jobs[imp->fill % imp->njobs].n)
        submit_job(imp);
    while (imp->apply < imp->fill)
        apply_oldest(imp);
    return imp->failed;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int start_workers(struct imp *imp)
{
    int cpus = online_cpus();
    size_t want = cpus > 1 ? (size_t)(cpus < IMPORT_WORKERS_MAX ? cpus : IMPORT_WORKERS_MAX) : 0;

    imp->njobs = want + 2;
    if (!(imp->jobs = calloc(imp->njobs, sizeof(*imp->jobs))))
        return -ENOMEM;
    for (size_t i = 0; i < imp->njobs; i++) {
        struct import_job *job = &imp->jobs[i];
        if (sink_init_mem(&job->raw, 64 << 10) || sink_init_mem(&job->reasons, 256) ||
            ingest_batch_init(&job->batch))
            return -ENOMEM;
    }
    pthread_mutex_init(&imp->lock, NULL);
    pthread_cond_init(&imp->wake_workers, NULL);
    pthread_cond_init(&imp->job_done, NULL);
    if (want && !(imp->workers = calloc(want, sizeof(*imp->workers))))
        return -ENOMEM;
    for (; imp->nworkers < want; imp->nworkers++)
        if (pthread_create(&imp->workers[imp->nworkers], NULL, worker_main, imp) != 0)
            break; /* fewer workers (or none) still work */
    return 0;
}

static void stop_workers(struct imp *imp)
{
    if (!imp->jobs)
        return;
    pthread_mutex_lock(&imp->lock);
    imp->stopping = true;
    pthread_cond_broadcast(&imp->wake_workers);
    pthread_mutex_unlock(&imp->lock);
    for (size_t i = 0; i < imp->nworkers; i++)
        pthread_join(imp->workers[i], NULL);
    free(imp->workers);
    for (size_t i = 0; i < imp->njobs; i++) {
        struct import_job *job = &imp->jobs[i];
        free(job->recs);
        sink_free(&job->raw);
        sink_free(&job->reasons);
        ingest_batch_free(&job->batch);
    }
    free(imp->jobs);
    pthread_mutex_destroy(&imp->lock);
    pthread_cond_destroy(&imp->wake_workers);
    pthread_cond_destroy(&imp->job_done);
}

/* ---------------------------------------------------------------- life cycle, accounting */

int import_new(struct store *store, const struct import_options *opt, struct imp **out)
{
    struct imp *imp = calloc(1, sizeof(*imp));
    int rc = -ENOMEM;

    if (!imp)
        return -ENOMEM;
    imp->store = store;
    tally_init(&imp->reasons, imp->reason_entries, IMPORT_REASONS);
    imp->keys = store_keyring(store);
    imp->progress = opt && opt->progress;
    imp->start = imp->last_draw = now_s();
    if ((rc = writer_new(store, &imp->writer)) ||
        (rc = ingest_new(imp->writer, imp->keys, 0, &imp->ingest)) || (rc = start_workers(imp))) {
        import_free(imp);
        return rc;
    }
    *out = imp;
    return 0;
}

void import_free(struct imp *imp)
{
    if (!imp)
        return;
    stop_workers(imp);
    ingest_free(imp->ingest);
    writer_free(imp->writer);
    free(imp->results);
    for (size_t i = 0; i < imp->ndevs; i++)
        free(imp->devs[i]);
    free(imp->devs);
    free(imp);
}

uint64_t import_source_errors(const struct imp *imp)
{
    return imp->errors;
}

size_t import_device(struct imp *imp, const char *user, const char *device)
{
    for (size_t i = 0; i < imp->ndevs; i++)
        if (strcmp(imp->devs[i]->user, user) == 0 && strcmp(imp->devs[i]->device, device) == 0)
            return i;
    struct import_device **v =
        array_reserve(imp->devs, &imp->devcap, imp->ndevs + 1, sizeof(*v), 16);
    if (!v)
        return SIZE_MAX;
    imp->devs = v;
    struct import_device *d = calloc(1, sizeof(*d));
    if (!d)
        return SIZE_MAX;
    snprintf(d->user, sizeof(d->user), "%s", user);
    snprintf(d->device, sizeof(d->device), "%s", device);
    imp->devs[imp->ndevs] = d;
    return imp->ndevs++;
}

void import_ignored(struct imp *imp, size_t dev)
{
    imp->devs[dev]->read++;
    imp->devs[dev]->ignored++;
    imp->records++;
}

void import_unreadable(struct imp *imp, size_t dev, const char *reason)
{
    imp->devs[dev]->read++;
    imp->devs[dev]->unreadable++;
    imp->records++;
    tally_add(&imp->reasons, reason);
}

void import_error(struct imp *imp, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    imp->errors++;
    if (imp->progress)
        fputc('\n', stderr); /* leave the progress line */
    wl_log(WL_LOG_ERROR, "import", "%s", msg);
}

void import_progress(struct imp *imp)
{
    double now = now_s();
    if (!imp->progress || now - imp->last_draw < 0.2)
        return;
    imp->last_draw = now;
    double rate = (double)imp->records / (now - imp->start);
    fprintf(stderr, "\r  %llu records  %.0f/s", (unsigned long long)imp->records, rate);
    if (imp->bytes_total) {
        double done = (double)imp->bytes_done / (double)imp->bytes_total;
        double left = done > 0 ? (now - imp->start) * (1 - done) / done : 0;
        fprintf(stderr, "  %3.0f%%  ETA %d:%02d", done * 100, (int)left / 60, (int)left % 60);
    }
    fputs("   ", stderr);
    fflush(stderr);
}

void import_e7(struct sink *s, int64_t e7)
{
    uint64_t mag = e7 < 0 ? (uint64_t)0 - (uint64_t)e7 : (uint64_t)e7;
    char frac[8];
    if (e7 < 0)
        sink_putc(s, '-');
    sink_put_u64(s, mag / 10000000);
    snprintf(frac, sizeof(frac), "%07llu", (unsigned long long)(mag % 10000000));
    sink_putc(s, '.');
    sink_put(s, frac, 7);
}

/* ---------------------------------------------------------------- summary */

/* What a migration is checked by: the kinds the text summary names, and the rest. */
static const enum owntracks_kind named_kinds[] = {OWNTRACKS_LOCATION, OWNTRACKS_TRANSITION,
                                                  OWNTRACKS_WAYPOINT, OWNTRACKS_CARD};
static const char *const named_labels[] = {"locations", "transitions", "waypoints", "cards"};

/* Stored records of a named kind; waypoint lists (.otrw, "waypoints") count as waypoints. */
static uint64_t stored_named(const struct import_device *d, size_t i)
{
    uint64_t n = d->stored_by_kind[named_kinds[i]];
    return named_kinds[i] == OWNTRACKS_WAYPOINT ? n + d->stored_by_kind[OWNTRACKS_WAYPOINTS] : n;
}

static bool is_named(int kind)
{
    for (size_t i = 0; i < WL_ARRAY_LEN(named_kinds); i++)
        if ((int)named_kinds[i] == kind)
            return true;
    return kind == OWNTRACKS_WAYPOINTS;
}

/*
 * Per device, a block:
 *   jane/phone: 24 read
 *     stored      locations 13, transitions 2, waypoints 1, cards 0, others 7 (lwt 2, ...)
 *     not stored  duplicates 0, ignored 0, rejected 0, unreadable 1
 */
void import_summary_text(struct imp *imp, FILE *f)
{
    double secs = now_s() - imp->start;

    if (imp->progress)
        fputc('\n', stderr);
    for (size_t i = 0; i < imp->ndevs; i++) {
        const struct import_device *d = imp->devs[i];
        uint64_t others = 0;
        for (int k = 0; k < OWNTRACKS_KIND_COUNT; k++)
            others += is_named(k) ? 0 : d->stored_by_kind[k];
        fprintf(f, "%s/%s: %llu read\n  stored      ", d->user, d->device,
                (unsigned long long)d->read);
        for (size_t n = 0; n < WL_ARRAY_LEN(named_kinds); n++)
            fprintf(f, "%s %llu, ", named_labels[n], (unsigned long long)stored_named(d, n));
        fprintf(f, "others %llu", (unsigned long long)others);
        const char *sep = " (";
        for (int k = 0; k < OWNTRACKS_KIND_COUNT; k++) {
            if (is_named(k) || !d->stored_by_kind[k])
                continue;
            fprintf(f, "%s%s %llu", sep, owntracks_kind_name(k),
                    (unsigned long long)d->stored_by_kind[k]);
            sep = ", ";
        }
        fprintf(f,
                "%s\n  not stored  duplicates %llu, ignored %llu, rejected %llu, unreadable %llu\n",
                others ? ")" : "", (unsigned long long)d->duplicate, (unsigned long long)d->ignored,
                (unsigned long long)d->rejected, (unsigned long long)d->unreadable);
    }
    if (imp->reasons.n) {
        fprintf(f, "not stored, by reason:\n");
        for (size_t i = 0; i < imp->reasons.n; i++)
            fprintf(f, "%10llu  %s\n", (unsigned long long)imp->reasons.entries[i].count,
                    imp->reasons.entries[i].text);
        if (imp->reasons.other)
            fprintf(f, "%10llu  (other reasons)\n", (unsigned long long)imp->reasons.other);
    }
    if (imp->places || imp->places_unreadable)
        fprintf(f, "place names (ghash/): %llu stored, %llu unreadable\n",
                (unsigned long long)imp->places, (unsigned long long)imp->places_unreadable);
    if (imp->errors)
        fprintf(f, "%llu source(s) could not be read to the end (see above)\n",
                (unsigned long long)imp->errors);
    fprintf(f, "%llu records in %.1f s (%.0f/s)\n", (unsigned long long)imp->records, secs,
            secs > 0 ? (double)imp->records / secs : 0);
}

void import_summary_json(struct imp *imp, FILE *f)
{
    struct json_object *o = json_object_new_object(), *devs = json_object_new_array(),
                       *reasons = json_object_new_object();
    for (size_t i = 0; i < imp->ndevs; i++) {
        const struct import_device *d = imp->devs[i];
        struct json_object *j = json_object_new_object(), *kinds = json_object_new_object(),
                           *stored = json_object_new_object();
        json_object_object_add(j, "user", json_object_new_string(d->user));
        json_object_object_add(j, "device", json_object_new_string(d->device));
        json_object_object_add(j, "read", json_object_new_int64((int64_t)d->read));
        json_object_object_add(j, "stored", json_object_new_int64((int64_t)d->stored));
        json_object_object_add(j, "duplicate", json_object_new_int64((int64_t)d->duplicate));
        json_object_object_add(j, "ignored", json_object_new_int64((int64_t)d->ignored));
        json_object_object_add(j, "rejected", json_object_new_int64((int64_t)d->rejected));
        json_object_object_add(j, "unreadable", json_object_new_int64((int64_t)d->unreadable));
        for (int k = 0; k < OWNTRACKS_KIND_COUNT; k++) {
            if (d->accepted_by_kind[k])
                json_object_object_add(kinds, owntracks_kind_name(k),
                                       json_object_new_int64((int64_t)d->accepted_by_kind[k]));
            if (d->stored_by_kind[k])
                json_object_object_add(stored, owntracks_kind_name(k),
                                       json_object_new_int64((int64_t)d->stored_by_kind[k]));
        }
        json_object_object_add(j, "accepted_by_type", kinds);
        json_object_object_add(j, "stored_by_type", stored);
        json_object_array_add(devs, j);
    }
    for (size_t i = 0; i < imp->reasons.n; i++)
        json_object_object_add(reasons, imp->reasons.entries[i].text,
                               json_object_new_int64((int64_t)imp->reasons.entries[i].count));
    if (imp->reasons.other)
        json_object_object_add(reasons, "(other reasons)",
                               json_object_new_int64((int64_t)imp->reasons.other));
    json_object_object_add(o, "devices", devs);
    json_object_object_add(o, "reasons", reasons);
    json_object_object_add(o, "places", json_object_new_int64((int64_t)imp->places));
    json_object_object_add(o, "places_unreadable",
                           json_object_new_int64((int64_t)imp->places_unreadable));
    json_object_object_add(o, "errors", json_object_new_int64((int64_t)imp->errors));
    json_object_object_add(o, "files", json_object_new_int64((int64_t)imp->files));
    json_object_object_add(o, "records", json_object_new_int64((int64_t)imp->records));
    json_object_object_add(o, "seconds", json_object_new_double(now_s() - imp->start));
    fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
}
