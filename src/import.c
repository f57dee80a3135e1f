#include "import_internal.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "owntracks.h"
#include "wl.h"
#include "wtime.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- parallel parsing */

/*
 * Parsing JSON costs far more than storing it, so the reading thread only copies records
 * into jobs; workers validate and encode them (ot_parse_named, ingest_add), and the reading
 * thread applies finished jobs in the order they were filled: it counts their outcomes and
 * commits their batch. Hand-offs go through imp->lock: a job belongs to the reading thread
 * while seq >= parse (filling) or after the worker set `done` (applying), to one worker in
 * between.
 */
struct imp_record {
    struct imp_device *dev;
    int64_t now;
    size_t off, len;             /* the payload, in job->raw */
    unsigned char outcome, kind; /* set by the worker */
};

struct imp_job {
    struct imp_record *recs;
    size_t n, cap;
    struct sink raw;           /* payloads, back to back */
    struct ingest_batch batch; /* the accepted records, in record order (worker) */
    struct sink reasons; /* NUL-terminated reason of each rejected record, in order (worker) */
    int rc;              /* 0, or the error that stops the import (worker) */
    bool done;
};

static void job_reset(struct imp_job *job)
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

static void parse_job(struct imp *imp, struct imp_job *job)
{
    for (size_t i = 0; i < job->n && job->rc == 0; i++) {
        struct imp_record *r = &job->recs[i];
        const struct imp_device *d = r->dev;
        struct ot_message msg;
        enum ot_outcome o = ot_parse_named(&imp->keys, d->user, d->device, job->raw.buf + r->off,
                                           r->len, r->now, 0, &msg);
        if (o == OT_ACCEPT) {
            int rc = ingest_add(&job->batch, &msg, d->topic[0] ? d->topic : NULL, r->now);
            ot_message_clear(&msg);
            if (rc == -ENOMEM) {
                job->rc = rc;
                break;
            }
            if (rc) {
                o = OT_REJECT;
                snprintf(msg.reason, sizeof(msg.reason), "cannot encode the message");
            }
            r->kind = (unsigned char)msg.kind;
        }
        if (o == OT_REJECT) {
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
        struct imp_job *job = &imp->jobs[imp->parse++ % imp->njobs];
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
static int apply_job(struct imp *imp, struct imp_job *job)
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
        struct imp_record *r = &job->recs[i];
        struct imp_device *d = r->dev;
        d->read++;
        switch ((enum ot_outcome)r->outcome) {
        case OT_ACCEPT:
            d->accepted_by_kind[r->kind]++;
            if (imp->results[item++] == STORE_STORED) {
                d->stored++;
                d->stored_by_kind[r->kind]++;
            } else {
                d->duplicate++;
            }
            break;
        case OT_IGNORE: d->ignored++; break;
        case OT_REJECT:
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
    struct imp_job *job = &imp->jobs[imp->apply % imp->njobs];
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
    struct imp_job *job = &imp->jobs[imp->fill % imp->njobs];
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

int imp_feed(struct imp *imp, size_t dev, const void *payload, size_t len, int64_t now)
{
    if (imp->failed) /* storing failed: the source's remaining records are not read */
        return imp->failed;
    /* The slot to fill must be free: apply what occupies it first. */
    if (imp->fill - imp->apply == imp->njobs) {
        int rc = apply_oldest(imp);
        if (rc)
            return rc;
    }
    struct imp_job *job = &imp->jobs[imp->fill % imp->njobs];
    struct imp_record *recs = array_reserve(job->recs, &job->cap, job->n + 1, sizeof(*recs), 1024);
    if (!recs)
        return -ENOMEM;
    job->recs = recs;
    job->recs[job->n++] =
        (struct imp_record){.dev = imp->devs[dev], .now = now, .off = job->raw.len, .len = len};
    sink_put(&job->raw, payload, len);
    if (job->raw.err)
        return -ENOMEM;
    job->batch.payload_bytes += len;
    imp->records++;
    if (job->n >= IMP_JOB_RECORDS || job->raw.len >= IMP_JOB_BYTES)
        submit_job(imp);
    return 0;
}

int imp_flush(struct imp *imp)
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
    size_t want = cpus > 1 ? (size_t)(cpus < IMP_WORKERS_MAX ? cpus : IMP_WORKERS_MAX) : 0;

    imp->njobs = want + 2;
    if (!(imp->jobs = calloc(imp->njobs, sizeof(*imp->jobs))))
        return -ENOMEM;
    for (size_t i = 0; i < imp->njobs; i++) {
        struct imp_job *job = &imp->jobs[i];
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
        struct imp_job *job = &imp->jobs[i];
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

int imp_new(struct store *store, const struct imp_options *opt, struct imp **out)
{
    struct imp *imp = calloc(1, sizeof(*imp));
    int rc = -ENOMEM;

    if (!imp)
        return -ENOMEM;
    imp->store = store;
    tally_init(&imp->reasons, imp->reason_entries, IMP_REASONS);
    imp->keys = store_keyring(store);
    imp->progress = opt && opt->progress;
    imp->start = imp->last_draw = now_s();
    if ((rc = writer_new(store, &imp->writer)) ||
        (rc = ingest_new(imp->writer, imp->keys, 0, &imp->ingest)) || (rc = start_workers(imp))) {
        imp_free(imp);
        return rc;
    }
    *out = imp;
    return 0;
}

void imp_free(struct imp *imp)
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

uint64_t imp_source_errors(const struct imp *imp)
{
    return imp->errors;
}

size_t imp_device(struct imp *imp, const char *user, const char *device)
{
    for (size_t i = 0; i < imp->ndevs; i++)
        if (strcmp(imp->devs[i]->user, user) == 0 && strcmp(imp->devs[i]->device, device) == 0)
            return i;
    struct imp_device **v = array_reserve(imp->devs, &imp->devcap, imp->ndevs + 1, sizeof(*v), 16);
    if (!v)
        return SIZE_MAX;
    imp->devs = v;
    struct imp_device *d = calloc(1, sizeof(*d));
    if (!d)
        return SIZE_MAX;
    snprintf(d->user, sizeof(d->user), "%s", user);
    snprintf(d->device, sizeof(d->device), "%s", device);
    imp->devs[imp->ndevs] = d;
    return imp->ndevs++;
}

void imp_ignored(struct imp *imp, size_t dev)
{
    imp->devs[dev]->read++;
    imp->devs[dev]->ignored++;
    imp->records++;
}

void imp_unreadable(struct imp *imp, size_t dev, const char *reason)
{
    imp->devs[dev]->read++;
    imp->devs[dev]->unreadable++;
    imp->records++;
    tally_add(&imp->reasons, reason);
}

void imp_error(struct imp *imp, const char *fmt, ...)
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

void imp_progress(struct imp *imp)
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

void imp_e7(struct sink *s, int64_t e7)
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
static const enum ot_kind named_kinds[] = {OT_LOCATION, OT_TRANSITION, OT_WAYPOINT, OT_CARD};
static const char *const named_labels[] = {"locations", "transitions", "waypoints", "cards"};

/* Stored records of a named kind; waypoint lists (.otrw, "waypoints") count as waypoints. */
static uint64_t stored_named(const struct imp_device *d, size_t i)
{
    uint64_t n = d->stored_by_kind[named_kinds[i]];
    return named_kinds[i] == OT_WAYPOINT ? n + d->stored_by_kind[OT_WAYPOINTS] : n;
}

static bool is_named(int kind)
{
    for (size_t i = 0; i < WL_ARRAY_LEN(named_kinds); i++)
        if ((int)named_kinds[i] == kind)
            return true;
    return kind == OT_WAYPOINTS;
}

/*
 * Per device, a block:
 *   jane/phone: 24 read
 *     stored      locations 13, transitions 2, waypoints 1, cards 0, others 7 (lwt 2, ...)
 *     not stored  duplicates 0, ignored 0, rejected 0, unreadable 1
 */
void imp_summary_text(struct imp *imp, FILE *f)
{
    double secs = now_s() - imp->start;

    if (imp->progress)
        fputc('\n', stderr);
    for (size_t i = 0; i < imp->ndevs; i++) {
        const struct imp_device *d = imp->devs[i];
        uint64_t others = 0;
        for (int k = 0; k < OT_KIND_COUNT; k++)
            others += is_named(k) ? 0 : d->stored_by_kind[k];
        fprintf(f, "%s/%s: %llu read\n  stored      ", d->user, d->device,
                (unsigned long long)d->read);
        for (size_t n = 0; n < WL_ARRAY_LEN(named_kinds); n++)
            fprintf(f, "%s %llu, ", named_labels[n], (unsigned long long)stored_named(d, n));
        fprintf(f, "others %llu", (unsigned long long)others);
        const char *sep = " (";
        for (int k = 0; k < OT_KIND_COUNT; k++) {
            if (is_named(k) || !d->stored_by_kind[k])
                continue;
            fprintf(f, "%s%s %llu", sep, ot_kind_name(k), (unsigned long long)d->stored_by_kind[k]);
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
    if (imp->errors)
        fprintf(f, "%llu source(s) could not be read to the end (see above)\n",
                (unsigned long long)imp->errors);
    fprintf(f, "%llu records in %.1f s (%.0f/s)\n", (unsigned long long)imp->records, secs,
            secs > 0 ? (double)imp->records / secs : 0);
}

void imp_summary_json(struct imp *imp, FILE *f)
{
    struct json_object *o = json_object_new_object(), *devs = json_object_new_array(),
                       *reasons = json_object_new_object();
    for (size_t i = 0; i < imp->ndevs; i++) {
        const struct imp_device *d = imp->devs[i];
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
        for (int k = 0; k < OT_KIND_COUNT; k++) {
            if (d->accepted_by_kind[k])
                json_object_object_add(kinds, ot_kind_name(k),
                                       json_object_new_int64((int64_t)d->accepted_by_kind[k]));
            if (d->stored_by_kind[k])
                json_object_object_add(stored, ot_kind_name(k),
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
    json_object_object_add(o, "errors", json_object_new_int64((int64_t)imp->errors));
    json_object_object_add(o, "files", json_object_new_int64((int64_t)imp->files));
    json_object_object_add(o, "records", json_object_new_int64((int64_t)imp->records));
    json_object_object_add(o, "seconds", json_object_new_double(now_s() - imp->start));
    fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
}

/* ---------------------------------------------------------------- OwnTracks Recorder */

int imp_parse_rec_line(const char *line, size_t len, struct imp_rec_line *out)
{
    const char *tab1 = memchr(line, '\t', len);
    if (!tab1)
        return -EINVAL;
    const char *rest = tab1 + 1;
    const char *tab2 = memchr(rest, '\t', len - (size_t)(rest - line));
    if (!tab2)
        return -EINVAL;
    /* Column 1 is exactly YYYY-MM-DDTHH:MM:SSZ. */
    char stamp[21];
    struct wtime t;
    if (tab1 - line != 20)
        return -EINVAL;
    memcpy(stamp, line, 20);
    stamp[20] = '\0';
    if (stamp[19] != 'Z' || wtime_parse(stamp, &t) != 0 || t.span != 1)
        return -EINVAL;
    out->time = t.t;
    /* Column 2 is left-justified and space-padded to 18 characters. */
    size_t rl = (size_t)(tab2 - rest);
    while (rl && rest[rl - 1] == ' ')
        rl--;
    out->reltopic = rest;
    out->reltopic_len = rl;
    out->payload = tab2 + 1;
    out->payload_len = len - (size_t)(out->payload - line);
    while (out->payload_len && (out->payload[out->payload_len - 1] == '\n' ||
                                out->payload[out->payload_len - 1] == '\r'))
        out->payload_len--;
    return 0;
}

static bool rec_file_name(const char *name)
{
    /* YYYY-MM.rec, as ot-recorder names its month files */
    return strlen(name) == 11 && strspn(name, "0123456789") == 4 && name[4] == '-' &&
           strspn(name + 5, "0123456789") == 2 && strcmp(name + 7, ".rec") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of a directory (skipping dot files); caller frees with free_names. */
static char **list_dir(const char *path, size_t *n)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **v = NULL;
    size_t cap = 0;

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nv = array_reserve(v, &cap, *n + 1, sizeof(*v), 16);
        if (!nv)
            break;
        v = nv;
        if (!(v[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), compare_names);
    return v;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Reads a small whole file (a last/, cards/ or waypoints/ JSON file) and its modification
 * time. Caller frees. */
static char *read_small(const char *path, size_t *len, int64_t *mtime)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && st.st_size <= OT_PAYLOAD_MAX &&
        (buf = malloc((size_t)st.st_size + 1))) {
        *len = fread(buf, 1, (size_t)st.st_size, f);
        /* a file time no message could have (a broken clock): the import's own */
        int64_t m = (int64_t)st.st_mtime; /* time_t may be 32 bits */
        *mtime = m >= WTIME_MIN && m <= WTIME_MAX ? m : (int64_t)time(NULL);
        buf[*len] = '\0';
        while (*len && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
            buf[--*len] = '\0';
    }
    fclose(f);
    return buf;
}

static int import_rec_file(struct imp *imp, size_t dev, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    if (!f) {
        imp_error(imp, "cannot read %s: %s", path, strerror(errno));
        return 0;
    }
    imp->files++;
    /* Lines of any length: a POI image can make one far longer than the Recorder's 32 KiB. */
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        struct imp_rec_line rl;
        imp->bytes_done += (uint64_t)len;
        if (imp_parse_rec_line(line, (size_t)len, &rl) != 0) {
            imp_unreadable(imp, dev, "malformed .rec line (not TIMESTAMP<TAB>TOPIC<TAB>JSON)");
            continue;
        }
        if (rl.payload_len == 0 || rl.payload[0] != '{') {
            imp_unreadable(imp, dev, "payload is not JSON (kept by the Recorder as text)");
            continue;
        }
        rc = imp_feed(imp, dev, rl.payload, rl.payload_len, rl.time);
        imp_progress(imp);
    }
    if (ferror(f) && rc == 0)
        imp_error(imp, "error reading %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* Paths inside a Recorder store: longer ones fail in open() anyway (ENAMETOOLONG). */
#define REC_PATH_MAX PATH_MAX

/* Formats a path into buf[REC_PATH_MAX]. A path that does not fit is never cut (a cut path
 * names another file): it is reported (unless imp is NULL) as a source that cannot be read,
 * and -ENAMETOOLONG is returned. */
static int rec_path(struct imp *imp, char *buf, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rec_path(struct imp *imp, char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, REC_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < REC_PATH_MAX)
        return 0;
    /* Its end says which user, device or file: the beginning is the store's directory. */
    if (imp)
        imp_error(imp, "skipping a path longer than %d bytes: ...%s...", REC_PATH_MAX - 1,
                  buf + strlen(buf) - (strlen(buf) > 200 ? 200 : strlen(buf)));
    return -ENAMETOOLONG;
}

/* The original topic spelling, from last/U/D/U-D.json (the directory names were rewritten). */
static void recover_topic(struct imp *imp, size_t dev, const char *dir, const char *u,
                          const char *d)
{
    char path[REC_PATH_MAX];
    size_t len;
    int64_t mtime;
    if (rec_path(imp, path, "%s/last/%s/%s/%s-%s.json", dir, u, d, u, d) != 0)
        return;
    char *text = read_small(path, &len, &mtime);
    struct json_object *o = text ? json_tokener_parse(text) : NULL, *t;
    if (o && json_object_object_get_ex(o, "topic", &t) &&
        json_object_is_type(t, json_type_string)) {
        if ((size_t)json_object_get_string_len(t) <= STORE_TOPIC_MAX)
            memcpy(imp->devs[dev]->topic, json_object_get_string(t),
                   (size_t)json_object_get_string_len(t) + 1);
        else /* a cut topic would be a wrong one: keep none, as for a device without last/ */
            wl_log(WL_LOG_WARN, "import", "%s: topic longer than %d bytes, not kept", path,
                   STORE_TOPIC_MAX);
    }
    json_object_put(o);
    free(text);
}

/* cards/U/D/U-D.json and waypoints/U/D/ (one file per waypoint, and the .otrw list). */
static int import_side_files(struct imp *imp, size_t dev, const char *dir, const char *u,
                             const char *d)
{
    char path[REC_PATH_MAX], fpath[REC_PATH_MAX];
    size_t len, n;
    int rc = 0;
    int64_t mtime;
    char *text;

    /* Cards and waypoint lists carry no time of their own: they are dated by their file's,
     * so that importing again finds them as duplicates. */
    if (rec_path(imp, path, "%s/cards/%s/%s/%s-%s.json", dir, u, d, u, d) == 0 &&
        (text = read_small(path, &len, &mtime))) {
        rc = imp_feed(imp, dev, text, len, mtime);
        free(text);
    }
    if (rc || rec_path(imp, path, "%s/waypoints/%s/%s", dir, u, d) != 0)
        return rc;
    char **files = list_dir(path, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t fl = strlen(files[i]);
        if (fl < 5 ||
            (strcmp(files[i] + fl - 5, ".json") != 0 && strcmp(files[i] + fl - 5, ".otrw") != 0))
            continue;
        if (rec_path(imp, fpath, "%s/%s", path, files[i]) != 0)
            continue;
        if ((text = read_small(fpath, &len, &mtime))) {
            rc = imp_feed(imp, dev, text, len, mtime);
            free(text);
        }
    }
    free_names(files, n);
    return rc;
}

int imp_recorder(struct imp *imp, const char *dir)
{
    char path[REC_PATH_MAX], fpath[REC_PATH_MAX];
    size_t nusers, ndevs, nfiles;
    int rc = 0;

    if (rec_path(imp, path, "%s/rec", dir) != 0)
        return -ENAMETOOLONG;
    char **users = list_dir(path, &nusers);
    if (!users) {
        imp_error(imp, "%s is not an OwnTracks Recorder store (no rec/ directory)", dir);
        return -ENOENT;
    }
    /* First the sizes, for the progress line's ETA; paths too long are reported in the
     * second pass, which reads. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        struct imp *report = pass ? imp : NULL;
        for (size_t u = 0; u < nusers && rc == 0; u++) {
            char uname[OT_NAME_MAX + 1], dname[OT_NAME_MAX + 1];
            const char *why;
            if (ot_normalize_name(users[u], strlen(users[u]), uname, &why) != 0) {
                if (pass)
                    imp_error(imp, "skipping rec/%s: %s", users[u], why);
                continue;
            }
            if (rec_path(report, path, "%s/rec/%s", dir, users[u]) != 0)
                continue;
            char **devs = list_dir(path, &ndevs);
            for (size_t d = 0; d < ndevs && rc == 0; d++) {
                if (ot_normalize_name(devs[d], strlen(devs[d]), dname, &why) != 0) {
                    if (pass)
                        imp_error(imp, "skipping rec/%s/%s: %s", users[u], devs[d], why);
                    continue;
                }
                if (rec_path(report, path, "%s/rec/%s/%s", dir, users[u], devs[d]) != 0)
                    continue;
                char **files = list_dir(path, &nfiles);
                size_t slot = pass ? imp_device(imp, uname, dname) : 0;
                if (slot == SIZE_MAX)
                    rc = -ENOMEM;
                if (pass && rc == 0)
                    recover_topic(imp, slot, dir, users[u], devs[d]);
                for (size_t f = 0; f < nfiles && rc == 0; f++) {
                    struct stat st;
                    if (!rec_file_name(files[f]) ||
                        rec_path(report, fpath, "%s/%s", path, files[f]) != 0)
                        continue;
                    if (!pass) {
                        if (stat(fpath, &st) == 0)
                            imp->bytes_total += (uint64_t)st.st_size;
                        continue;
                    }
                    rc = import_rec_file(imp, slot, fpath);
                }
                if (pass && rc == 0)
                    rc = import_side_files(imp, slot, dir, users[u], devs[d]);
                free_names(files, nfiles);
            }
            free_names(devs, ndevs);
        }
    }
    free_names(users, nusers);
    int frc = imp_flush(imp);
    return rc ? rc : frc;
}
