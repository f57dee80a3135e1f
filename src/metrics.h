/*
 * metrics.h - what GET /metrics shows, in the Prometheus text format (version 0.0.4), and the
 * histogram type that modules keep their sizes and timings in.
 *
 * Each module owns its numbers and their locking (ingest counters are atomic, the writer
 * and the HTTP server keep theirs under a lock) and hands out snapshots; this module only
 * formats them. Label cardinality stays bounded: devices are listed up to METRICS_DEVICES_MAX,
 * rejection reasons are grouped (ingest.h).
 */
#ifndef WL_METRICS_H
#define WL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

#define HIST_BOUNDS_MAX     16
#define METRICS_DEVICES_MAX 200

/* A cumulative histogram over fixed upper bounds (plus +Inf). Not thread-safe: the owner
 * serialises hist_observe and snapshots. */
struct hist {
    const double *bounds; /* ascending, nbounds of them */
    unsigned nbounds;
    uint64_t counts[HIST_BOUNDS_MAX + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t count;
    double sum;
};

void hist_init(struct hist *h, const double *bounds, unsigned nbounds);
void hist_observe(struct hist *h, double v);

/* The text format, piece by piece. `labels` is NULL or preformatted `key="value",...`. */
void prom_header(struct sink *s, const char *name, const char *type, const char *help);
void prom_sample(struct sink *s, const char *name, const char *labels, double value);
/* A metric with one unlabelled sample: header and value. */
void prom_metric(struct sink *s, const char *name, const char *type, const char *help,
                 double value);
void prom_hist(struct sink *s, const char *name, const char *labels, const struct hist *h);
/* Appends `key="value"` to the labels in buf (NUL-terminated, size bytes), the value
 * escaped (\\, \", \n), after a comma unless buf is empty. Returns buf. A label that does
 * not fit is left out. */
char *prom_label(char *buf, size_t size, const char *key, const char *value);

struct store;
struct ingest;
struct writer;
struct mqtt;
struct live;

/* Everything that has numbers to show; NULL members are left out (mqtt when it is off). */
struct metrics_sources {
    struct store *store;
    struct ingest *ingest;
    struct writer *writer;
    struct mqtt *mqtt;
    struct live *live;
};

/* Writes the exposition of these sources (the HTTP server appends its own). */
void metrics_render(const struct metrics_sources *src, struct sink *out);

#endif
