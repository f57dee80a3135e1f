/*
 * metrics.h - what GET /metrics shows: collects the numbers of every module and writes them
 * in the Prometheus text format (prom.h). It sits on top: it includes the modules it asks,
 * none of them includes it (they keep their histograms in hist.h).
 *
 * Each module owns its numbers and their locking (ingest counters are atomic, the writer
 * and the HTTP server keep theirs under a lock) and hands out snapshots; this module only
 * formats them. Label cardinality stays bounded: devices are listed up to METRICS_DEVICES_MAX,
 * rejection reasons are grouped (ingest.h). metrics_render may run on several HTTP threads
 * at once; the sources must outlive the calls.
 */
#ifndef WL_METRICS_H
#define WL_METRICS_H

#include "sink.h"

#define METRICS_DEVICES_MAX 200

struct store;
struct ingest;
struct writer;
struct mqtt;
struct live;
struct webhook;
struct placename;

/* Everything that has numbers to show; NULL members are left out (mqtt when it is off). */
struct metrics_sources {
    struct store *store;
    struct ingest *ingest;
    struct writer *writer;
    struct mqtt *mqtt;
    struct live *live;
    struct webhook *webhook;
    struct placename *places;
};

/* Writes the exposition of these sources (the HTTP server appends its own). Write errors
 * stay in out->err (sink.h); a store that cannot be read leaves its store-wide gauges out and
 * its per-device list short. */
void metrics_render(const struct metrics_sources *src, struct sink *out);

#endif
