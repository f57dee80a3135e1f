/* import_internal.h - what the importers (import*.c) share; not part of import.h. */
#ifndef WL_IMPORT_INTERNAL_H
#define WL_IMPORT_INTERNAL_H

#include <pthread.h>

#include "import.h"
#include "ingest.h"
#include "sink.h"
#include "tally.h"

/* Per device: what its records became. */
struct import_device {
    char user[OWNTRACKS_NAME_MAX + 1];
    char device[OWNTRACKS_NAME_MAX + 1];
    char topic[STORE_TOPIC_MAX + 1]; /* the original topic, when the source knows it */
    uint64_t read, stored, duplicate, ignored, rejected, unreadable;
    uint64_t accepted_by_kind[OWNTRACKS_KIND_COUNT]; /* valid: stored or duplicate */
    uint64_t stored_by_kind[OWNTRACKS_KIND_COUNT];   /* new in the store */
};

/* Distinct rejection reasons are tallied up to this many; more are counted as "other". */
#define IMPORT_REASONS 64
/* Records per job: a job is parsed by one worker and committed at once (one fsync), so it
 * holds this many records, or IMPORT_JOB_BYTES of payload, whichever comes first. */
#define IMPORT_JOB_RECORDS 8192
#define IMPORT_JOB_BYTES   (4u << 20)
/* Parsing workers at most; jobs in flight are workers + 2, which bounds memory. */
#define IMPORT_WORKERS_MAX 4

struct import_job;

struct imp {
    struct store *store;
    struct writer *writer;
    struct ingest *ingest;
    struct owntracks_keyring keys;
    /* Devices are allocated one by one: workers hold pointers to them while the array grows.
     * Their names and topic are fixed before their first record; counters belong to the
     * reading thread. */
    struct import_device **devs;
    size_t ndevs, devcap;
    struct tally reasons; /* over reason_entries, exact (an import shows each reason whole) */
    struct tally_entry reason_entries[IMPORT_REASONS];
    uint64_t errors; /* sources that could not be read to the end */
    /* a Recorder's reverse-geocoding cache (ghash/): names stored, entries not understood */
    uint64_t places, places_unreadable;
    uint64_t files;
    /* parallel parsing (import.c): the reading thread fills jobs[fill % njobs], workers parse
     * jobs in sequence order, the reading thread applies and commits them in the same order */
    struct import_job *jobs;
    size_t njobs, nworkers;
    uint64_t fill, parse, apply; /* sequence numbers: apply <= parse <= fill */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake_workers, job_done;
    bool stopping;
    int failed; /* the first error applying a job; later jobs are discarded */
    enum store_result *results;
    size_t results_cap;
    /* progress */
    bool progress;
    uint64_t bytes_total, bytes_done, records;
    double start, last_draw;
};

/* The accounting slot of a device (names already validated). SIZE_MAX when out of memory. */
size_t import_device(struct imp *imp, const char *user, const char *device);
/*
 * Queues one message for a device; it is validated (as live ingest does) by a worker and
 * committed in the order fed. `now` dates messages without a tst (the source's time for
 * them, so that a re-import dates them the same). Returns 0, or a store error (stop).
 */
int import_feed(struct imp *imp, size_t dev, const void *payload, size_t len, int64_t now);
/* Counts a record of dev that holds nothing to store (not a position). */
void import_ignored(struct imp *imp, size_t dev);
/* Counts a record of dev that could not be read as a message at all. */
void import_unreadable(struct imp *imp, size_t dev, const char *reason);
/* Waits for everything fed so far to be parsed and committed; returns the first error. */
int import_flush(struct imp *imp);
/* A source that could not be read to its end: counted and logged. */
void import_error(struct imp *imp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Redraws the progress line if it is due. */
void import_progress(struct imp *imp);
/* Appends a JSON number text for a decimal coordinate given as degrees x 10^7. */
void import_e7(struct sink *s, int64_t e7);

#endif
